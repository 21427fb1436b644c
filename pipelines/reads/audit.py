"""Read models of the Audit trail page: the records as a frame, the filters an auditor applies to it,
and the exported forms. Reads only: records come from `AuditLog.frame()`, read afresh."""

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
    return (
        ctx.audit.frame()
        .with_columns(
            object=pl.concat_str("object_type", "object_id", separator=" ").str.strip_chars(),
            flag=pl.when(pl.col("outcome") == REFUSED)
            .then(pl.lit(REFUSED))
            .when(pl.col("action").str.contains("break_glass", literal=True))
            .then(pl.lit(BREAK_GLASS))
            .otherwise(pl.lit("")),
        )
        .select(AUDIT_SCHEMA.names())
        .cast(AUDIT_SCHEMA)  # as the schema says, whatever types the stored files hold
    )


@dataclass(frozen=True)
class AuditTrail:
    """The whole trail as the page filters it, with what its filter choices offer."""

    records: pl.DataFrame  # columns: AUDIT_SCHEMA, in sequence order
    actors: tuple[str, ...]
    actions: tuple[str, ...]
    days: tuple[date, date] | None  # the first and last UTC day; None when the trail is empty


def audit_trail(ctx: Context) -> AuditTrail:
    records = audit_frame(ctx)
    day = pl.col("at").dt.convert_time_zone("UTC").dt.date()
    first, last = records.select(day.min(), day.max().alias("last")).row(0)
    return AuditTrail(
        records=records,
        actors=tuple(records["actor"].unique().sort()),
        actions=tuple(records["action"].unique().sort()),
        days=None if records.is_empty() else (first, last),
    )


@dataclass(frozen=True)
class AuditFilter:
    """What an auditor narrowed the trail to; empty means "any". Dates are UTC days, both inclusive."""

    actors: Sequence[str] = ()
    actions: Sequence[str] = ()
    object_text: str = ""  # found anywhere in "type id", or in the model its details name, ignoring case
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
        # an approval's object is its request; the model it concerns is in its details
        wanted = where.object_text.strip().lower()
        model = pl.col("details").str.json_path_match("$.model").fill_null("")
        keep &= pl.col("object").str.to_lowercase().str.contains(
            wanted, literal=True
        ) | model.str.to_lowercase().str.contains(wanted, literal=True)
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
