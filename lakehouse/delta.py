"""The Delta table store: every read and write of the lakehouse goes through here.

Writes validate the frame against the declared (or existing) schema before touching storage, stamp
the run id, job and actor into the commit metadata, and turn delta-rs errors into ours.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import polars as pl
import pyarrow as pa
from deltalake import CommitProperties, DeltaTable
from deltalake.exceptions import CommitFailedError, DeltaError, TableNotFoundError

from governance.errors import ConflictError, InputError, MlgovError, NotFoundError, first_line
from lakehouse.schemas import APPEND_ONLY, AUDIT, PARTITIONS, SCHEMAS
from lakehouse.storage import KEEP_LOG, Storage

if TYPE_CHECKING:
    import pyarrow.dataset  # imports pandas: only the readers that ask for a dataset pay for it


@dataclass(frozen=True)
class CommitInfo:
    """Who and what wrote a commit; stored in every Delta commit's metadata."""

    run_id: str
    job: str
    actor: str

    def properties(self, *, retries: int | None = None) -> CommitProperties:
        """The commit properties that stamp this metadata; `retries=0` refuses to rebase onto a newer version."""
        metadata = {"mlgov.run_id": self.run_id, "mlgov.job": self.job, "mlgov.actor": self.actor}
        return CommitProperties(custom_metadata=metadata, max_commit_retries=retries)


@dataclass(frozen=True)
class WriteResult:
    table: str
    version: int
    rows: int
    bytes_written: int


class DeltaStore:
    """Delta tables under one storage root, addressed by names like 'raw/loans'."""

    def __init__(self, storage: Storage) -> None:
        self._storage = storage
        # Opening a table replays its log; keep handles and refresh them incrementally instead.
        # Per thread, because a handle is mutable and Streamlit serves each session on its own thread.
        self._local = threading.local()

    @property
    def storage(self) -> Storage:
        return self._storage

    def path(self, table: str) -> Path:
        """The table's folder on local disk (for tests and tools that handle files directly)."""
        return self._storage.local_path(table)

    def exists(self, table: str) -> bool:
        return self._storage.exists(table)

    def _open(self, table: str, *, version: int | None = None) -> DeltaTable:
        try:
            return self._storage.open(table, version=version)
        except TableNotFoundError:
            raise NotFoundError(f"table {table!r} does not exist in the lakehouse") from None
        except DeltaError as error:
            if version is not None:
                raise NotFoundError(f"table {table!r} has no version {version}") from None
            raise MlgovError(f"table {table!r} cannot be opened: {first_line(error)}") from None

    def _handle(self, table: str, *, version: int | None = None) -> DeltaTable:
        """A cached handle: the latest snapshot, or a pinned version (which never changes).

        A cached handle is reused only while the table is the one it was opened on: a table deleted
        and written anew (a restore, or tampering) has a new first commit, and is opened afresh.
        """
        handles: dict[tuple[str, int | None], tuple[DeltaTable, object]] = self._local.__dict__.setdefault(
            "handles", {}
        )
        stamp = self._creation_stamp(table)
        cached = handles.get((table, version))
        if cached is not None and stamp is not None and cached[1] == stamp:
            handle = cached[0]
            # Commit files appear atomically and in order: without the next one there is nothing newer,
            # and one existence check spares the log listing an update costs.
            if version is None and self._storage.has_commit(table, handle.version() + 1):
                handle.update_incremental()
            return handle
        latest = handles.get((table, None))
        if version is not None and latest is not None and latest[1] == stamp and latest[0].version() == version:
            return latest[0]  # the latest snapshot is the version asked for: no need to replay the log again
        if len(handles) > _MAX_HANDLES:
            handles.clear()
        handle = self._open(table, version=version)
        handles[table, version] = (handle, stamp)
        return handle

    def _creation_stamp(self, table: str) -> object:
        """`Storage.creation_stamp`, taken again on an object store only once the last look is
        `_STAMP_FRESH_SECONDS` old.

        There it costs two requests, and one command reads the same table dozens of times. A table
        deleted and written anew (a restore, or tampering) is then noticed that much later by this
        thread; new commits are not: every read of the latest state still looks for the next commit.
        """
        if not self._storage.is_remote:
            return self._storage.creation_stamp(table)
        stamps: dict[str, tuple[object, float]] = self._local.__dict__.setdefault("stamps", {})
        now = time.monotonic()
        seen = stamps.get(table)
        if seen is not None and seen[0] is not None and now - seen[1] < _STAMP_FRESH_SECONDS:
            return seen[0]
        stamp = self._storage.creation_stamp(table)
        stamps[table] = (stamp, now)
        return stamp

    def _latest_at(self, table: str, version: int) -> DeltaTable | None:
        """This thread's handle on the latest snapshot of `table`, if it is at `version` (no storage look)."""
        cached = self._local.__dict__.get("handles", {}).get((table, None))
        return cached[0] if cached is not None and cached[0].version() == version else None

    def _has_handle(self, table: str) -> bool:
        return (table, None) in self._local.__dict__.get("handles", {})

    def forget_handles(self) -> None:
        """Drop cached handles, so the next read replays the log from storage (used by verification)."""
        self._local.__dict__.pop("handles", None)
        self._local.__dict__.pop("stamps", None)

    def version(self, table: str) -> int:
        return self._handle(table).version()

    def table_id(self, table: str, *, version: int | None = None) -> str:
        """The id of this creation of `table` (a table deleted and written anew gets a new one)."""
        return str(self._handle(table, version=version).metadata().id)

    def snapshot_id(self, table: str, *, version: int | None = None) -> tuple[int, str] | None:
        """The version (the latest, or `version`) and creation id of `table` from one look at storage;
        None when the table does not exist."""
        try:
            handle = self._handle(table, version=version)
        except NotFoundError:
            if not self.exists(table):
                return None
            raise
        return handle.version(), str(handle.metadata().id)

    def commit_rows(self, table: str) -> dict[str, tuple[int, int]]:
        """The version each run committed to `table` and the rows that commit added, by run id."""
        try:
            history = self._handle(table).history()
        except DeltaError as error:
            raise MlgovError(f"the history of table {table!r} cannot be read: {first_line(error)}") from None
        found: dict[str, tuple[int, int]] = {}
        for commit in history:
            run_id = str(commit.get("mlgov.run_id") or "")
            rows = (commit.get("operationMetrics") or {}).get("num_added_rows")
            if run_id and "," not in run_id and rows is not None:
                found[run_id] = (int(commit["version"]), int(rows))
        return found

    def commit_versions(self, table: str) -> dict[str, int]:
        """The version each run committed to `table`, by run id (its last commit, if several), as far
        as the log still holds it: commits without mlgov metadata and expired log entries are left out."""
        try:
            history = self._handle(table).history()
        except DeltaError as error:
            raise MlgovError(f"the history of table {table!r} cannot be read: {first_line(error)}") from None
        versions: dict[str, int] = {}
        for commit in sorted(history, key=lambda entry: int(entry["version"])):
            for run_id in str(commit.get("mlgov.run_id") or "").split(","):
                if run_id:
                    versions[run_id] = int(commit["version"])
        return versions

    def schema(self, table: str) -> pl.Schema:
        return self.scan(table).collect_schema()

    def scan(self, table: str, *, version: int | None = None) -> pl.LazyFrame:
        """The table lazily; without `version`, collecting reads the latest state at that moment.

        A declared table written before a nullable column was added to its schema reads that
        column as nulls, so readers see one schema whatever release wrote the table.
        """
        # A table this thread holds a handle on is checked by `_handle` anyway: spare the existence check.
        if not self._has_handle(table) and not self.exists(table):
            if table in SCHEMAS:
                return pl.LazyFrame(schema=SCHEMAS[table])
            raise NotFoundError(f"table {table!r} does not exist in the lakehouse")
        try:
            handle = self._handle(table, version=version)
        except NotFoundError:
            if table in SCHEMAS and not self.exists(table):  # deleted since this thread last read it
                return pl.LazyFrame(schema=SCHEMAS[table])
            raise
        frame = pl.scan_delta(handle)
        declared = SCHEMAS.get(table)
        if declared is not None:
            present = frame.collect_schema()
            added = [pl.lit(None, dtype=dtype).alias(name) for name, dtype in declared.items() if name not in present]
            if added:
                frame = frame.with_columns(added)
        return frame

    def arrow_source(self, table: str) -> pa.Table | pa.dataset.Dataset:
        """A lazily read Arrow dataset of the table (an empty table for a declared one not yet written)."""
        if not self.exists(table) and table in SCHEMAS:
            return pl.DataFrame(schema=SCHEMAS[table]).to_arrow()
        return self._handle(table).to_pyarrow_dataset()

    def read(self, table: str, *, version: int | None = None, columns: Sequence[str] | None = None) -> pl.DataFrame:
        frame = self.scan(table, version=version)
        if columns is not None:
            frame = frame.select(columns)
        return frame.collect()

    def list_tables(self, prefix: str) -> list[str]:
        return self._storage.tables_under(prefix)

    def append(self, table: str, frame: pl.DataFrame, *, commit: CommitInfo) -> WriteResult:
        return self._write(table, frame, commit=commit, mode="append")

    def overwrite(self, table: str, frame: pl.DataFrame, *, commit: CommitInfo) -> WriteResult:
        if table in APPEND_ONLY:
            raise InputError(f"table {table!r} is append-only and cannot be overwritten")
        return self._write(table, frame, commit=commit, mode="overwrite")

    def append_at_version(
        self, table: str, frame: pl.DataFrame, *, expected_version: int | None, commit: CommitInfo
    ) -> WriteResult:
        """Append only if the table is still at `expected_version` (None: it must not exist yet).

        A compare-and-swap: delta-rs would otherwise rebase a blind append onto whatever was
        committed in between. Raises ConflictError when another writer got there first.
        """
        frame = self._conform(table, frame)
        self._append_at(table, frame.to_arrow(), expected_version=expected_version, commit=commit)
        return self._result(table, frame.height, commit)

    def _append_at(
        self, table: str, data: pa.Table | pa.RecordBatchReader, *, expected_version: int | None, commit: CommitInfo
    ) -> None:
        try:
            if expected_version is None:
                self._storage.write(
                    table,
                    data,
                    mode="error",
                    partition_by=PARTITIONS.get(table),
                    configuration=_APPEND_ONLY_CONFIG if table in APPEND_ONLY else None,
                    commit_properties=commit.properties(retries=0),
                )
            else:
                merge = self._lacks_declared_columns(table)
                # The cached latest snapshot when it is the expected version (nothing reads in between,
                # and writing moves it on to the version written); else a handle pinned at that version.
                self._storage.write(
                    self._latest_at(table, expected_version) or self._open(table, version=expected_version),
                    data,
                    mode="append",
                    schema_mode="merge" if merge else None,
                    commit_properties=commit.properties(retries=0),
                )
        except CommitFailedError:
            raise ConflictError(f"table {table!r} changed while writing; retry") from None
        except DeltaError as error:
            if expected_version is None and "exists" in str(error).lower():
                raise ConflictError(f"table {table!r} was created while writing; retry") from None
            raise MlgovError(f"writing table {table!r} failed: {first_line(error)}") from None

    def append_once(
        self, table: str, frame: pl.DataFrame, *, commit: CommitInfo, present: Callable[[pl.LazyFrame], bool]
    ) -> WriteResult | None:
        """Append `frame` unless `present(table)` says its rows are already there (a rerun, or another
        writer doing the same): a compare-and-swap on the version `present` looked at, so two writers
        racing to write the same rows write them once. Returns None when nothing was written."""
        for _ in range(_ONCE_ATTEMPTS):
            version = self.version(table) if self.exists(table) else None
            if version is not None and present(self.scan(table, version=version)):
                return None
            try:
                return self.append_at_version(table, frame, expected_version=version, commit=commit)
            except ConflictError:
                continue
        raise MlgovError(f"could not append to table {table!r}: other writers kept winning")

    def append_stream_once(
        self,
        table: str,
        frames: Callable[[], Iterator[pl.DataFrame]],
        *,
        commit: CommitInfo,
        present: Callable[[pl.LazyFrame], bool],
    ) -> WriteResult | None:
        """`append_once` for rows that arrive in frames, too many to hold at once: each frame is written
        to the table's files as it comes and one commit at the end makes them all visible, so readers
        see every row or none (a writer that dies midway leaves files no commit names). `frames()` starts
        the stream, again if another writer committed first; it yields at least one frame."""
        for _ in range(_ONCE_ATTEMPTS):
            version = self.version(table) if self.exists(table) else None
            if version is not None and present(self.scan(table, version=version)):
                return None
            try:
                return self._append_stream(table, frames(), expected_version=version, commit=commit)
            except ConflictError:
                continue
        raise MlgovError(f"could not append to table {table!r}: other writers kept winning")

    def _append_stream(
        self, table: str, frames: Iterator[pl.DataFrame], *, expected_version: int | None, commit: CommitInfo
    ) -> WriteResult:
        first = self._conform(table, next(frames)).to_arrow()
        rows = 0
        failed: list[BaseException] = []

        def batches() -> Iterator[pa.RecordBatch]:
            nonlocal rows
            try:
                for data in itertools.chain([first], (self._conform(table, frame).to_arrow() for frame in frames)):
                    yield from data.cast(first.schema).to_batches()
                    rows += data.num_rows
            except BaseException as error:
                failed.append(error)  # delta-rs sees only that the stream broke: keep what broke it
                raise

        try:
            self._append_at(
                table,
                pa.RecordBatchReader.from_batches(first.schema, batches()),
                expected_version=expected_version,
                commit=commit,
            )
        except MlgovError:
            if failed:
                raise failed[0] from None
            raise
        return self._result(table, rows, commit)

    def _write(
        self,
        table: str,
        frame: pl.DataFrame,
        *,
        commit: CommitInfo,
        mode: Literal["append", "overwrite"],
    ) -> WriteResult:
        frame = self._conform(table, frame)
        exists = self.exists(table)
        try:
            self._storage.write(
                # an existing table through its cached handle: writing by name would replay its log again
                self._handle(table) if exists else table,
                frame.to_arrow(),
                mode=mode,
                schema_mode="merge" if exists and self._lacks_declared_columns(table) else None,
                partition_by=PARTITIONS.get(table) if not exists else None,
                configuration=_APPEND_ONLY_CONFIG if table in APPEND_ONLY and not exists else None,
                commit_properties=commit.properties(),
            )
        except DeltaError as error:
            raise MlgovError(f"writing table {table!r} failed: {first_line(error)}") from None
        return self._result(table, frame.height, commit)

    def maintain(
        self,
        table: str,
        *,
        commit: CommitInfo,
        vacuum: bool,
        keep_versions: Sequence[int] = (),
        retention_hours: int,
        target_size: int | None = None,
    ) -> TableMaintenance:
        """Compact `table`'s small files, write a checkpoint of its log, and (with `vacuum`) delete the
        files no version within `retention_hours` nor any of `keep_versions` needs. Compacted files
        grow to `target_size` bytes (default: the table's own target, else delta-rs's).

        Safe while writers append: compaction commits with Delta's optimistic concurrency (an append
        never conflicts with it; the compare-and-swap writers of the audit trail lose one race and
        re-chain), and only rewrites rows, never changes them.
        """
        try:
            handle = self._open(table)
            before = len(handle.file_uris())
            handle.optimize.compact(
                target_size=target_size or _COMPACT_TARGET_BYTES.get(table),
                commit_properties=commit.properties(),
                post_commithook_properties=KEEP_LOG,
            )
            handle.update_incremental()
            handle.create_checkpoint()
            vacuumed = None
            if vacuum:
                deleted = handle.vacuum(
                    retention_hours=retention_hours,
                    dry_run=False,
                    keep_versions=list(keep_versions),
                    commit_properties=commit.properties(),
                    post_commithook_properties=KEEP_LOG,
                )
                vacuumed = len(deleted)
            handle.update_incremental()
            return TableMaintenance(
                table=table,
                files_before=before,
                files_after=len(handle.file_uris()),
                checkpoint_version=handle.version(),
                vacuumed_files=vacuumed,
                kept_versions=tuple(keep_versions),
            )
        except DeltaError as error:
            raise MlgovError(f"maintaining table {table!r} failed: {first_line(error)}") from None

    def _checkpoint_if_due(self, table: str, handle: DeltaTable) -> None:
        try:
            self._storage.checkpoint_if_due(handle)
        except DeltaError as error:
            raise MlgovError(f"writing a checkpoint of table {table!r} failed: {first_line(error)}") from None

    def _lacks_declared_columns(self, table: str) -> bool:
        """Whether the stored table predates a nullable column its declared schema has since gained."""
        declared = SCHEMAS.get(table)
        if declared is None:
            return False
        stored = {field.name for field in self._handle(table).schema().fields}
        return any(name not in stored for name in declared)

    def _conform(self, table: str, frame: pl.DataFrame) -> pl.DataFrame:
        """The frame cast to the table's schema, or an InputError naming the first mismatch."""
        expected = SCHEMAS.get(table) or (self.schema(table) if self.exists(table) else None)
        if expected is None:
            return _utc(frame)
        missing = [c for c in expected if c not in frame.columns]
        extra = [c for c in frame.columns if c not in expected]
        if missing:
            raise InputError(f"table {table!r}: column {missing[0]!r} is missing (expected {', '.join(expected)})")
        if extra:
            raise InputError(
                f"table {table!r}: column {extra[0]!r} is not in the table (expected {', '.join(expected)})"
            )
        columns = []
        for name, dtype in expected.items():
            got = frame.schema[name]
            if got == dtype or got == pl.Null:
                columns.append(pl.col(name).cast(dtype))
                continue
            if not _castable(got, dtype):
                raise InputError(f"table {table!r}: column {name!r} has type {got}, expected {dtype}")
            columns.append(pl.col(name).cast(dtype, strict=True))
        try:
            return _utc(frame).select(columns)
        except pl.exceptions.PolarsError as error:
            raise InputError(f"table {table!r}: values do not fit the schema: {first_line(error)}") from None

    def _result(self, table: str, rows: int, commit: CommitInfo) -> WriteResult:
        """What a write added: its version and the bytes of the files its commit added (read from that
        one commit, not by listing the table's files before and after)."""
        handle = self._handle(table)
        version = handle.version()
        self._checkpoint_if_due(table, handle)
        for candidate in range(version, max(version - _COMMIT_LOOKBACK, -1), -1):
            added = self._storage.commit_added_bytes(table, candidate, run_id=commit.run_id)
            if added is not None:
                return WriteResult(table=table, version=candidate, rows=rows, bytes_written=added)
        return WriteResult(table=table, version=version, rows=rows, bytes_written=0)


@dataclass(frozen=True)
class TableMaintenance:
    """What maintaining one table did: data files before and after compaction, the checkpoint written,
    and the files vacuum deleted (None when the table is not vacuumed)."""

    table: str
    files_before: int
    files_after: int
    checkpoint_version: int
    vacuumed_files: int | None
    kept_versions: tuple[int, ...]


_MAX_HANDLES = 256
# `mlgov audit verify` reads the trail a whole data file at a time: compacted into files of about
# 35,000 records it stays in bounded memory at any length (delta-rs's 100 MB files hold 400,000).
_COMPACT_TARGET_BYTES = {AUDIT: 8 * 1024**2}
_STAMP_FRESH_SECONDS = 1.0
_ONCE_ATTEMPTS = 50
_COMMIT_LOOKBACK = 8  # commits by other writers that may land between our write and reading the version
_APPEND_ONLY_CONFIG: dict[str, str | None] = {"delta.appendOnly": "true"}


def _castable(got: pl.DataType, expected: pl.DataType) -> bool:
    if got.is_integer() and (expected.is_integer() or expected.is_float()):
        return True
    if got.is_float() and expected.is_float():
        return True
    return isinstance(got, pl.Datetime) and isinstance(expected, pl.Datetime)


def _utc(frame: pl.DataFrame) -> pl.DataFrame:
    """Timestamps stored as UTC; naive ones are refused rather than guessed."""
    casts = []
    for name, dtype in frame.schema.items():
        if isinstance(dtype, pl.Datetime):
            if dtype.time_zone is None:
                raise InputError(f"column {name!r} holds timestamps without a time zone")
            casts.append(pl.col(name).dt.convert_time_zone("UTC").dt.cast_time_unit("us"))
    return frame.with_columns(casts) if casts else frame
