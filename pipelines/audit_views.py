"""Read models of the Audit trail page: the records as a frame, the filters an auditor applies to it,
and the exported forms. Reads only: records come from `AuditLog.records()`, read afresh."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import polars as pl

from lakehouse.schemas import UTC_TS
from pipelines.context import Context

REFUSED = "refused"
BREAK_GLASS = "break-glass"

AUDIT_SCHEMA = pl.Schema(
    {
        "seq": pl.Int64(),
        "at": UTC_TS,
        "actor": pl.String(),
        "action": pl.String(),
        "object": pl.String(),
        "outcome": pl.String(),
        "reason": pl.String(),
        "flag": pl.String(),  # REFUSED, BREAK_GLASS or ""
        "object_type": pl.String(),
        "object_id": pl.String(),
        "details": pl.String(),
        "event_id": pl.String(),
        "hash": pl.String(),
    }
)


def audit_frame(ctx: Context) -> pl.DataFrame:
    """Every audit record in sequence order (columns: AUDIT_SCHEMA); `object` reads "type id"."""
    rows = [
        {
            "seq": r.seq,
            "at": r.entry.at,
            "actor": r.entry.actor,
            "action": r.entry.action,
            "outcome": r.entry.outcome,
            "reason": r.entry.reason,
            "object_type": r.entry.object_type,
            "object_id": r.entry.object_id,
            "details": r.entry.details,
            "event_id": r.entry.event_id,
            "hash": r.hash,
        }
        for r in ctx.audit.records()
    ]
    source = {name: dtype for name, dtype in AUDIT_SCHEMA.items() if name not in ("object", "flag")}
    frame = pl.DataFrame(rows, schema=source)
    return frame.with_columns(
        object=pl.concat_str("object_type", "object_id", separator=" ").str.strip_chars(),
        flag=pl.when(pl.col("outcome") == REFUSED)
        .then(pl.lit(REFUSED))
        .when(pl.col("action").str.contains("break_glass", literal=True))
        .then(pl.lit(BREAK_GLASS))
        .otherwise(pl.lit("")),
    ).select(AUDIT_SCHEMA.names())


def day_span(frame: pl.DataFrame) -> tuple[date, date]:
    """The first and last UTC day of the records in `frame` (columns: AUDIT_SCHEMA), which holds some."""
    days = frame["at"].dt.convert_time_zone("UTC").dt.date().sort()
    return days[0], days[-1]


@dataclass(frozen=True)
class AuditFilter:
    """What an auditor narrowed the trail to; empty means "any". Dates are UTC days, both inclusive."""

    actors: Sequence[str] = ()
    actions: Sequence[str] = ()
    object_text: str = ""  # found anywhere in "type id", ignoring case
    since: date | None = None
    until: date | None = None
    flagged_only: bool = False


def filter_audit(frame: pl.DataFrame, *, where: AuditFilter) -> pl.DataFrame:
    """The records of `frame` (columns: AUDIT_SCHEMA) that `where` keeps, in the same order."""
    keep = pl.lit(True)
    if where.actors:
        keep &= pl.col("actor").is_in(list(where.actors))
    if where.actions:
        keep &= pl.col("action").is_in(list(where.actions))
    if where.object_text.strip():
        keep &= pl.col("object").str.to_lowercase().str.contains(where.object_text.strip().lower(), literal=True)
    day = pl.col("at").dt.convert_time_zone("UTC").dt.date()
    if where.since is not None:
        keep &= day >= where.since
    if where.until is not None:
        keep &= day <= where.until
    if where.flagged_only:
        keep &= pl.col("flag") != ""
    return frame.filter(keep)


_EXPORTED = ["seq", "at", "actor", "action", "object_type", "object_id", "outcome", "reason", "details", "event_id"]


def _exported(frame: pl.DataFrame) -> pl.DataFrame:
    # timestamps as the chain hashes them: UTC, microseconds, "Z"
    return frame.select(_EXPORTED).with_columns(
        at=pl.col("at").dt.convert_time_zone("UTC").dt.strftime("%Y-%m-%dT%H:%M:%S.%6fZ")
    )


def audit_csv(frame: pl.DataFrame) -> str:
    """The records as CSV, every field as stored (no field is rewritten for spreadsheets)."""
    return _exported(frame).write_csv()


def audit_json(frame: pl.DataFrame) -> str:
    """The records as a JSON array of objects, in the order given."""
    return json.dumps(_exported(frame).to_dicts(), ensure_ascii=False, indent=2)
