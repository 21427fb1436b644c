"""Our drift engine against Evidently itself, on the same seeded data.

Every comparison runs Evidently (per column through lakehouse.evidently_drift, and a full Report)
and our profile-based engine on identical frames, and asserts the same columns, method names and
thresholds, statistics within 1e-6 and identical verdicts.
"""

from __future__ import annotations

import re

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from governance.drift import FeatureDrift
from governance.errors import InputError
from governance.features import ColumnKind, FeatureSpec
from lakehouse.evidently_drift import evidently_drift, evidently_report_drift
from lakehouse.schemas import BATCHES, DRIFT
from pipelines.ml.drift import (
    CHI_SQUARE,
    JENSEN_SHANNON,
    KS_TEST,
    WASSERSTEIN,
    Z_TEST,
    default_method,
    profile_drift,
    profile_reference,
)
from pipelines.reads.batches import select_window
from pipelines.reads.monitoring import feature_drifts
from pipelines.reads.versions import version_recipe
from tests.conftest import Seeded, context_for

SEED = 20260601
TOLERANCE = 1e-6
CITIES = ["Zürich", "São Paulo", "東京", "Kraków", "Île-de-France", "Côte d'Ivoire"]
KINDS = FeatureSpec(
    numeric=("continuous", "stable", "count", "few", "binary", "new_value"),
    categorical=("city", "flag", "grade"),
)
W, JS, KS, CHI, Z = (m.name for m in (WASSERSTEIN, JENSEN_SHANNON, KS_TEST, CHI_SQUARE, Z_TEST))


def _with_gaps(rng: np.random.Generator, values: np.ndarray) -> np.ndarray:
    """NaN, +inf and -inf sprinkled in: Evidently drops all three before testing."""
    values = values.astype(np.float64)
    for gap, share in ((np.nan, 0.02), (np.inf, 0.005), (-np.inf, 0.005)):
        values[rng.random(values.size) < share] = gap
    return values


def _frame(rng: np.random.Generator, n: int, *, current: bool) -> pl.DataFrame:
    shift = 0.3 if current else 0.0
    cities = [*CITIES, "Reykjavík"] if current else CITIES  # a category the reference never saw
    flag = pl.Series(rng.choice(["yes", "no"], n, p=[0.6, 0.4]))
    return pl.DataFrame(
        {
            "continuous": _with_gaps(rng, rng.normal(shift, 1.0, n)),
            "stable": rng.normal(0.0, 1.0, n),
            "count": rng.poisson(6.0 + shift, n),  # integers, many distinct values: numerical
            "few": rng.integers(0, 4, n),  # 4 distinct values: counted like categories
            "binary": _with_gaps(rng, rng.integers(0, 2, n)),
            "new_value": rng.integers(0, 4 if current else 3, n),  # current adds a value
            "city": rng.choice(cities, n),
            "flag": flag.scatter(np.flatnonzero(rng.random(n) < 0.05), None),
            "grade": rng.choice(["a", "b", "c"], n, p=[0.4, 0.3, 0.3] if current else [0.5, 0.3, 0.2]),
        }
    )


@pytest.fixture(scope="module")
def data() -> dict[str, pl.DataFrame]:
    rng = np.random.default_rng(SEED)
    reference = _frame(rng, 3000, current=False)
    return {
        "large": reference,  # > 1000 rows: distances
        "small": reference.head(600),  # <= 1000 rows: p-values
        "current": _frame(rng, 20_000, current=True),
    }


def _ours(reference: pl.DataFrame, current: pl.DataFrame, kinds: FeatureSpec = KINDS) -> list[FeatureDrift]:
    profile = profile_reference(reference, kinds)
    return profile_drift(profile, current)


def _assert_same(ours: list[FeatureDrift], theirs: list[FeatureDrift]) -> None:
    assert [d.feature for d in ours] == [d.feature for d in theirs]
    for mine, evidently in zip(ours, theirs, strict=True):
        assert (mine.method, mine.threshold, mine.drifted) == (
            evidently.method,
            evidently.threshold,
            evidently.drifted,
        ), mine.feature
        assert abs(mine.statistic - evidently.statistic) <= TOLERANCE, (mine, evidently)


# --- against Evidently, per column and as a full Report ---------------------------------------

EXPECTED_METHODS = {
    "large": [W, W, W, JS, JS, JS, JS, JS, JS],
    "small": [KS, KS, KS, CHI, Z, CHI, CHI, Z, CHI],
}


@pytest.mark.parametrize("size", ["large", "small"])
def test_each_default_test_is_exercised(data: dict[str, pl.DataFrame], size: str) -> None:
    drifts = _ours(data[size], data["current"])
    assert [d.method for d in drifts] == EXPECTED_METHODS[size]
    assert [d.feature for d in drifts] == list(KINDS.columns)
    assert {d.drifted for d in drifts} == {True, False}  # the data drifts in some columns, not all


@pytest.mark.parametrize("size", ["large", "small"])
def test_equals_evidently_per_column(data: dict[str, pl.DataFrame], size: str) -> None:
    _assert_same(
        _ours(data[size], data["current"]),
        evidently_drift(data[size], data["current"], spec=KINDS),
    )


@pytest.mark.parametrize("size", ["large", "small"])
def test_equals_a_full_evidently_report(data: dict[str, pl.DataFrame], size: str) -> None:
    _assert_same(
        _ours(data[size], data["current"]),
        evidently_report_drift(data[size], data["current"], spec=KINDS),
    )


def test_small_samples_take_scipys_exact_ks(data: dict[str, pl.DataFrame]) -> None:
    current = data["current"].head(5000)  # both sides <= 10,000 rows: the exact distribution
    numbers = FeatureSpec(numeric=("continuous", "stable", "count"), categorical=())
    ours = _ours(data["small"], current, numbers)
    assert {d.method for d in ours} == {KS}
    _assert_same(ours, evidently_drift(data["small"], current, spec=numbers))


def test_reference_size_counts_values_left_after_dropping_gaps(data: dict[str, pl.DataFrame]) -> None:
    reference = (
        data["large"]
        .head(1020)
        .with_columns(
            pl.when(pl.int_range(pl.len()) < 20).then(float("nan")).otherwise(pl.col("stable")).alias("stable"),
            pl.when(pl.int_range(pl.len()) < 19).then(None).otherwise(pl.col("grade")).alias("grade"),
        )
    )
    ours = {d.feature: d for d in _ours(reference, data["current"])}
    assert ours["stable"].method == KS  # exactly 1000 numbers left
    assert ours["grade"].method == JS  # 1001 categories left
    assert ours["count"].method == W
    _assert_same(list(ours.values()), evidently_drift(reference, data["current"], spec=KINDS))


@pytest.mark.parametrize("size", [600, 3000])
def test_constant_columns(size: int) -> None:
    rng = np.random.default_rng(SEED)
    reference = pl.DataFrame({"const": np.full(size, 5.0), "same": np.full(size, 1.0), "label": ["only"] * size})
    current = pl.DataFrame({"const": rng.normal(5.0, 1.0, 4000), "same": np.full(4000, 1.0), "label": ["only"] * 4000})
    kinds = FeatureSpec(numeric=("const", "same"), categorical=("label",))
    ours = _ours(reference, current, kinds)
    if size > 1000:
        assert [d.method for d in ours] == [W, JS, JS]
        assert ours[0].statistic > 100  # a zero reference std is floored at 0.001
    else:
        assert [(d.method, d.statistic) for d in ours[1:]] == [(Z, 1.0), (Z, 1.0)]
    _assert_same(ours, evidently_drift(reference, current, spec=kinds))


def test_columns_empty_after_dropping_gaps_are_left_out(data: dict[str, pl.DataFrame]) -> None:
    current = data["current"].with_columns(
        pl.lit(float("inf")).alias("continuous"),
        pl.lit(None, dtype=pl.String).alias("flag"),
    )
    ours = _ours(data["large"], current)
    assert {d.feature for d in ours} == set(KINDS.columns) - {"continuous", "flag"}
    _assert_same(ours, evidently_drift(data["large"], current, spec=KINDS))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    reference_rows=st.sampled_from([1, 7, 300, 1000, 1001, 1500]),
    current_rows=st.integers(1, 400),
    distinct=st.sampled_from([1, 2, 3, 5, 6, 40, 0]),  # 0: continuous
)
def test_random_columns_equal_evidently(seed: int, reference_rows: int, current_rows: int, distinct: int) -> None:
    rng = np.random.default_rng(seed)

    def draw(n: int, shift: float) -> np.ndarray:
        if distinct == 0:
            return rng.normal(shift, 1.0, n)
        return rng.integers(0, distinct, n).astype(np.float64) + np.round(shift)

    reference = pl.DataFrame({"x": draw(reference_rows, 0.0), "c": rng.integers(0, max(distinct, 2), reference_rows)})
    current = pl.DataFrame(
        {"x": draw(current_rows, rng.choice([0.0, 0.4, 1.0])), "c": rng.integers(0, max(distinct, 2), current_rows)}
    ).with_columns(pl.col("c").cast(pl.String))
    reference = reference.with_columns(pl.col("c").cast(pl.String))
    kinds = FeatureSpec(numeric=("x",), categorical=("c",))
    _assert_same(_ours(reference, current, kinds), evidently_drift(reference, current, spec=kinds))


# --- the default test, as a table ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "rows", "distinct", "method"),
    [
        (ColumnKind.NUMERICAL, 1000, 6, KS),
        (ColumnKind.NUMERICAL, 1000, 5, CHI),
        (ColumnKind.NUMERICAL, 1000, 3, CHI),
        (ColumnKind.NUMERICAL, 1000, 2, Z),
        (ColumnKind.NUMERICAL, 1, 1, Z),
        (ColumnKind.NUMERICAL, 1001, 6, W),
        (ColumnKind.NUMERICAL, 1001, 5, JS),
        (ColumnKind.CATEGORICAL, 1000, 300, CHI),
        (ColumnKind.CATEGORICAL, 1000, 3, CHI),
        (ColumnKind.CATEGORICAL, 1000, 2, Z),
        (ColumnKind.CATEGORICAL, 1001, 2, JS),
        (ColumnKind.CATEGORICAL, 1001, 300, JS),
    ],
)
def test_default_method(kind: ColumnKind, rows: int, distinct: int, method: str) -> None:
    assert default_method(kind, reference_rows=rows, distinct_values=distinct).name == method


# --- the profile ------------------------------------------------------------------------------


def test_profile_id_is_a_content_hash(data: dict[str, pl.DataFrame]) -> None:
    def profile_id(frame: pl.DataFrame) -> str:
        return profile_reference(frame, KINDS).id

    reference = data["small"]
    same = profile_id(reference)
    assert re.fullmatch(r"[0-9a-f]{12}", same)
    assert profile_id(reference.clone()) == same
    assert profile_id(reference.sample(fraction=1.0, shuffle=True, seed=1)) == same  # order is not content
    assert profile_id(reference.with_columns(pl.col("stable") + 1e-9)) != same
    assert profile_id(reference.with_columns(pl.col("grade").replace("a", "ä"))) != same
    assert profile_id(reference.head(599)) != same


def test_profile_counts_what_evidently_keeps(data: dict[str, pl.DataFrame]) -> None:
    profile = profile_reference(data["large"], KINDS)
    columns = {c.name: c for c in profile.columns}
    assert profile.rows == 3000
    assert columns["continuous"].rows == int(data["large"]["continuous"].is_finite().sum())
    assert columns["flag"].rows == 3000 - data["large"]["flag"].null_count()
    assert columns["few"].distinct == 4
    assert columns["city"].levels["level"].to_list() == sorted(CITIES)
    assert not columns["continuous"].sorted_values.flags.writeable


def test_missing_columns_are_named(data: dict[str, pl.DataFrame]) -> None:
    with pytest.raises(InputError, match="'nope'"):
        profile_reference(data["small"], FeatureSpec(numeric=("nope",), categorical=()))
    profile = profile_reference(data["small"], KINDS)
    with pytest.raises(InputError, match="'grade'"):
        profile_drift(profile, data["current"].drop("grade"))
    with pytest.raises(InputError, match="'city' is numerical but holds String"):
        profile_reference(data["small"], FeatureSpec(numeric=("city",), categorical=()))


# --- in the monitor job -------------------------------------------------------------------------


def test_monitor_stores_evidentlys_drift_with_the_profile_id(seeded: Seeded) -> None:
    ctx = context_for(seeded.home)
    stored = ctx.store.read(DRIFT)
    batches = ctx.store.read(BATCHES)
    assert set(stored["batch_id"]) == set(seeded.batch_ids)
    for batch in batches.iter_rows(named=True):
        recipe = version_recipe(ctx, batch["model"], batch["model_version"])
        reference = ctx.store.read(recipe.table, version=recipe.table_version, columns=list(recipe.spec.columns))
        current = (
            select_window(
                ctx.store.scan(batch["input_table"], version=batch["input_version"]),
                timestamp=seeded.dataset.timestamp,
                start=batch["window_start"],
                end=batch["window_end"],
            )
            .select(recipe.spec.columns)
            .collect()
        )
        kinds = recipe.spec
        order = {feature: i for i, feature in enumerate(kinds.columns)}
        rows = stored.filter(pl.col("batch_id") == batch["batch_id"]).sort(pl.col("feature").replace_strict(order))
        profile = profile_reference(reference, kinds)
        assert set(rows["reference_id"]) == {f"{recipe.table}@{recipe.table_version}#{profile.id}"}
        assert re.fullmatch(r"raw/loans@\d+#[0-9a-f]{12}", rows["reference_id"][0])
        assert set(rows["reference_rows"]) == {reference.height}
        ours = list(feature_drifts(rows))
        _assert_same(ours, evidently_drift(reference, current, spec=kinds))
