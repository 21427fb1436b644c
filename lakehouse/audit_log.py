"""The audit trail on Delta: append-only, hash-chained, serialized across writers.

Delta blind appends never conflict, so two writers that read the same tip would both append the
same sequence number. Each append is a compare-and-swap on the table version (no automatic
retry): a writer that loses the race re-reads the tip and re-chains its record. A file lock keeps
local writers from spinning against each other; correctness does not depend on it.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import polars as pl

from governance.audit import AuditEntry, AuditRecord, ChainVerdict, chain, verify_chain
from governance.errors import ConflictError, MlgovError
from lakehouse.delta import CommitInfo, DeltaStore
from lakehouse.schemas import AUDIT

_MAX_ATTEMPTS = 100


class AuditLog:
    def __init__(self, store: DeltaStore, *, lock_path: Path) -> None:
        self._store = store
        self._lock_path = lock_path
        self._last_written: tuple[int, AuditRecord] | None = None  # (table version, record)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self._lock_path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock_path.open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def append(self, entry: AuditEntry, *, commit: CommitInfo) -> AuditRecord:
        """Chain `entry` after the current tip and append it; returns the stored record."""
        with self._locked():
            for _ in range(_MAX_ATTEMPTS):
                version = self._store.version(AUDIT) if self._store.exists(AUDIT) else None
                tip = self._tip(version)
                record = chain(entry, after=tip)
                try:
                    written = self._store.append_at_version(
                        AUDIT, _frame([record]), expected_version=version, commit=commit
                    )
                except ConflictError:
                    continue
                self._last_written = (written.version, record)
                return record
        raise MlgovError(f"could not append to the audit trail after {_MAX_ATTEMPTS} attempts")

    def _tip(self, version: int | None) -> AuditRecord | None:
        if version is None:
            return None
        if self._last_written is not None and self._last_written[0] == version:
            return self._last_written[1]  # nobody wrote since our last append: no need to scan
        last = self._store.scan(AUDIT, version=version).sort("seq", descending=True).head(1).collect()
        return _records(last)[0] if last.height else None

    def records(self) -> list[AuditRecord]:
        """Every record as storage holds it now (no cached table state, so tampering shows)."""
        self._store.forget_handles()
        return _records(self._store.read(AUDIT).sort("seq"))

    def verify(self) -> ChainVerdict:
        return verify_chain(self.records())


def _frame(records: list[AuditRecord]) -> pl.DataFrame:
    return pl.DataFrame([{"seq": r.seq, **r.entry.__dict__, "prev_hash": r.prev_hash, "hash": r.hash} for r in records])


def _records(frame: pl.DataFrame) -> list[AuditRecord]:
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
