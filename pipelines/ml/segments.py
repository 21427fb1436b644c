"""Segment statistics, pure and vectorised: a row's segment label, a per-row loss for each task, each
segment's loss with its standard error, and the search for the segments of two or three columns whose
loss (or share of rows, for drift) differs from the rest of the batch.

The search encodes each column's labels as small integers, folds a combination of columns into one
integer key and runs one polars group-by per combination (all of them collected together): a million
rows and eight columns (28 pairs, 56 triples) take a second, not a Python loop over rows. Each segment
is tested against the rest of the batch (Welch's z for the loss, a two-proportion z for the share);
p-values are Holm-adjusted over every segment tested. Which of them are reported is governance's call
(`governance.segments.segment_reported`).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl
from scipy.stats import norm

from governance.tasks import Task

MISSING = "(missing)"
ALL_VALUES = "(all values)"
LOSS = "loss"
AND = " & "


def quantile_edges(values: pl.Series, buckets: int) -> list[float]:
    """The inner edges of `buckets` quantile buckets of `values` (fewer when quantiles coincide)."""
    numbers = values.cast(pl.Float64).drop_nulls().drop_nans()
    if numbers.is_empty():
        return []
    lowest = numbers.min()
    edges = {numbers.quantile(i / buckets, interpolation="linear") for i in range(1, buckets)}
    # an edge at the minimum would open an empty bucket below it
    return sorted(float(e) for e in edges if e is not None and e > lowest)  # type: ignore[operator]


# a numeric column with at most this many distinct values is sliced by value, not by buckets
FEW_NUMBERS = 10


def slicing_edges(
    training: pl.DataFrame,
    *,
    chosen: Sequence[tuple[str, int | None]],
    candidates: Sequence[str],
    numeric_buckets: int,
    max_levels: int,
    max_columns: int,
) -> tuple[dict[str, list[float] | None], list[str]]:
    """How each column is sliced (quantile edges of `training`, or None: by value) and which columns the
    search combines: the `chosen` (column, buckets) first, then `candidates` in order, up to
    `max_columns`: numbers with more than FEW_NUMBERS values in `numeric_buckets` quantile buckets,
    other columns by value when they have at most `max_levels` values."""
    edges: dict[str, list[float] | None] = {}
    for column, buckets in chosen:
        if column in training.columns:
            edges[column] = None if buckets is None else quantile_edges(training[column], buckets)
    search = list(edges)[:max_columns]
    for column in candidates:
        if len(search) >= max_columns:
            break
        if column in edges or column not in training.columns:
            continue
        series = training[column]
        distinct = series.n_unique()
        if series.dtype.is_numeric() and distinct > FEW_NUMBERS:
            edges[column] = quantile_edges(series, numeric_buckets)
        elif distinct <= max_levels:
            edges[column] = None
        else:
            continue
        search.append(column)
    return edges, search


def segment_label(column: str, *, edges: Sequence[float] | None = None) -> pl.Expr:
    """A row's segment of `column` as text: its value, or its bucket "[a, b)" when `edges` are given."""
    if edges is None:
        labels = pl.col(column).cast(pl.String)
    elif not edges:  # a constant column: one bucket
        labels = pl.when(pl.col(column).is_not_null()).then(pl.lit(ALL_VALUES))
    else:
        labels = _buckets(column, edges).cast(pl.String)
    return labels.fill_null(MISSING).alias(column)


def _buckets(column: str, edges: Sequence[float]) -> pl.Expr:
    return pl.col(column).cast(pl.Float64).cut(list(edges), left_closed=True)


def row_loss(task: Task, *, label: str) -> pl.Expr:
    """A prediction row's loss against the truth in `label`: 1 when misclassified (binary: at 0.5;
    multiclass: the most probable class), the absolute error for regression."""
    match task:
        case Task.BINARY:
            wrong = pl.col("predicted_label") != pl.col(label)
        case Task.MULTICLASS:
            wrong = pl.col("predicted_class") != pl.col(label)
        case Task.REGRESSION:
            return (pl.col("prediction") - pl.col(label)).abs().alias(LOSS)
    return wrong.cast(pl.Float64).alias(LOSS)


def loss_name(task: Task) -> str:
    return "mean_absolute_error" if task is Task.REGRESSION else "error_rate"


def level_losses(frame: pl.DataFrame, column: str) -> pl.DataFrame:
    """Per segment of `column` (a label column of `frame`, beside LOSS): rows, mean loss and its
    standard error."""
    return (
        frame.group_by(column)
        .agg(rows=pl.len(), value=pl.col(LOSS).mean(), std=pl.col(LOSS).std())
        .with_columns(std_error=pl.col("std") / pl.col("rows").sqrt())
        .drop("std")
        .sort(column)
    )


@dataclass(frozen=True)
class _Encoded:
    codes: pl.DataFrame
    levels: dict[str, list[str]]


def _bucket_labels(edges: Sequence[float]) -> list[str]:
    """The labels `segment_label` gives the buckets of `edges`, in bucket order."""
    inside = [edges[0] - 1.0, *edges]  # one value in each bucket: below the first edge, then at each edge
    return pl.Series(inside, dtype=pl.Float64).cut(list(edges), left_closed=True).cast(pl.String).to_list()


def _encode(frames: Sequence[pl.DataFrame], edges: Mapping[str, Sequence[float] | None]) -> list[_Encoded]:
    """Each column of `edges` as UInt64 codes of its segments, shared by every frame: a numeric column's
    bucket index (from polars' cut, no text made), another column's value among the sorted union of its
    values across `frames`; missing values are the segment MISSING, the last."""
    levels: dict[str, list[str]] = {}
    codes: list[list[pl.Expr]] = [[] for _ in frames]
    for column, cuts in edges.items():
        if cuts is not None:
            names = [*_bucket_labels(cuts), MISSING] if cuts else [ALL_VALUES, MISSING]
            coded = _buckets(column, cuts).to_physical() if cuts else pl.col(column).is_null().cast(pl.UInt8)
            expressions = [coded] * len(frames)
        else:
            values = [frame.get_column(column).cast(pl.String).unique().drop_nulls() for frame in frames]
            present = sorted(set().union(*(v.to_list() for v in values)) - {MISSING})
            names = [*present, MISSING]
            as_level = pl.col(column).cast(pl.String).cast(pl.Enum(present)).to_physical()
            expressions = [as_level] * len(frames)
        levels[column] = names
        for own, expression in zip(codes, expressions, strict=True):
            own.append(expression.cast(pl.UInt64).fill_null(len(names) - 1).alias(column))
    return [
        _Encoded(codes=frame.select(*own, *(c for c in frame.columns if c == LOSS)), levels=levels)
        for frame, own in zip(frames, codes, strict=True)
    ]


def _combinations(columns: Sequence[str], depths: Sequence[int]) -> list[tuple[str, ...]]:
    return [combo for depth in depths for combo in itertools.combinations(columns, depth) if len(columns) >= depth]


def _key(combo: tuple[str, ...], levels: dict[str, list[str]]) -> pl.Expr:
    key = pl.lit(0, dtype=pl.UInt64)
    for column in combo:
        key = key * len(levels[column]) + pl.col(column)
    return key.alias("key")


def _cells(encoded: _Encoded, combos: list[tuple[str, ...]]) -> pl.DataFrame:
    """One row per (combination, segment) present: its rows, and with LOSS its labelled rows and loss sums
    (a null loss: an unlabelled row).

    The rows are grouped once by every column together (at most as many cells as the product of the
    columns' levels, far fewer than a million rows); each combination is then summed from those cells by
    a weighted bincount over its key, which costs the same for a thousand cells as one small query."""
    columns = list(encoded.levels)
    sums = [pl.len().cast(pl.Float64).alias("rows")]
    if LOSS in encoded.codes.columns:
        loss = pl.col(LOSS)
        sums += [
            loss.count().cast(pl.Float64).alias("labelled"),
            loss.sum().alias("total"),
            (loss**2).sum().alias("squares"),
        ]
    fine = encoded.codes.group_by(_key(tuple(columns), encoded.levels)).agg(sums)
    keys = fine["key"].to_numpy().astype(np.int64)
    sizes = {c: len(encoded.levels[c]) for c in columns}
    codes, stride = {}, 1
    for column in reversed(columns):
        codes[column] = (keys // stride) % sizes[column]
        stride *= sizes[column]
    weights = {name: fine[name].to_numpy() for name in fine.columns if name != "key"}
    parts: dict[str, list[np.ndarray]] = {name: [] for name in ("combo", "key", *weights)}
    for i, combo in enumerate(combos):
        key = np.zeros(len(keys), dtype=np.int64)
        for column in combo:
            key = key * sizes[column] + codes[column]
        span = int(np.prod([sizes[c] for c in combo]))
        rows = np.bincount(key, weights=weights["rows"], minlength=span)
        present = np.flatnonzero(rows)
        parts["combo"].append(np.full(present.size, i, dtype=np.uint32))
        parts["key"].append(present.astype(np.uint64))
        for name, values in weights.items():
            summed = rows if name == "rows" else np.bincount(key, weights=values, minlength=span)
            parts[name].append(summed[present])
    cells = pl.DataFrame({name: np.concatenate(values) for name, values in parts.items()})
    counts = [c for c in ("rows", "labelled") if c in cells.columns]
    return cells.with_columns(pl.col(counts).round().cast(pl.Int64))


def _holm(p: np.ndarray) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values (step-down, monotone, capped at 1)."""
    m = p.size
    order = np.argsort(p, kind="stable")
    stepped = np.maximum.accumulate((m - np.arange(m)) * p[order])
    adjusted = np.empty(m)
    adjusted[order] = np.minimum(stepped, 1.0)
    return adjusted


def _z(gap: np.ndarray, se: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(se > 0, gap / np.where(se > 0, se, 1.0), np.where(gap > 0, np.inf, 0.0))
    return z


def _named(cells: pl.DataFrame, combos: list[tuple[str, ...]], levels: dict[str, list[str]]) -> pl.DataFrame:
    """`cells` with each segment's name ("a=x & b=y", decoded from its key: the last column varies
    fastest) and its columns ("a,b"); one array operation per combination and column, not per segment."""
    keys = cells["key"].to_numpy().astype(np.int64)
    combo_of = cells["combo"].to_numpy()
    names = np.empty(cells.height, dtype=object)
    columns = np.empty(cells.height, dtype=object)
    named_levels = {c: np.array([f"{c}={level}" for level in levels[c]], dtype=object) for c in levels}
    for i in np.unique(combo_of):
        rows = np.flatnonzero(combo_of == i)
        rest, parts = keys[rows], []
        for column in reversed(combos[i]):
            rest, code = np.divmod(rest, len(levels[column]))
            parts.append(named_levels[column][code])
        name = parts.pop()
        while parts:
            name = name + AND + parts.pop()
        names[rows] = name
        columns[rows] = ",".join(combos[i])
    return cells.with_columns(pl.Series("segment", names, pl.String), pl.Series("columns", columns, pl.String))


SEARCH_COLUMNS = ("segment", "columns", "rows", "value", "rest", "gap", "std_error", "z", "p_value", "adjusted_p")
_NO_SEGMENTS = dict.fromkeys(SEARCH_COLUMNS, pl.Float64) | {
    "segment": pl.String,
    "columns": pl.String,
    "rows": pl.Int64,
}


@dataclass(frozen=True)
class Searched:
    """What the search found in a batch: every segment tested for its share of rows and for its loss
    (None when the batch has too few labelled rows), most significant first."""

    shares: pl.DataFrame
    losses: pl.DataFrame | None


def search_segments(
    current: pl.DataFrame,
    reference: pl.DataFrame,
    edges: Mapping[str, Sequence[float] | None],
    *,
    loss: pl.Series | None,
    min_rows: int,
    depths: Sequence[int] = (2, 3),
) -> Searched:
    """Every segment of `depths` of the columns of `edges` (sliced as `segment_label` slices them):

    * its share of `current`'s rows against its share of `reference`'s (`search_shares`);
    * with `loss` (one value per row of `current`, null where unlabelled, at least 2 x `min_rows`
      labelled), its mean loss against the rest's (`search_losses`).

    Both frames are encoded once and `current` grouped once for both searches."""
    combos = _combinations(list(edges), depths)
    if not combos or current.is_empty() or reference.is_empty():
        return Searched(shares=pl.DataFrame(schema=_NO_SEGMENTS), losses=None)
    scored = current.with_columns(loss.alias(LOSS)) if loss is not None else current
    now, before = _encode([scored, reference], edges)
    cells = _cells(now, combos)
    shares = _share_stats(cells, _cells(before, combos), n=current.height, r=reference.height, min_rows=min_rows)
    labelled = scored.height - (loss.null_count() if loss is not None else scored.height)
    losses = None
    if loss is not None and labelled >= 2 * min_rows:
        total, squares = float(loss.sum()), float((loss**2).sum())
        tested = cells.drop("rows").rename({"labelled": "rows"})
        losses = _loss_stats(tested, n=labelled, total=total, squares=squares, min_rows=min_rows)
    return Searched(
        shares=_named(shares, combos, now.levels).select(SEARCH_COLUMNS),
        losses=None if losses is None else _named(losses, combos, now.levels).select(SEARCH_COLUMNS),
    )


def search_losses(
    frame: pl.DataFrame,
    edges: Mapping[str, Sequence[float] | None],
    *,
    min_rows: int,
    depths: Sequence[int] = (2, 3),
) -> pl.DataFrame:
    """Every segment of `depths` of the columns of `edges` of `frame` (those columns beside LOSS) with at
    least `min_rows` rows (and the rest too), against the rest of the frame: its mean loss (`value`), the
    rest's, their gap (positive: the segment is worse), the segment mean's standard error, Welch's z and
    its one-sided p-value, Holm-adjusted over every segment tested; sorted by z, most significant first."""
    combos = _combinations(list(edges), depths)
    if not combos or frame.is_empty():
        return pl.DataFrame(schema=_NO_SEGMENTS)
    (encoded,) = _encode([frame], edges)
    total, squares = float(frame[LOSS].sum()), float((frame[LOSS] ** 2).sum())
    cells = _cells(encoded, combos).drop("rows").rename({"labelled": "rows"})
    tested = _loss_stats(cells, n=frame[LOSS].count(), total=total, squares=squares, min_rows=min_rows)
    return _named(tested, combos, encoded.levels).select(SEARCH_COLUMNS)


def search_shares(
    current: pl.DataFrame,
    reference: pl.DataFrame,
    edges: Mapping[str, Sequence[float] | None],
    *,
    min_rows: int,
    depths: Sequence[int] = (2, 3),
) -> pl.DataFrame:
    """Every segment of `depths` columns whose share of `current`'s rows differs from its share of
    `reference`'s (frames with the columns of `edges`): `value` the share now, `rest` the reference's
    share, `gap` their absolute difference, a two-proportion z and its two-sided p-value, Holm-adjusted.
    A segment is tested when it has `min_rows` rows now or would have at the reference's share."""
    return search_segments(current, reference, edges, loss=None, min_rows=min_rows, depths=depths).shares


def _loss_stats(cells: pl.DataFrame, *, n: int, total: float, squares: float, min_rows: int) -> pl.DataFrame:
    cells = cells.filter((pl.col("rows") >= min_rows) & (pl.lit(n) - pl.col("rows") >= min_rows))
    rows = cells["rows"].to_numpy().astype(np.float64)
    seg_total, seg_squares = cells["total"].to_numpy(), cells["squares"].to_numpy()
    rest_rows, rest_total, rest_squares = n - rows, total - seg_total, squares - seg_squares
    value, rest = seg_total / rows, rest_total / rest_rows
    seg_var = np.maximum(seg_squares - rows * value**2, 0.0) / np.maximum(rows - 1, 1)
    rest_var = np.maximum(rest_squares - rest_rows * rest**2, 0.0) / np.maximum(rest_rows - 1, 1)
    gap = value - rest
    z = _z(gap, np.sqrt(seg_var / rows + rest_var / rest_rows))
    p = norm.sf(z)
    return cells.with_columns(
        pl.Series("value", value),
        pl.Series("rest", rest),
        pl.Series("gap", gap),
        pl.Series("std_error", np.sqrt(seg_var / rows)),
        pl.Series("z", z),
        pl.Series("p_value", p),
        pl.Series("adjusted_p", _holm(p)),
    ).sort("z", descending=True)


def _share_stats(now: pl.DataFrame, before: pl.DataFrame, *, n: int, r: int, min_rows: int) -> pl.DataFrame:
    cells = (
        now.select("combo", "key", "rows")
        .join(before, on=["combo", "key"], how="full", coalesce=True, suffix="_reference")
        .with_columns(pl.col("rows", "rows_reference").fill_null(0))
        .filter(pl.max_horizontal(pl.col("rows"), pl.col("rows_reference") * (n / r)) >= min_rows)
    )
    p1 = cells["rows"].to_numpy() / n
    p0 = cells["rows_reference"].to_numpy() / r
    pooled = (p1 * n + p0 * r) / (n + r)
    gap = np.abs(p1 - p0)
    z = _z(gap, np.sqrt(pooled * (1 - pooled) * (1 / n + 1 / r)))
    p = 2 * norm.sf(z)
    return cells.with_columns(
        pl.Series("value", p1),
        pl.Series("rest", p0),
        pl.Series("gap", gap),
        pl.Series("std_error", np.sqrt(p1 * (1 - p1) / n)),
        pl.Series("z", z),
        pl.Series("p_value", p),
        pl.Series("adjusted_p", _holm(p)),
    ).sort("z", descending=True)


def conditions(segment: str) -> frozenset[str]:
    return frozenset(segment.split(AND))


def without_refinements(segments: Sequence[str]) -> list[str]:
    """`segments` (most significant first) without any that narrows or widens one kept before it:
    region=west & age=[18, 25) & purpose=car adds nothing once region=west & age=[18, 25) is reported."""
    kept: list[frozenset[str]] = []
    result = []
    for segment in segments:
        parts = conditions(segment)
        if any(parts <= other or other <= parts for other in kept):
            continue
        kept.append(parts)
        result.append(segment)
    return result
