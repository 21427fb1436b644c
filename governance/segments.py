"""Segments of a model's batches: which columns a model is sliced by (chosen per model, on its policy),
what a valid slice column is, and when a segment found by the automatic search is reported.

A segment column is categorical (each value a segment, at most MAX_LEVELS of them) or numeric cut into
BUCKETS quantile buckets of the version's training data. The search compares every segment of two or
three columns with the rest of the batch; a segment is reported only when it is large enough that its
sampling error is small (`min_rows`), worse than the rest, and significant after a Holm correction over
every segment tested (`alpha`), so noise is not reported.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from governance.errors import InputError

POLICY_PREFIX = "segment:"  # a model policy setting "segment:<column>" = "" (categorical) or BUCKETS
MAX_LEVELS = 50  # more distinct values than this is an identifier, not a segment
MIN_BUCKETS, MAX_BUCKETS = 2, 10


@dataclass(frozen=True)
class SegmentColumn:
    """A column a model's batches are sliced by: its values, or `buckets` quantile buckets of it."""

    column: str
    buckets: int | None = None

    @property
    def setting(self) -> str:
        return f"{POLICY_PREFIX}{self.column}"

    @property
    def value(self) -> str:
        return "" if self.buckets is None else str(self.buckets)


@dataclass(frozen=True)
class ColumnSummary:
    """What validating a segment column needs to know of it in the training data."""

    column: str
    dtype: str
    numeric: bool
    distinct: int


def parse_segment(text: str) -> SegmentColumn:
    """`COLUMN` or `COLUMN:BUCKETS` into a segment column, or one clear error."""
    column, colon, raw = text.strip().partition(":")
    column = column.strip()
    if not column:
        raise InputError(f"--segment {text!r}: expected COLUMN or COLUMN:BUCKETS, e.g. region or age:4")
    if not colon:
        return SegmentColumn(column)
    try:
        buckets = int(raw)
    except ValueError:
        raise InputError(f"--segment {text!r}: BUCKETS {raw.strip()!r} is not a whole number") from None
    if not MIN_BUCKETS <= buckets <= MAX_BUCKETS:
        raise InputError(f"--segment {text!r}: BUCKETS {buckets} is outside {MIN_BUCKETS}..{MAX_BUCKETS}")
    return SegmentColumn(column, buckets)


def segment_problem(segment: SegmentColumn, summary: ColumnSummary | None, *, columns: list[str]) -> str | None:
    """Why `segment` cannot slice the model's batches (one line naming the column), or None;
    `summary` is None when the training table has no such column."""
    name = f"--segment {segment.column!r}"
    if summary is None:
        return f"{name}: unknown column; the training table's columns are {sorted(columns)}"
    if segment.buckets is not None:
        if not summary.numeric:
            return f"{name}: buckets need a numeric column, not {summary.dtype} (leave BUCKETS out)"
        return None
    if summary.distinct > MAX_LEVELS:
        hint = f" (cut it into buckets: {segment.column}:4)" if summary.numeric else ""
        return f"{name} has {summary.distinct:,} distinct values: a segment column has at most {MAX_LEVELS}{hint}"
    if summary.distinct < 2:
        return f"{name} has a single value in the training data: nothing to compare"
    return None


def segment_columns(settings: Mapping[str, str]) -> tuple[SegmentColumn, ...]:
    """The segment columns among a model's policy settings."""
    return tuple(
        SegmentColumn(name.removeprefix(POLICY_PREFIX), int(value) if value else None)
        for name, value in settings.items()
        if name.startswith(POLICY_PREFIX)
    )


@dataclass(frozen=True)
class SearchPolicy:
    """What the segment search tests and what it reports.

    `min_rows`: a smaller segment's sampling error is too large to tell it from noise;
    `alpha`: the family-wise significance level after the Holm correction over every segment tested;
    `min_gap`: the least difference from the rest worth reporting (an error rate or a share);
    `max_columns`: how many columns' combinations are searched (two and three at a time);
    `numeric_buckets`: quantile buckets for a numeric column the model's policy does not bucket.
    """

    min_rows: int = 100
    alpha: float = 0.05
    min_gap: float = 0.02
    max_columns: int = 8
    numeric_buckets: int = 4
    max_reported: int = 10


@dataclass(frozen=True)
class SegmentTest:
    """A tested segment: its rows, its value against the rest's, and its Holm-adjusted p-value."""

    rows: int
    gap: float  # segment minus rest, in the direction where positive is worse
    adjusted_p: float


def segment_reported(test: SegmentTest, *, policy: SearchPolicy) -> bool:
    """A segment is reported when large enough, worse than the rest by at least `min_gap`, and
    significant after the correction."""
    return test.rows >= policy.min_rows and test.gap >= policy.min_gap and test.adjusted_p < policy.alpha
