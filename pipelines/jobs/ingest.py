"""Ingest a CSV or Parquet file into a raw Delta table, checked before anything is written."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import polars as pl

from governance.audit.actions import AuditAction
from governance.errors import InputError
from governance.roles import Action
from lakehouse.files import read_input_file
from lakehouse.records import TableIdentity, catalog_frame, table_identity
from lakehouse.schemas import AUDIT, CATALOG, raw_table
from pipelines.context import Context, JobRun, job_run

# Event times outside this range are typos (0026 for 2026) or sentinels (9999-12-31), not events.
EARLIEST_EVENT = datetime(1900, 1, 1, tzinfo=UTC)
LATEST_EVENT = datetime(2200, 1, 1, tzinfo=UTC)


class IngestMode(StrEnum):
    APPEND = "append"
    OVERWRITE = "overwrite"


@dataclass(frozen=True)
class IngestResult:
    table: str
    version: int
    rows: int
    already_ingested: bool = False  # the same rows were ingested before: nothing was written again


def check_key(frame: pl.DataFrame, key: str) -> None:
    """The key must exist, be complete (no null, NaN or inf) and unique within the frame."""
    if key not in frame.columns:
        raise InputError(f"key column {key!r} is not in the data (columns: {', '.join(frame.columns)})")
    column = frame[key]
    if column.null_count():
        raise InputError(f"key column {key!r} has {column.null_count()} missing values")
    if column.dtype.is_float() and not column.is_finite().all():
        raise InputError(f"key column {key!r} holds NaN or infinite values")
    duplicated = frame.filter(column.is_duplicated())[key]
    if duplicated.len():
        raise InputError(f"key column {key!r} has {duplicated.n_unique()} duplicated values, e.g. {duplicated[0]!r}")


def check_finite(frame: pl.DataFrame) -> None:
    """Float columns hold finite numbers or nothing: NaN and +-inf (read from 'NaN' or 'inf' in a CSV,
    or overflowing like 1e309) are refused; an empty value is missing, and allowed."""
    for name, dtype in frame.schema.items():
        if not dtype.is_float():
            continue
        bad = int(frame.select((~pl.col(name).is_finite()).sum()).item())
        if bad:
            rows = f"{bad} rows" if bad > 1 else "1 row"
            raise InputError(
                f"column {name!r} has {rows} with NaN or infinite values: expected finite numbers "
                "(leave a missing value empty)"
            )


def parse_timestamps(frame: pl.DataFrame, column: str, *, timezone: str) -> pl.DataFrame:
    """The timestamp column as UTC datetimes; naive values are read in `timezone`."""
    if column not in frame.columns:
        raise InputError(f"timestamp column {column!r} is not in the data (columns: {', '.join(frame.columns)})")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise InputError(
            f"time zone {timezone!r} is not known: expected an IANA name such as UTC or Europe/Paris"
        ) from None
    values = frame[column]
    try:
        if values.dtype == pl.String:
            values = values.str.to_datetime(time_unit="us", strict=True)
        elif values.dtype == pl.Date:
            values = values.cast(pl.Datetime("us"))
    except pl.exceptions.PolarsError:
        raise InputError(f"timestamp column {column!r} holds values that are not dates or times") from None
    if not isinstance(values.dtype, pl.Datetime):
        raise InputError(f"timestamp column {column!r} has type {values.dtype}: expected dates or times")
    if values.null_count():
        raise InputError(f"timestamp column {column!r} has {values.null_count()} missing values")
    if values.dtype.time_zone is None:
        values = values.dt.replace_time_zone(timezone, ambiguous="earliest", non_existent="null")
        if values.null_count():
            raise InputError(f"timestamp column {column!r} holds times that do not exist in {timezone}")
    values = values.dt.convert_time_zone("UTC").dt.cast_time_unit("us")
    outside = ((values < EARLIEST_EVENT) | (values > LATEST_EVENT)).arg_true()
    if outside.len():
        given = str(frame[column][outside[0]])  # as the file has it, not as converted
        count = f"{outside.len()} rows are" if outside.len() > 1 else "1 row is"
        raise InputError(
            f"timestamp column {column!r} holds {given!r}: expected times from {EARLIEST_EVENT:%Y-%m-%d} "
            f"to {LATEST_EVENT:%Y-%m-%d} UTC ({count} outside)"
        )
    return frame.with_columns(values.alias(column))


def ingest(
    ctx: Context,
    *,
    table: str,
    path: Path,
    key: str,
    timestamp: str | None,
    timezone: str = "UTC",
    mode: IngestMode = IngestMode.APPEND,
    actor: str,
) -> IngestResult:
    name = raw_table(table)
    with job_run(ctx, job="ingest", actor=actor) as run:
        run.authorize(Action.INGEST, object_type="table", object_id=name)
        frame = read_input_file(path)
        check_key(frame, key)
        check_finite(frame)
        if timestamp is not None:
            frame = parse_timestamps(frame, timestamp, timezone=timezone)
        identity = TableIdentity(table=name, key=key, timestamp=timestamp)
        known = table_identity(ctx.store, name) if ctx.store.exists(name) else None
        if known is not None:
            _check_same_identity(known, identity)
            if mode is IngestMode.APPEND and _known_keys(ctx, name, frame, key):
                return _rerun(run, name=name, frame=frame, key=key, mode=mode, source=path.name)
        else:  # registered before the data lands, so a table never exists without its identity
            run.append(CATALOG, catalog_frame(identity, at=run.now(), run_id=run.run_id))
        write = run.append if mode is IngestMode.APPEND else run.overwrite
        result = write(name, frame)
        run.audit(
            action=AuditAction.INGEST,
            object_type="table",
            object_id=f"{name}@{result.version}",
            details={"rows": frame.height, "mode": mode.value, "source": path.name},
        )
    return IngestResult(table=name, version=result.version, rows=frame.height)


def _check_same_identity(known: TableIdentity, given: TableIdentity) -> None:
    for label, stored, passed in (("key", known.key, given.key), ("timestamp", known.timestamp, given.timestamp)):
        if stored != passed:
            raise InputError(
                f"table {known.table!r} has {label} column {stored or '(none)'!r}, not {passed or '(none)'!r}"
            )


def _known_keys(ctx: Context, name: str, frame: pl.DataFrame, key: str) -> int:
    """How many of the frame's keys the table already holds."""
    incoming = frame.lazy().select(pl.col(key).cast(pl.String))
    existing_keys = ctx.store.scan(name).select(pl.col(key).cast(pl.String))
    return int(existing_keys.join(incoming, on=key, how="semi").select(pl.len()).collect().item())


def _rerun(run: JobRun, *, name: str, frame: pl.DataFrame, key: str, mode: IngestMode, source: str) -> IngestResult:
    """An append whose keys the table already holds: refused, unless it is the same ingest again (the
    same rows, as many as one earlier ingest of the same file committed). Then nothing is written
    again; if that ingest was interrupted after its commit (no audit record), its audit record is
    written now, so the table version is accounted for."""
    ctx = run.ctx
    stored = ctx.store.scan(name).join(frame.lazy().select(pl.col(key)), on=key, how="semi").collect()
    if stored.height == frame.height and _same_rows(stored, frame, key=key):
        earlier = _earlier_ingests(ctx, name)
        for version, (rows, was_source) in sorted(earlier.items(), reverse=True):
            if rows == frame.height and was_source == source:
                return IngestResult(table=name, version=version, rows=frame.height, already_ingested=True)
        audited_runs = _audited_runs(ctx, name)
        committed = ctx.store.commit_rows(name)
        for run_id, (version, rows) in sorted(committed.items(), key=lambda item: -item[1][0]):
            if run_id not in audited_runs and rows == frame.height:
                run.audit(
                    action=AuditAction.INGEST,
                    object_type="table",
                    object_id=f"{name}@{version}",
                    details={"rows": frame.height, "mode": mode.value, "source": source, "completes_run": run_id},
                )
                return IngestResult(table=name, version=version, rows=frame.height, already_ingested=True)
    existing = stored[key][0] if stored.height else frame[key][0]
    raise InputError(f"key {str(existing)!r} is already in table {name!r}: appends must bring new keys")


def _same_rows(stored: pl.DataFrame, incoming: pl.DataFrame, *, key: str) -> bool:
    if set(stored.columns) != set(incoming.columns):
        return False
    try:
        cast = incoming.select(pl.col(c).cast(stored.schema[c]) for c in stored.columns)
    except pl.exceptions.PolarsError:
        return False
    return stored.sort(key).equals(cast.sort(key))


def _ingest_records(ctx: Context, name: str) -> list[tuple[int, dict[str, object]]]:
    """The audit records of ingests into `name`: (table version, details)."""
    records = (
        ctx.store.scan(AUDIT)
        .filter((pl.col("action") == AuditAction.INGEST.value) & pl.col("object_id").str.starts_with(f"{name}@"))
        .select("object_id", "details")
        .collect()
    )
    return [(int(obj.rsplit("@", 1)[1]), json.loads(details)) for obj, details in records.iter_rows()]


def _earlier_ingests(ctx: Context, name: str) -> dict[int, tuple[int, str]]:
    """Audited ingests into `name`: rows and source file, by the table version they made."""
    return {
        version: (int(str(d.get("rows", -1))), str(d.get("source", ""))) for version, d in _ingest_records(ctx, name)
    }


def _audited_runs(ctx: Context, name: str) -> set[str]:
    """The runs whose ingest into `name` has its audit record (its own, or one completing it)."""
    runs = set()
    for _, details in _ingest_records(ctx, name):
        runs.add(str(details.get("run_id", "")))
        runs.add(str(details.get("completes_run", "")))
    return runs
