"""Scored batches read back: the rows of a table in a batch's time window."""

from __future__ import annotations

from datetime import datetime

import polars as pl

from governance.audit.canonical import utc_text
from governance.errors import InputError


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
