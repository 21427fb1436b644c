"""Drift verdicts: each Evidently method's direction and boundary, the drift share and the dataset verdict.

The expected comparisons below were read from Evidently 0.7's own stattests
(evidently/legacy/calculations/stattests/*.py), not from governance.drift, so a wrong entry in
governance.drift's table fails here.
"""

from __future__ import annotations

import math

import pytest

from governance.drift import (
    DEFAULT_DATASET_DRIFT_SHARE,
    KNOWN_METHODS,
    FeatureDrift,
    dataset_drifted,
    drift_share,
    drifts_above,
    is_drifted,
    judge_feature,
)

# p-values: drift when LOW. Evidently uses `p_value <= threshold` for these two ...
P_VALUE_INCLUSIVE = ("K-S p_value", "Cramer-von Mises")
# ... and `p_value < threshold` for all the others (empirical_mmd and Total-Variation-Distance
# report a permutation/chi-square p-value, not a distance).
P_VALUE_STRICT = (
    "chi-square p_value",
    "Z-test p_value",
    "Fisher's Exact test",
    "Anderson-Darling",
    "Epps-Singleton",
    "g_test",
    "Mann-Whitney U-rank test",
    "t_test",
    "empirical_mmd",
    "Total-Variation-Distance",
)
# distances: drift when HIGH. `distance >= threshold` except Energy-distance (`>`).
DISTANCE_INCLUSIVE = (
    "Wasserstein distance (normed)",
    "Jensen-Shannon distance",
    "Kullback-Leibler divergence",
    "PSI",
    "Hellinger distance",
)
DISTANCE_STRICT = ("Energy-distance",)

# method -> (drifted just below, at, just above the threshold)
EXPECTED = {
    **dict.fromkeys(P_VALUE_INCLUSIVE, (True, True, False)),
    **dict.fromkeys(P_VALUE_STRICT, (True, False, False)),
    **dict.fromkeys(DISTANCE_INCLUSIVE, (False, True, True)),
    **dict.fromkeys(DISTANCE_STRICT, (False, False, True)),
}


def test_every_known_method_has_an_expectation():
    assert set(EXPECTED) == set(KNOWN_METHODS)
    assert len(KNOWN_METHODS) == len(set(KNOWN_METHODS)) == 18


@pytest.mark.parametrize("threshold", [0.05, 0.1, 0.2])
@pytest.mark.parametrize("method", KNOWN_METHODS)
def test_verdict_below_at_and_above_the_threshold(method, threshold):
    below, above = math.nextafter(threshold, 0.0), math.nextafter(threshold, 1.0)
    verdicts = tuple(is_drifted(method=method, statistic=s, threshold=threshold) for s in (below, threshold, above))
    assert verdicts == EXPECTED[method]


@pytest.mark.parametrize("method", KNOWN_METHODS)
def test_far_from_the_threshold_the_direction_is_obvious(method):
    is_p_value = method in P_VALUE_INCLUSIVE + P_VALUE_STRICT
    assert is_drifted(method=method, statistic=0.0001, threshold=0.05) is is_p_value
    assert is_drifted(method=method, statistic=0.9, threshold=0.05) is not is_p_value


@pytest.mark.parametrize("method", KNOWN_METHODS)
def test_a_distance_drifts_above_its_threshold_and_a_p_value_below(method):
    assert drifts_above(method) is (method in DISTANCE_INCLUSIVE + DISTANCE_STRICT)


def test_the_side_of_an_unknown_method_is_an_error():
    with pytest.raises(ValueError, match="unknown drift method 'psi'"):
        drifts_above("psi")


@pytest.mark.parametrize("method", ["ks", "K-S", "k-s p_value", "psi", "", "text content drift"])
def test_unknown_method_is_an_error_naming_it(method):
    with pytest.raises(ValueError, match="unknown drift method") as caught:
        is_drifted(method=method, statistic=0.5, threshold=0.05)
    assert repr(method) in str(caught.value)
    assert "K-S p_value" in str(caught.value)


def test_judge_feature_carries_the_verdict():
    drift = judge_feature(feature="income", method="PSI", statistic=0.25, threshold=0.1)
    assert drift == FeatureDrift(feature="income", method="PSI", statistic=0.25, threshold=0.1, drifted=True)
    assert judge_feature(feature="age", method="K-S p_value", statistic=0.5, threshold=0.05).drifted is False


def _features(*drifted):
    return [FeatureDrift(f"f{i}", "PSI", 0.0, 0.1, d) for i, d in enumerate(drifted)]


@pytest.mark.parametrize(
    ("drifted", "share"),
    [
        ((), 0.0),
        ((False,), 0.0),
        ((True,), 1.0),
        ((True, False), 0.5),
        ((True, False, False), 1 / 3),
        ((True, True, True, False), 0.75),
    ],
)
def test_drift_share(drifted, share):
    assert drift_share(_features(*drifted)) == pytest.approx(share)


@pytest.mark.parametrize(
    ("share", "threshold", "expected"),
    [
        (0.0, DEFAULT_DATASET_DRIFT_SHARE, False),
        (math.nextafter(0.5, 0.0), DEFAULT_DATASET_DRIFT_SHARE, False),
        (0.5, DEFAULT_DATASET_DRIFT_SHARE, True),
        (1.0, DEFAULT_DATASET_DRIFT_SHARE, True),
        (0.3, 0.3, True),
        (0.29, 0.3, False),
    ],
)
def test_dataset_drifted_at_or_above_the_share(share, threshold, expected):
    assert dataset_drifted(share, threshold=threshold) is expected


def test_default_dataset_share_is_half():
    assert DEFAULT_DATASET_DRIFT_SHARE == 0.5
    assert dataset_drifted(drift_share(_features(True, False))) is True
    assert dataset_drifted(drift_share(_features(True, False, False))) is False
