"""Drift verdicts, method-aware, decided in this one place.

Evidently reports a per-column statistic whose direction depends on the method: a p-value means
drift when it is low, a distance when it is high. Each comparison below is the one Evidently's own
stattest uses (some are strict, some not), so our verdict equals Evidently's for the same value.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass

# Evidently's display name -> the comparison of (statistic, threshold) that means "drifted".
_DRIFTED_WHEN: dict[str, Callable[[float, float], bool]] = {
    "K-S p_value": operator.le,
    "chi-square p_value": operator.lt,
    "Z-test p_value": operator.lt,
    "Fisher's Exact test": operator.lt,
    "Anderson-Darling": operator.lt,
    "Cramer-von Mises": operator.le,
    "Epps-Singleton": operator.lt,
    "g_test": operator.lt,
    "Mann-Whitney U-rank test": operator.lt,
    "t_test": operator.lt,
    "empirical_mmd": operator.lt,
    "Total-Variation-Distance": operator.lt,
    "Wasserstein distance (normed)": operator.ge,
    "Jensen-Shannon distance": operator.ge,
    "Kullback-Leibler divergence": operator.ge,
    "PSI": operator.ge,
    "Hellinger distance": operator.ge,
    "Energy-distance": operator.gt,
}

KNOWN_METHODS: tuple[str, ...] = tuple(_DRIFTED_WHEN)

# Evidently calls a dataset drifted when at least this share of its columns drifted.
DEFAULT_DATASET_DRIFT_SHARE = 0.5


def _drifted_when(method: str) -> Callable[[float, float], bool]:
    try:
        return _DRIFTED_WHEN[method]
    except KeyError:
        raise ValueError(f"unknown drift method {method!r}: expected one of {', '.join(KNOWN_METHODS)}") from None


def is_drifted(*, method: str, statistic: float, threshold: float) -> bool:
    """Whether a column drifted, by the direction of `method` (an Evidently display name)."""
    return bool(_drifted_when(method)(statistic, threshold))


def drifts_above(method: str) -> bool:
    """Whether `method`'s statistic means drift above its threshold (a distance) rather than below it
    (a p-value): which side of the threshold a chart of the statistic should warn on."""
    return _drifted_when(method) in (operator.ge, operator.gt)


@dataclass(frozen=True)
class FeatureDrift:
    feature: str
    method: str
    statistic: float
    threshold: float
    drifted: bool


def judge_feature(*, feature: str, method: str, statistic: float, threshold: float) -> FeatureDrift:
    return FeatureDrift(
        feature=feature,
        method=method,
        statistic=statistic,
        threshold=threshold,
        drifted=is_drifted(method=method, statistic=statistic, threshold=threshold),
    )


def drift_share(features: Sequence[FeatureDrift]) -> float:
    """Share of features that drifted (0.0 when there are none)."""
    return sum(f.drifted for f in features) / len(features) if features else 0.0


def dataset_drifted(share: float, *, threshold: float = DEFAULT_DATASET_DRIFT_SHARE) -> bool:
    return share >= threshold
