"""The audit table as its committing writer sees it: the tip of the chain, and compare-and-swap appends.

Delta blind appends never conflict, so two writers that read the same tip would both append the same
sequence number. Every commit to the audit table is a compare-and-swap on the table version (no
automatic retry): a writer that loses the race re-reads the tip and re-chains its records.

The tip is read from the one data file whose Delta statistics say it holds the highest sequence
number, not by scanning the table; it is not read at all when the table is still at the version this
writer committed itself.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl
from deltalake import DeltaTable
from deltalake.exceptions import CommitFailedError, DeltaError

from governance.audit.chain import AuditRecord
from governance.errors import ConflictError, MlgovError
from lakehouse.audit.snapshot import data_files, frame_of, read_files, records_of
from lakehouse.delta import CommitInfo, DeltaStore
from lakehouse.schemas import AUDIT

_REOPEN_AFTER = 200  # versions: a handle updated incrementally slows down as its log segments pile up


class AuditTail:
    """The audit table as the committing writer sees it: one handle, brought up to date incrementally.

    DeltaStore.append_at_version opens a handle pinned at the expected version and lists the table's
    files before and after each write; at thousands of commits that costs more than the write itself.
    The audit trail appends on a hot, serialized path, so it keeps its own handle.
    """

    def __init__(self, store: DeltaStore) -> None:
        self._store = store
        self._storage = store.storage
        self._where = self._storage.uri(AUDIT)
        self._handle: DeltaTable | None = None
        self._stamp: object = None
        self._opened_version = 0
        self._ours: tuple[int, AuditRecord] | None = None  # the version this writer made, and its tip

    def version(self) -> int | None:
        """The table's current version (None if it does not exist yet)."""
        stamp = self._storage.creation_stamp(AUDIT)
        if stamp is None:
            # No first commit file: no table, or its oldest log was cleaned up, when identity is unknown.
            self._ours = None
            if not self._store.exists(AUDIT):
                self._handle = None
                return None
            return self._open(stamp)
        if self._handle is None or stamp != self._stamp:
            self._ours = None  # a table deleted and written anew is not the one this writer appended to
            return self._open(stamp)
        current = self._handle.version()
        if current - self._opened_version > _REOPEN_AFTER:
            return self._open(stamp)
        if not self._storage.has_commit(AUDIT, current + 1):
            # No newer commit (commit files appear atomically): spare the log listing an update costs.
            # Should one land right now, the compare-and-swap refuses this writer's commit anyway.
            return current
        try:
            self._handle.update_incremental()
        except DeltaError as error:
            raise MlgovError(f"the audit table at {self._where} cannot be read: {error}") from None
        return self._handle.version()

    def _open(self, stamp: object) -> int:
        try:
            self._handle = self._storage.open(AUDIT)
        except DeltaError as error:
            raise MlgovError(f"the audit table at {self._where} cannot be opened: {error}") from None
        self._stamp = stamp
        self._opened_version = self._handle.version()
        return self._opened_version

    def tip(self, version: int) -> AuditRecord | None:
        """The record with the highest sequence number at `version` (the table's current version)."""
        if self._ours is not None and self._ours[0] == version:
            return self._ours[1]  # nobody committed since this writer did
        files = data_files(self._required_handle(), where=self._where)
        if files.height == 0:
            return None
        # Only the file holding the highest seq is needed; files without statistics might hold it too.
        highest = files.filter(pl.col("last_seq").is_not_null()).sort("last_seq").tail(1)
        unknown = files.filter(pl.col("last_seq").is_null())
        frame = read_files(self._storage, pl.concat([highest, unknown])["path"].to_list())
        return records_of(frame.sort("seq").tail(1))[0] if frame.height else None

    def holds(self, record: AuditRecord) -> bool:
        """Whether the table holds exactly `record` (same seq and hash)."""
        files = data_files(self._required_handle(), where=self._where).filter(
            pl.col("first_seq").is_null()
            | pl.col("last_seq").is_null()
            | ((pl.col("first_seq") <= record.seq) & (pl.col("last_seq") >= record.seq))
        )
        frame = read_files(self._storage, files["path"].to_list())
        return frame.filter((pl.col("seq") == record.seq) & (pl.col("hash") == record.hash)).height > 0

    def commit(self, version: int | None, records: Sequence[AuditRecord], *, commit: CommitInfo) -> None:
        """Append `records` only if the table is still at `version`; ConflictError if it moved."""
        frame = frame_of(records)
        if version is None:
            # Creating the table is rare: the general path sets it append-only and refuses a race.
            self._store.append_at_version(AUDIT, frame, expected_version=None, commit=commit)
            self._ours = None
            return
        # no retry: a rebased append would fork the chain, so lose the race instead
        properties = commit.properties(retries=0)
        try:
            self._storage.write(self._required_handle(), frame.to_arrow(), mode="append", commit_properties=properties)
        except CommitFailedError:
            raise ConflictError("the audit table changed while writing; retry") from None
        except DeltaError as error:
            raise MlgovError(f"writing the audit trail failed: {error}") from None
        self._ours = (version + 1, records[-1])
        try:
            self._storage.checkpoint_if_due(self._required_handle())
        except DeltaError as error:  # the records are committed; only a later open is slower
            raise MlgovError(f"the audit trail is written, but its checkpoint failed: {error}") from None

    def _required_handle(self) -> DeltaTable:
        if self._handle is None:
            raise MlgovError(f"the audit table at {self._where} is not open")
        return self._handle
