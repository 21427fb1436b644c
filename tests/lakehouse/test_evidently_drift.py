"""The Evidently adapter on seeded synthetic data: method selection, statistics and verdicts.

The verdict comes from governance.drift, not from Evidently's output; these tests check it agrees with
Evidently's own legacy stat tests run on the same columns, and (for K-S) with scipy directly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pytest
from evidently.legacy.calculations.stattests.registry import get_stattest
from evidently.legacy.core import ColumnType
from scipy.stats import ks_2samp

from governance.drift import FeatureDrift, is_drifted
from governance.features import FeatureSpec
from lakehouse import evidently_drift as adapter
from lakehouse.evidently_drift import evidently_drift, save_evidently_report

SEED = 1  # chosen so every verdict below has a wide margin from its threshold
FEATURES = ["shifted", "stable", "count", "grade"]
WASSERSTEIN = "Wasserstein distance (normed)"
JENSEN_SHANNON = "Jensen-Shannon distance"
KS = "K-S p_value"
CHI_SQUARE = "chi-square p_value"


def _frame(rng: np.random.Generator, n: int, *, shift: float, grade_p: list[float]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "shifted": rng.normal(shift, 1.0, n),  # +0.5 sd in the current batch
            "stable": rng.normal(0.0, 1.0, n),
            "count": rng.poisson(4, n),  # integer, many distinct values: numerical
            "grade": rng.choice(["a", "b", "c"], n, p=grade_p),
        }
    )


@pytest.fixture(scope="module")
def data() -> dict[str, pl.DataFrame]:
    rng = np.random.default_rng(SEED)
    reference = _frame(rng, 2000, shift=0.0, grade_p=[0.5, 0.3, 0.2])
    current = _frame(rng, 800, shift=0.5, grade_p=[0.3, 0.3, 0.4])
    return {"large_ref": reference, "small_ref": reference.head(300), "current": current}


@pytest.fixture(scope="module")
def kinds() -> FeatureSpec:
    return FeatureSpec(numeric=("shifted", "stable", "count"), categorical=("grade",))


@pytest.fixture(scope="module")
def large(data: dict[str, pl.DataFrame], kinds: FeatureSpec) -> dict[str, FeatureDrift]:
    return {d.feature: d for d in evidently_drift(data["large_ref"], data["current"], spec=kinds)}


@pytest.fixture(scope="module")
def small(data: dict[str, pl.DataFrame], kinds: FeatureSpec) -> dict[str, FeatureDrift]:
    return {d.feature: d for d in evidently_drift(data["small_ref"], data["current"], spec=kinds)}


def _legacy(
    reference: pl.DataFrame, current: pl.DataFrame, feature: str, kind: ColumnType, threshold: float
) -> tuple[str, Any]:
    """Evidently's legacy default stat test for the column, run directly."""
    ref, cur = reference[feature].to_pandas(), current[feature].to_pandas()
    if kind == ColumnType.Numerical:
        ref, cur = ref.astype(float), cur.astype(float)
    else:
        ref, cur = ref.astype(str), cur.astype(str)
    assert isinstance(ref, pd.Series)
    test = get_stattest(ref, cur, kind, None)
    return test.display_name, test(ref, cur, kind, threshold)


# --- large reference: distances ------------------------------------------------------------------


def test_large_reference_returns_one_result_per_feature_in_order(
    data: dict[str, pl.DataFrame], kinds: FeatureSpec
) -> None:
    drifts = evidently_drift(data["large_ref"], data["current"], spec=kinds)
    assert [d.feature for d in drifts] == list(kinds.columns)


def test_large_reference_uses_wasserstein_and_jensen_shannon(large: dict[str, FeatureDrift]) -> None:
    assert {f: d.method for f, d in large.items()} == {
        "shifted": WASSERSTEIN,
        "stable": WASSERSTEIN,
        "count": WASSERSTEIN,
        "grade": JENSEN_SHANNON,
    }
    assert {d.threshold for d in large.values()} == {0.1}


def test_large_reference_verdicts(large: dict[str, FeatureDrift]) -> None:
    assert large["shifted"].drifted
    assert large["shifted"].statistic > 0.3  # about 0.5 sd normed
    assert large["grade"].drifted
    assert not large["stable"].drifted
    assert large["stable"].statistic < 0.06
    assert not large["count"].drifted


# --- small reference: p-values -------------------------------------------------------------------


def test_small_reference_uses_ks_and_chi_square(small: dict[str, FeatureDrift]) -> None:
    assert {f: d.method for f, d in small.items()} == {
        "shifted": KS,
        "stable": KS,
        "count": KS,
        "grade": CHI_SQUARE,
    }
    assert {d.threshold for d in small.values()} == {0.05}


def test_small_reference_verdicts(small: dict[str, FeatureDrift]) -> None:
    assert small["shifted"].drifted
    assert small["shifted"].statistic < 1e-6
    assert small["grade"].drifted
    assert not small["stable"].drifted
    assert small["stable"].statistic > 0.3
    assert not small["count"].drifted


@pytest.mark.parametrize("feature", ["shifted", "stable", "count"])
def test_small_reference_ks_statistic_is_scipy_ks_2samp_p_value(
    data: dict[str, pl.DataFrame], small: dict[str, FeatureDrift], feature: str
) -> None:
    expected = ks_2samp(
        data["small_ref"][feature].cast(pl.Float64).to_numpy(), data["current"][feature].cast(pl.Float64).to_numpy()
    ).pvalue
    assert small[feature].statistic == pytest.approx(expected, abs=1e-9)


# --- verdicts agree with governance.drift and with Evidently's legacy stat tests -----------------


@pytest.mark.parametrize("size", ["large", "small"])
def test_verdict_is_governance_is_drifted(size: str, request: pytest.FixtureRequest) -> None:
    drifts: dict[str, FeatureDrift] = request.getfixturevalue(size)
    for d in drifts.values():
        assert d.drifted == is_drifted(method=d.method, statistic=d.statistic, threshold=d.threshold), d


@pytest.mark.parametrize("size", ["large", "small"])
@pytest.mark.parametrize("feature", FEATURES)
def test_method_statistic_and_verdict_match_evidently_legacy_stattest(
    data: dict[str, pl.DataFrame], kinds: FeatureSpec, size: str, feature: str, request: pytest.FixtureRequest
) -> None:
    ours: FeatureDrift = request.getfixturevalue(size)[feature]
    reference = data["large_ref" if size == "large" else "small_ref"]
    kind = ColumnType.Numerical if feature in kinds.numeric else ColumnType.Categorical

    method, legacy = _legacy(reference, data["current"], feature, kind, ours.threshold)

    assert ours.method == method
    assert ours.statistic == pytest.approx(float(legacy.drift_score), rel=1e-9, abs=1e-12)
    assert ours.drifted == bool(legacy.drifted)


@pytest.mark.parametrize("size", ["large", "small"])
def test_fast_path_equals_a_full_evidently_report(
    data: dict[str, pl.DataFrame], kinds: FeatureSpec, size: str, request: pytest.FixtureRequest
) -> None:
    """evidently_drift calls Evidently's per-column step directly; a whole Report must say the same."""
    report_drift = getattr(adapter, "evidently_report_drift", None)
    if report_drift is None:
        pytest.skip("no full-Report variant in lakehouse.evidently_drift")
    ours: dict[str, FeatureDrift] = request.getfixturevalue(size)
    reference = data["large_ref" if size == "large" else "small_ref"]

    theirs = {d.feature: d for d in report_drift(reference, data["current"], spec=kinds)}

    assert theirs.keys() == ours.keys()
    for feature, d in theirs.items():
        assert (ours[feature].method, ours[feature].threshold, ours[feature].drifted) == (
            d.method,
            d.threshold,
            d.drifted,
        ), feature
        assert ours[feature].statistic == pytest.approx(d.statistic, rel=1e-9, abs=1e-12), feature


# --- the HTML report ------------------------------------------------------------------------------


def test_save_evidently_report_writes_html(data: dict[str, pl.DataFrame], kinds: FeatureSpec, tmp_path: Path) -> None:
    path = tmp_path / "reports" / "batch-1" / "drift.html"  # parent folders do not exist yet
    returned = save_evidently_report(data["small_ref"], data["current"], spec=kinds, path=path)
    assert returned == path
    assert path.is_file()
    html = path.read_text(encoding="utf-8")
    assert "<html" in html.lower()
    assert len(html) > 1000
