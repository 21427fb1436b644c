"""Our drift engine: Evidently 0.7's default per-column drift, from a reference profile built once.

Evidently's DataDriftPreset re-reads the reference for every batch and renders plots nobody looks
at. Here the reference side is summarised once per model version (`profile_reference`) and each
batch costs one pass per current column (`profile_drift`). The statistics are Evidently's own:

* NaN, null and +-inf are dropped first; an empty column gets no verdict.
* The test is chosen as Evidently's `_get_default_stattest` does, from the reference's remaining
  rows and the distinct values of reference and current together (`default_method`).
* Thresholds are Evidently's defaults; the verdict comes from governance.drift, never from here.

Statistics equal Evidently's to rounding (tests compare both on the same data).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl
from scipy.spatial import distance
from scipy.stats import chisquare, ks_2samp, kstwo, norm

from governance.drift import FeatureDrift, judge_feature
from governance.errors import InputError
from governance.features import ColumnKind, FeatureSpec

# Evidently's cut between p-value tests (small reference) and distances (large reference).
SMALL_REFERENCE_ROWS = 1000
# Up to this many distinct values (reference and current together) a number is tested like a category.
FEW_VALUES = 5
# Up to this many distinct values a small reference gets the two-proportion Z-test.
BINARY_VALUES = 2
# scipy's ks_2samp is exact up to this many rows per side, asymptotic beyond.
_KS_EXACT_MAX_ROWS = 10_000
# Evidently divides the Wasserstein distance by the reference std, but never by less than this.
_MIN_NORM = 0.001
_ID_HEX = 12


@dataclass(frozen=True, eq=False)
class ColumnProfile:
    """One reference column, reduced to what the default tests need.

    `sorted_values` (numbers only) holds every finite value ascending; `levels` holds each distinct
    value with its count, for categories always and for numbers only when they have at most
    FEW_VALUES distinct values (more, and no count-based test can be chosen).
    """

    name: str
    kind: ColumnKind
    rows: int
    distinct: int
    sorted_values: np.ndarray
    std: float
    levels: pl.DataFrame  # columns "level" and "reference" (its count)


@dataclass(frozen=True, eq=False)
class ReferenceProfile:
    """A reference frame summarised for drift; `id` is a hash of its content (equal data, equal id)."""

    id: str
    rows: int
    columns: tuple[ColumnProfile, ...]


def _finite_numbers(series: pl.Series) -> np.ndarray:
    try:
        values = series.cast(pl.Float64).to_numpy()  # nulls come out as NaN
    except pl.exceptions.InvalidOperationError:
        raise InputError(f"drift column {series.name!r} is numerical but holds {series.dtype} values") from None
    return values[np.isfinite(values)]


def _present_categories(series: pl.Series) -> pl.Series:
    return series.cast(pl.String).drop_nulls().rename("level")


def _runs(sorted_values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct values of an ascending array and how often each occurs."""
    if sorted_values.size == 0:
        return sorted_values, np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(np.concatenate(([True], sorted_values[1:] != sorted_values[:-1])))
    counts = np.diff(np.append(starts, sorted_values.size))
    # + 0.0 turns -0.0 into 0.0: equal numbers, but a hash join would keep them apart
    return sorted_values[starts] + 0.0, counts


def _level_frame(levels: pl.Series | np.ndarray, counts: pl.Series | np.ndarray, *, name: str) -> pl.DataFrame:
    return pl.DataFrame({"level": levels, name: pl.Series(counts).cast(pl.Int64)})


def _profile_numbers(name: str, series: pl.Series) -> ColumnProfile:
    values = _finite_numbers(series)
    ordered = np.sort(values)
    ordered.setflags(write=False)
    levels, counts = _runs(ordered)
    few = levels.size <= FEW_VALUES
    return ColumnProfile(
        name=name,
        kind=ColumnKind.NUMERICAL,
        rows=int(values.size),
        distinct=int(levels.size),
        sorted_values=ordered,
        # population std in the frame's own order, as Evidently's np.std(reference) sums it
        std=float(np.std(values)) if values.size else float("nan"),
        levels=_level_frame(levels if few else levels[:0], counts if few else counts[:0], name="reference"),
    )


def _profile_categories(name: str, series: pl.Series) -> ColumnProfile:
    present = _present_categories(series)
    counts = present.value_counts(name="reference").sort("level")
    return ColumnProfile(
        name=name,
        kind=ColumnKind.CATEGORICAL,
        rows=present.len(),
        distinct=counts.height,
        sorted_values=np.zeros(0, dtype=np.float64),
        std=float("nan"),
        levels=counts.with_columns(pl.col("reference").cast(pl.Int64)),
    )


def _content_id(columns: Sequence[ColumnProfile], rows: int) -> str:
    digest = hashlib.sha256(f"rows={rows}".encode())
    for column in columns:
        digest.update(f"\0{column.name}\0{column.kind}\0{column.rows}\0".encode())
        if column.kind is ColumnKind.NUMERICAL:
            digest.update(column.sorted_values.tobytes())
        else:
            digest.update(json.dumps(column.levels["level"].to_list(), ensure_ascii=False).encode("utf-8"))
            digest.update(column.levels["reference"].to_numpy().tobytes())
    return digest.hexdigest()[:_ID_HEX]


def _require_columns(frame: pl.DataFrame, names: Sequence[str], *, role: str) -> None:
    missing = [name for name in names if name not in frame.columns]
    if missing:
        raise InputError(f"the {role} frame lacks drift column {missing[0]!r} (columns: {', '.join(frame.columns)})")


def profile_reference(reference: pl.DataFrame, spec: FeatureSpec) -> ReferenceProfile:
    """Summarise `reference` once (per model version) for every later `profile_drift`.

    Numbers are cast to float, categories to text, as the Evidently adapter does; columns keep the
    order numerical then categorical, which is the order of the results.
    """
    _require_columns(reference, spec.columns, role="reference")
    columns = (
        *(_profile_numbers(name, reference[name]) for name in spec.numeric),
        *(_profile_categories(name, reference[name]) for name in spec.categorical),
    )
    return ReferenceProfile(id=_content_id(columns, reference.height), rows=reference.height, columns=columns)


# --- the statistics -------------------------------------------------------------------------------


def _ks_distance(reference: np.ndarray, current: np.ndarray) -> float:
    """Largest gap between the two empirical CDFs; both arrays ascending."""
    ref_levels_end = np.flatnonzero(np.append(reference[1:] != reference[:-1], True))
    cur_levels_end = np.flatnonzero(np.append(current[1:] != current[:-1], True))
    n1, n2 = reference.size, current.size
    # each CDF jumps only at its own values, so the gap peaks at one of them
    at_reference = (ref_levels_end + 1) / n1 - np.searchsorted(current, reference[ref_levels_end], "right") / n2
    at_current = np.searchsorted(reference, current[cur_levels_end], "right") / n1 - (cur_levels_end + 1) / n2
    return float(max(np.abs(at_reference).max(), np.abs(at_current).max()))


def _ks_p_value(reference: np.ndarray, current: np.ndarray) -> float:
    """scipy's two-sided ks_2samp p-value (method 'auto'), as Evidently calls it."""
    if max(reference.size, current.size) <= _KS_EXACT_MAX_ROWS:
        return float(ks_2samp(reference, current).pvalue)  # exact distribution: small, let scipy do it
    larger, smaller = sorted((float(reference.size), float(current.size)), reverse=True)
    effective = np.round(larger * smaller / (larger + smaller))
    return float(np.clip(kstwo.sf(_ks_distance(reference, current), effective), 0.0, 1.0))


def _wasserstein(reference: np.ndarray, current: np.ndarray) -> float:
    """First Wasserstein distance of two ascending samples: the integral of |Q_ref(t) - Q_cur(t)|.

    Equal to the CDF integral scipy computes, without merging the samples. Scale t by
    n_small * n_large: step j of the larger sample is [j * n_small, (j + 1) * n_small), step i of
    the smaller [i * n_large, (i + 1) * n_large). A large step starting in small step i is matched
    with it (one np.repeat); a small step is at least as wide, so at most one small boundary falls
    inside any large step, and those few straddling steps get a correction for their far part.
    """
    small, large = (reference, current) if reference.size <= current.size else (current, reference)
    n_small, n_large = small.size, large.size
    bounds = np.arange(n_small + 1, dtype=np.int64) * n_large
    starts_inside = np.diff(-(-bounds // n_small))  # large steps whose start lies in each small step
    gaps = np.repeat(small, starts_inside)
    np.subtract(gaps, large, out=gaps)
    total = float(np.abs(gaps, out=gaps).sum()) * n_small
    step, offset = np.divmod(bounds[1:-1], n_small)  # the large step each inner small boundary falls in
    straddles = offset != 0
    beyond = np.flatnonzero(straddles) + 1  # the small step past that boundary
    step, offset = step[straddles], offset[straddles]
    straddling = large[step]
    correction = np.abs(small[beyond] - straddling) - np.abs(small[beyond - 1] - straddling)
    total += float(correction @ (n_small - offset).astype(np.float64))
    return total / (n_small * n_large)


def _chi_square_p_value(reference: np.ndarray, current: np.ndarray) -> float:
    expected = reference * (current.sum() / reference.sum())
    with np.errstate(divide="ignore", invalid="ignore"):  # a level unseen in the reference: p = 0
        return float(chisquare(current, expected).pvalue)


def _z_test_p_value(reference: np.ndarray, current: np.ndarray) -> float:
    """Two-proportion Z-test of "not the smallest level"; counts are ordered by level."""
    if reference.size == 1:
        return 1.0  # one value on both sides, the same one: Evidently's short cut
    n1, n2 = int(reference.sum()), int(current.sum())
    p1 = float(n1 - reference[0]) / n1
    p2 = float(n2 - current[0]) / n2
    pooled = float(p1 * n1 + p2 * n2) / (n1 + n2)
    z = (p1 - p2) / np.sqrt(pooled * (1 - pooled) * (1.0 / n1 + 1.0 / n2))
    return float(2 * (1 - norm.cdf(np.abs(z))))


def _jensen_shannon(reference: np.ndarray, current: np.ndarray) -> float:
    return float(distance.jensenshannon(reference / reference.sum(), current / current.sum()))


# --- the methods ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DriftMethod:
    """A drift test: Evidently's display name (what governance.drift judges by), its default threshold,
    and its statistic, computed either on the two samples (`on_values`) or on counts per level."""

    name: str
    threshold: float
    on_values: Callable[[ColumnProfile, np.ndarray], float] | None = None
    on_counts: Callable[[np.ndarray, np.ndarray], float] | None = None

    def statistic(self, column: ColumnProfile, current: np.ndarray) -> float:
        if self.on_values is None:
            raise AssertionError(f"{self.name} is computed on counts, not on values")
        return self.on_values(column, current)

    def count_statistic(self, reference: np.ndarray, current: np.ndarray) -> float:
        if self.on_counts is None:
            raise AssertionError(f"{self.name} is computed on values, not on counts")
        return self.on_counts(reference.astype(np.float64), current.astype(np.float64))


METHODS: dict[str, DriftMethod] = {}


def register(method: DriftMethod) -> DriftMethod:
    """Make `method` known by its name; a new test is one `register` call (and a rule in `default_method`)."""
    METHODS[method.name] = method
    return method


KS_TEST = register(DriftMethod("K-S p_value", 0.05, on_values=lambda c, cur: _ks_p_value(c.sorted_values, cur)))
WASSERSTEIN = register(
    DriftMethod(
        "Wasserstein distance (normed)",
        0.1,
        on_values=lambda c, cur: _wasserstein(c.sorted_values, cur) / max(c.std, _MIN_NORM),
    )
)
CHI_SQUARE = register(DriftMethod("chi-square p_value", 0.05, on_counts=_chi_square_p_value))
Z_TEST = register(DriftMethod("Z-test p_value", 0.05, on_counts=_z_test_p_value))
JENSEN_SHANNON = register(DriftMethod("Jensen-Shannon distance", 0.1, on_counts=_jensen_shannon))


def default_method(kind: ColumnKind, *, reference_rows: int, distinct_values: int) -> DriftMethod:
    """Evidently 0.7's default test for a column.

    `reference_rows` counts the reference's values left after dropping NaN and inf;
    `distinct_values` counts distinct values of reference and current together.
    """
    if reference_rows <= SMALL_REFERENCE_ROWS:
        if kind is ColumnKind.NUMERICAL and distinct_values > FEW_VALUES:
            return KS_TEST
        return CHI_SQUARE if distinct_values > BINARY_VALUES else Z_TEST
    if kind is ColumnKind.NUMERICAL and distinct_values > FEW_VALUES:
        return WASSERSTEIN
    # Evidently bins numbers by quantile only above 20 distinct reference values; a number gets here
    # with at most FEW_VALUES, so categories and few-valued numbers are both counted per value.
    return JENSEN_SHANNON


def _joint_counts(column: ColumnProfile, current: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Counts per level of reference and current, over the levels of both, ordered by level."""
    joined = (
        column.levels.join(current, on="level", how="full", coalesce=True)
        .with_columns(pl.col("reference", "current").fill_null(0))
        .sort("level")  # byte order of UTF-8 is code point order: Python's sorted() of the keys
    )
    return joined["reference"].to_numpy(), joined["current"].to_numpy()


def _number_drift(column: ColumnProfile, series: pl.Series) -> tuple[DriftMethod, float] | None:
    current = _finite_numbers(series)
    current.sort()  # in place: the array is already a fresh copy, a second would only add to the peak
    if current.size == 0:
        return None
    levels: tuple[np.ndarray, np.ndarray] | None = None
    if column.distinct > FEW_VALUES:
        distinct = column.distinct  # already too many for a count-based test: no need to count current's
    else:
        levels = _runs(current)
        known = np.isin(column.levels["level"].to_numpy(), levels[0])
        distinct = levels[0].size + int((~known).sum())
    method = default_method(ColumnKind.NUMERICAL, reference_rows=column.rows, distinct_values=distinct)
    if method.on_values is not None:
        return method, method.statistic(column, current)
    assert levels is not None  # count-based tests need few values, so the levels were counted
    return method, method.count_statistic(*_joint_counts(column, _level_frame(*levels, name="current")))


def _category_drift(column: ColumnProfile, series: pl.Series) -> tuple[DriftMethod, float] | None:
    present = _present_categories(series)
    if present.is_empty():
        return None
    reference, current = _joint_counts(column, present.value_counts(name="current"))
    method = default_method(ColumnKind.CATEGORICAL, reference_rows=column.rows, distinct_values=reference.size)
    return method, method.count_statistic(reference, current)


def profile_drift(profile: ReferenceProfile, current: pl.DataFrame) -> list[FeatureDrift]:
    """Per-feature drift of `current` against the profiled reference, as Evidently's DataDriftPreset.

    One result per profiled column, in profile order; a column with no finite (or non-null) value
    on either side is left out, as Evidently refuses it.
    """
    _require_columns(current, [column.name for column in profile.columns], role="current")
    drifts: list[FeatureDrift] = []
    for column in profile.columns:
        if column.rows == 0:
            continue
        series = current[column.name]
        if column.kind is ColumnKind.NUMERICAL:
            result = _number_drift(column, series)
        else:
            result = _category_drift(column, series)
        if result is None:
            continue
        method, statistic = result
        drifts.append(
            judge_feature(feature=column.name, method=method.name, statistic=statistic, threshold=method.threshold)
        )
    return drifts
