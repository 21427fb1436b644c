"""Reading the audit table as storage holds it now: every data file, read afresh, with the files that
cannot be read listed rather than skipped, so verification can name what it can no longer vouch for."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import polars as pl
from deltalake import DeltaTable
from deltalake.exceptions import DeltaError

from governance.audit.chain import AuditEntry, AuditRecord
from governance.audit.verify import TableState, UnreadablePart
from governance.errors import MlgovError
from lakehouse.schemas import AUDIT, SCHEMAS
from lakehouse.storage import Storage

SCHEMA = SCHEMAS[AUDIT]


@dataclass(frozen=True)
class Snapshot:
    table: TableState | None
    frame: pl.DataFrame  # the readable records in sequence order, columns as stored
    unreadable: list[UnreadablePart]

    @cached_property
    def records(self) -> list[AuditRecord]:
        return records_of(self.frame)


def read_snapshot(storage: Storage) -> Snapshot:
    """The audit table as storage holds it now, from a fresh handle; files that cannot be read are listed."""
    where = storage.uri(AUDIT)
    if not storage.exists(AUDIT):
        return Snapshot(table=None, frame=pl.DataFrame(schema=SCHEMA), unreadable=[])
    try:
        handle = storage.open(AUDIT)
        table = TableState(version=handle.version(), table_id=str(handle.metadata().id))
    except DeltaError as error:
        raise MlgovError(f"the audit table at {where} cannot be opened: {error}") from None
    files = data_files(handle, where=where)
    files = files.with_columns(pl.Series("location", [storage.data_file(AUDIT, p) for p in files["path"]], pl.String))
    unreadable = [
        UnreadablePart(location=row["location"], first_seq=row["first_seq"], last_seq=row["last_seq"])
        for row in files.iter_rows(named=True)
        if not storage.is_file(row["location"])
    ]
    missing = {part.location for part in unreadable}
    present = files.filter(~pl.col("location").is_in(list(missing)))
    try:
        frame = read_files(storage, present["path"].to_list())
    except MlgovError:
        # Some file is there but unreadable (truncated, or not parquet): find which, read the rest.
        frames = []
        for row in present.iter_rows(named=True):
            try:
                frames.append(read_files(storage, [row["path"]]))
            except MlgovError:
                unreadable.append(
                    UnreadablePart(location=row["location"], first_seq=row["first_seq"], last_seq=row["last_seq"])
                )
        frame = pl.concat(frames) if frames else pl.DataFrame(schema=SCHEMA)
    return Snapshot(table=table, frame=frame.sort("seq"), unreadable=unreadable)


def data_files(handle: DeltaTable, *, where: str) -> pl.DataFrame:
    """The table's live data files: path as the log has it, and the seq range its statistics give (or null)."""
    try:
        actions = pl.DataFrame(handle.get_add_actions(flatten=True))
    except DeltaError as error:
        raise MlgovError(f"the audit table at {where} cannot be listed: {error}") from None
    if actions.height == 0:
        return pl.DataFrame(schema={"path": pl.String, "first_seq": pl.Int64, "last_seq": pl.Int64})

    def stat(name: str) -> pl.Expr:
        return pl.col(name).cast(pl.Int64) if name in actions.columns else pl.lit(None, dtype=pl.Int64)

    return actions.select(
        pl.col("path").cast(pl.String),
        stat("min.seq").alias("first_seq"),
        stat("max.seq").alias("last_seq"),
    )


def read_files(storage: Storage, paths: list[str]) -> pl.DataFrame:
    """The records in the data files at `paths` (as the Delta log names them), cast to the audit schema."""
    if not paths:
        return pl.DataFrame(schema=SCHEMA)
    try:
        frame = storage.read_parquet([storage.data_file(AUDIT, p) for p in paths], columns=list(SCHEMA))
        return frame.select(pl.col(name).cast(dtype) for name, dtype in SCHEMA.items())
    except (pl.exceptions.PolarsError, OSError) as error:
        raise MlgovError(
            f"audit data under {storage.uri(AUDIT)} cannot be read: {str(error).splitlines()[0]}"
        ) from None


def frame_of(records: Sequence[AuditRecord]) -> pl.DataFrame:
    """Records as rows of the audit table."""
    rows = [{"seq": r.seq, **r.entry.__dict__, "prev_hash": r.prev_hash, "hash": r.hash} for r in records]
    return pl.DataFrame(rows, schema=SCHEMA)


def records_of(frame: pl.DataFrame) -> list[AuditRecord]:
    """Rows of the audit table as records."""
    entry_fields = AuditEntry.__dataclass_fields__
    return [
        AuditRecord(
            seq=row["seq"],
            entry=AuditEntry(**{k: row[k] for k in entry_fields}),
            prev_hash=row["prev_hash"],
            hash=row["hash"],
        )
        for row in frame.iter_rows(named=True)
    ]
