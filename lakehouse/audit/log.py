"""The audit trail on Delta: append-only, hash-chained, serialized across writers, sealed from outside.

Appends are serialized by the table writer's compare-and-swap (`writer`): on an object store Delta's
conditional commits alone do it. On local disk, the writers of one machine are also batched into
group commits through a spool (`spool`), an optimization that needs file locks. Reads and verification go
through a snapshot read afresh from storage (`snapshot`).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import polars as pl

from governance.audit.chain import AuditEntry, AuditRecord, chain, record_hash
from governance.audit.verify import AuditVerdict, sealed_seqs
from governance.errors import ConflictError, InputError, MlgovError, PolicyViolation
from lakehouse.audit.scan import scan_trail, verify_reading
from lakehouse.audit.snapshot import Snapshot, read_snapshot
from lakehouse.audit.spool import Placed, Spool, Ticket, locked, wait_for_batch
from lakehouse.audit.writer import AuditTail
from lakehouse.delta import CommitInfo, DeltaStore
from lakehouse.seals import Seal, SealStore

_MAX_ATTEMPTS = 100
_BATCH_LIMIT = 500  # entries per Delta commit


class AuditLog:
    """The audit trail: append (serialized, group-committed), read, verify, seal."""

    def __init__(self, store: DeltaStore, *, lock_path: Path | None, seals: SealStore | None = None) -> None:
        """`lock_path`: where the writers of this machine lock and spool; None (an object store, where
        writers on many machines share the table) commits each append on its own, Delta's conditional
        commit serializing them."""
        self._store = store
        self._grouped = lock_path is not None
        lock_path = lock_path or Path("audit.lock")  # never touched when not grouped
        self._lock_path = lock_path
        # Held while a batch is in flight; waiting writers queue on it shared, so they all wake at once.
        self._batch_lock_path = lock_path.with_name(f"{lock_path.name}.batch")
        self._spool = Spool(lock_path.parent / f"{lock_path.stem}.spool")
        self._tail = AuditTail(store)
        self._seals = seals

    @property
    def store(self) -> DeltaStore:
        return self._store

    @property
    def seals(self) -> SealStore:
        if self._seals is None:
            raise InputError("no seal store is configured for this audit trail: set MLGOV_AUDIT_SEALS")
        return self._seals

    # --- appending ------------------------------------------------------------------------------

    def append(self, entry: AuditEntry, *, commit: CommitInfo) -> AuditRecord:
        """Chain `entry` after the current tip and append it; returns the stored record.

        Returns once the record is committed, by this writer or by one that took it from the spool.
        Raises when it cannot be, and then leaves nothing behind for a later writer to commit.
        """
        if not self._grouped:
            return self.transact(lambda _version: [entry], commit=commit)[0]
        ticket = self._spool.submit(entry, commit)
        try:
            placed = self._await(ticket)
        except BaseException:
            self._spool.withdraw(ticket)
            raise
        record = AuditRecord(seq=placed.seq, entry=entry, prev_hash=placed.prev_hash, hash=placed.hash)
        if record_hash(seq=record.seq, entry=entry, prev_hash=record.prev_hash) != record.hash:
            raise MlgovError(
                f"the audit spool returned a record {record.seq} that does not match event {entry.event_id}"
            )
        return record

    def append_many(self, entries: Sequence[AuditEntry], *, commit: CommitInfo) -> list[AuditRecord]:
        """Chain `entries`, in the order given, after the current tip and append them in one commit.

        For bulk loads (an import, a generated lakehouse): the entries skip the spool, whose file per
        entry would cost more than the commit. It holds the writers' lock, so single appends wait.
        """
        if not entries:
            return []
        with self._writers_lock():
            for attempt in range(_MAX_ATTEMPTS):
                version = self._tail.version()
                tip = self._tail.tip(version) if version is not None else None
                records = []
                for entry in entries:
                    tip = chain(entry, after=tip)
                    records.append(tip)
                try:
                    self._tail.commit(version, records, commit=commit)
                except ConflictError:
                    self._back_off(attempt)
                    continue  # a writer without the lock (another host's process) got there first
                except Exception:
                    if self._landed(records[0]):
                        return records
                    raise
                return records
        raise MlgovError(
            f"could not append to the audit trail after {_MAX_ATTEMPTS} attempts: other writers kept winning"
        )

    def transact(
        self, decide: Callable[[int | None], Sequence[AuditEntry]], *, commit: CommitInfo
    ) -> list[AuditRecord]:
        """Append the entries `decide` returns for the audit table's current version, atomically.

        `decide` reads whatever state it needs at the version it is given (None: no table yet) and
        returns the entries to append, or raises to refuse. The append is a compare-and-swap on that
        version: when another writer got there first, `decide` runs again on the new state. So a
        decision is never taken on a state that changed before it was recorded. Holds the writers'
        lock, so on one machine no other append interleaves.
        """
        with self._writers_lock():
            for attempt in range(_MAX_ATTEMPTS):
                version = self._tail.version()
                entries = list(decide(version))
                if not entries:
                    return []
                tip = self._tail.tip(version) if version is not None else None
                records = []
                for entry in entries:
                    tip = chain(entry, after=tip)
                    records.append(tip)
                try:
                    self._tail.commit(version, records, commit=commit)
                except ConflictError:
                    self._back_off(attempt)
                    continue  # the state may have changed: decide again
                except Exception:
                    if self._landed(records[0]):
                        return records
                    raise
                return records
        raise MlgovError(
            f"could not append to the audit trail after {_MAX_ATTEMPTS} attempts: other writers kept winning"
        )

    @contextmanager
    def _writers_lock(self) -> Iterator[None]:
        """On local disk, the lock no other append of this machine interleaves with; else nothing."""
        if not self._grouped:
            yield
            return
        with locked(self._lock_path, wait=True):
            self._finish_interrupted_batch()
            yield

    def _back_off(self, attempt: int) -> None:
        """After losing a commit race without a local lock: wait a little, at random, so racing
        writers spread out instead of colliding again on the next version."""
        if not self._grouped:
            time.sleep(random.uniform(0, min(0.01 * 2**attempt, 0.5)))

    def _await(self, ticket: str) -> Placed:
        """The ticket's result, committing the waiting entries whenever no other writer is doing so.

        Waiting writers do not queue on the writers' lock: queued there, the writers of one batch
        would wake one at a time, each behind the next batch's whole commit. They wait on the batch
        lock, shared, and all look for their result as soon as the batch in flight is settled.
        """
        while True:
            # A result appears atomically and only its own writer reads it: looking needs no lock.
            placed = self._spool.take_result(ticket)
            if placed is not None:
                return placed
            with locked(self._lock_path, wait=False) as leading:
                if leading:
                    placed = self._spool.take_result(ticket)
                    while placed is None:
                        placed = self._commit_waiting(own=ticket)
                    return placed
            wait_for_batch(self._batch_lock_path)

    def _commit_waiting(self, *, own: str) -> Placed | None:
        """Commit the oldest waiting entries in one Delta commit; the result for `own` if it was among them."""
        self._finish_interrupted_batch()
        # The writers of the last batch notice their results only while the batch lock is free: let
        # them, and let them submit their next entries, before taking it. On a busy machine a woken
        # writer can wait long for a CPU; without this, batches shrink to whoever was quickest.
        self._spool.await_pickup()
        with locked(self._batch_lock_path, wait=True):
            self._spool.gather()
            tickets = self._spool.pending(limit=_BATCH_LIMIT)
            if not any(t.name == own for t in tickets) and not self._spool.is_pending(own):
                placed = self._spool.take_result(own)
                if placed is None:
                    raise MlgovError(
                        f"audit entry {own} left the spool without being committed: run mlgov audit verify"
                    )
                return placed
            started = time.monotonic()
            records = self._commit(tickets)
            return self._spool.settle(tickets, records, own=own, seconds=time.monotonic() - started)

    def _commit(self, tickets: Sequence[Ticket]) -> list[AuditRecord]:
        commit = _merged(t.commit for t in tickets)
        for _ in range(_MAX_ATTEMPTS):
            version = self._tail.version()
            tip = self._tail.tip(version) if version is not None else None
            records = []
            for ticket in tickets:
                tip = chain(ticket.entry, after=tip)
                records.append(tip)
            self._spool.record_intent(tickets, records)
            try:
                self._tail.commit(version, records, commit=commit)
            except ConflictError:
                self._spool.clear_intent()
                continue
            except Exception:
                # The commit may have landed before the error surfaced: never commit these entries twice.
                if self._landed(records[0]):
                    return records
                self._spool.clear_intent()
                raise
            return records
        raise MlgovError(
            f"could not append to the audit trail after {_MAX_ATTEMPTS} attempts: other writers kept winning"
        )

    def _landed(self, first: AuditRecord) -> bool:
        try:
            return self._tail.version() is not None and self._tail.holds(first)
        except MlgovError:
            return False

    def _finish_interrupted_batch(self) -> None:
        """A writer died between writing its intent and settling: settle the batch if its commit landed."""
        intent = self._spool.intent()
        if intent is None:
            return
        names, records = intent
        if records and self._landed(records[0]):
            self._spool.settle_names(names, records)
        self._spool.clear_intent()

    # --- reading, verifying, sealing ------------------------------------------------------------

    def records(self) -> list[AuditRecord]:
        """Every record as storage holds it now, in sequence order (read afresh, so tampering shows)."""
        return self._readable().records

    def frame(self) -> pl.DataFrame:
        """The records of `records()` as one frame (columns as stored): for reading a long trail whole."""
        return self._readable().frame

    def _readable(self) -> Snapshot:
        snapshot = read_snapshot(self._store.storage)
        if snapshot.unreadable:
            part = snapshot.unreadable[0]
            raise MlgovError(f"audit data file {part.location} cannot be read: run mlgov audit verify")
        return snapshot

    def verify(self) -> AuditVerdict:
        """Check the chain, the data files it was read from and every seal; name the first bad record.

        Streams the records (`lakehouse.audit.scan`): memory stays bounded however long the trail.
        """
        seals = self._seals.read() if self._seals is not None else []
        try:
            reading = scan_trail(self._store.storage, sealed=sealed_seqs(seals))
            return verify_reading(self._store.storage, reading, seals=seals)
        except MlgovError as error:
            return AuditVerdict(
                ok=False,
                records=0,
                first_bad_seq=None,
                problem=str(error),
                sealed_through=None,
                unsealed_records=0,
                seals=len(seals),
            )

    def seal(self, *, at: datetime) -> Seal:
        """Verify the trail, then sign and store a seal of its tip; refuses to seal a trail that does not verify."""
        seals = self.seals
        readings = seals.read()
        reading = scan_trail(self._store.storage, sealed=sealed_seqs(readings))
        verdict = verify_reading(self._store.storage, reading, seals=readings)
        if not verdict.ok:
            where = f" at record {verdict.first_bad_seq}" if verdict.first_bad_seq is not None else ""
            raise PolicyViolation(f"the audit trail does not verify{where}, so it is not sealed: {verdict.problem}")
        if reading.table is None or reading.tip is None:
            raise InputError("nothing to seal: the audit trail is empty")
        return seals.add(
            tip=reading.tip,
            delta_version=reading.table.version,
            table_id=reading.table.table_id,
            at=at,
        )


def _merged(commits: Iterable[CommitInfo]) -> CommitInfo:
    """One commit's metadata for a batch: each field lists its distinct values, in batch order."""
    collected = list(commits)

    def distinct(values: Iterable[str]) -> str:
        return ",".join(dict.fromkeys(values))

    return CommitInfo(
        run_id=distinct(c.run_id for c in collected),
        job=distinct(c.job for c in collected),
        actor=distinct(c.actor for c in collected),
    )
