"""Point-in-time joins of feature tables onto a spine (the rows to train on or to score), pure polars.

For each spine row and each feature table: the latest feature row of the same key whose timestamp is
at or before the spine row's timestamp and, with a TTL, not older than the TTL; never a later one.
That is polars' backward `join_asof` by key with the TTL as its tolerance.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

import polars as pl

from governance.errors import InputError
from governance.feature_tables import FeatureTableDefinition

_JOIN_KEY = "__mlgov_join_key"


@dataclass(frozen=True)
class FeatureRows:
    """A feature table's rows (its key, timestamp and feature columns) and the TTL to join it with."""

    definition: FeatureTableDefinition
    rows: pl.DataFrame
    ttl_seconds: int | None


def duplicated_keys(rows: pl.DataFrame, *, key: str, timestamp: str) -> pl.DataFrame:
    """The (key, timestamp) pairs that occur more than once."""
    return rows.group_by(key, timestamp).len().filter(pl.col("len") > 1)


def as_of_join(spine: pl.DataFrame, *, spine_time: str, tables: Sequence[FeatureRows]) -> pl.DataFrame:
    """`spine` with every table's feature columns joined as of each row's `spine_time`, ordered by
    `spine_time` (the order a backward as-of join needs; training and scoring do not depend on it)."""
    frame = spine.sort(spine_time)
    time_type = spine.schema[spine_time]
    for table in tables:
        definition = table.definition
        key = definition.key
        right = table.rows.select(
            pl.col(key), pl.col(definition.timestamp).cast(time_type).alias(spine_time), *definition.columns
        )
        by = key
        if right.schema[key] != spine.schema[key]:  # e.g. an integer key in one, text in the other
            frame = frame.with_columns(pl.col(key).cast(pl.String).alias(_JOIN_KEY))
            right = right.with_columns(pl.col(key).cast(pl.String).alias(_JOIN_KEY)).drop(key)
            by = _JOIN_KEY
        frame = frame.join_asof(
            right.sort(spine_time),
            on=spine_time,
            by=by,
            strategy="backward",
            tolerance=timedelta(seconds=table.ttl_seconds) if table.ttl_seconds is not None else None,
            check_sortedness=False,  # both sides are sorted just above
        )
        if by == _JOIN_KEY:
            frame = frame.drop(_JOIN_KEY)
    return frame


def check_overlap(
    *, spine_table: str, spine_span: tuple[object, object], table: str, first_feature_time: object
) -> None:
    """Refuse a feature table whose first row comes after the spine's last: nothing could join."""
    _, spine_last = spine_span
    if first_feature_time is None:
        raise InputError(f"feature table {table!r} has no rows: nothing to join")
    if spine_last is not None and first_feature_time > spine_last:  # type: ignore[operator]
        raise InputError(
            f"feature table {table!r} starts at {first_feature_time}, after the last row of {spine_table!r} "
            f"({spine_last}): nothing to join"
        )


def latest_values(rows: pl.LazyFrame, *, definition: FeatureTableDefinition) -> pl.LazyFrame:
    """Each key's newest feature row (key, timestamp and feature columns): what a lookup by key serves."""
    return (
        rows.select(definition.key, definition.timestamp, *definition.columns)
        .sort(definition.timestamp)
        .group_by(definition.key, maintain_order=False)
        .last()
    )


def skew_shares(
    as_of: pl.DataFrame, latest: pl.DataFrame, *, key: str, columns: Sequence[str]
) -> dict[str, tuple[int, int]]:
    """For each feature column: (rows whose as-of value differs from the key's latest value, rows).

    The rows of `as_of` are scored rows with their as-of joined values; `latest` holds one row per key.
    Missing on one side and present on the other counts as a difference."""
    if as_of.height == 0:
        return dict.fromkeys(columns, (0, 0))
    renamed = latest.select(pl.col(key), *(pl.col(c).alias(f"{c}__latest") for c in columns))
    if renamed.schema[key] != as_of.schema[key]:
        renamed = renamed.with_columns(pl.col(key).cast(as_of.schema[key], strict=False))
    joined = as_of.select(key, *columns).join(renamed, on=key, how="left")
    counts = joined.select(pl.col(c).ne_missing(pl.col(f"{c}__latest")).sum().alias(c) for c in columns).row(0)
    return {column: (int(count), joined.height) for column, count in zip(columns, counts, strict=True)}
