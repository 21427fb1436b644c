"""Scored batches read back: their order, and the rows of a table in a batch's time window."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import polars as pl

from governance.audit.canonical import utc_text
from governance.errors import InputError
from lakehouse.records import feature_tables_from_json, require_table_identity
from pipelines.context import Context
from pipelines.reads.feature_tables import join_feature_tables

# Batches in the order they were scored. Scoring is stamped by a clock that may be fixed (tests, the
# demo), so the data window, then the id, break ties.
BATCH_ORDER = ["scored_at", "window_end", "batch_id"]


def select_window(
    frame: pl.LazyFrame, *, timestamp: str | None, start: datetime | None, end: datetime | None
) -> pl.LazyFrame:
    """Rows with start <= timestamp < end (either bound may be open)."""
    if start is None and end is None:
        return frame
    if timestamp is None:
        raise InputError("--from/--to need a timestamp column, and this table was ingested without --timestamp")
    if start is not None and end is not None and start >= end:
        raise InputError(f"--from {utc_text(start)} is not before --to {utc_text(end)}")
    if start is not None:
        frame = frame.filter(pl.col(timestamp) >= start)
    if end is not None:
        frame = frame.filter(pl.col(timestamp) < end)
    return frame


def batch_rows(ctx: Context, batch: Mapping[str, Any], columns: Sequence[str]) -> pl.DataFrame:
    """The rows a batch scored (`columns` of them), re-read from its input table at the version and
    window it was scored from. `batch` is a row of scoring/batches; the feature tables it joined are
    joined again, at the versions it was scored with."""
    table = str(batch["input_table"])
    timestamp = require_table_identity(ctx.store, table).timestamp
    window = select_window(
        ctx.store.scan(table, version=int(batch["input_version"])),
        timestamp=timestamp,
        start=batch["window_start"],
        end=batch["window_end"],
    )
    refs = feature_tables_from_json(batch.get("feature_tables"))
    if not refs:
        return window.select(columns).collect()
    joined = join_feature_tables(ctx, window.collect(), spine_table=table, spine_time=timestamp, refs=refs)
    return joined.select(columns)
