"""The audit trail on Delta: append-only, hash-chained, serialized across writers, sealed from outside.

Delta blind appends never conflict, so two writers that read the same tip would both append the
same sequence number. Every commit to the audit table is a compare-and-swap on the table version
(no automatic retry): a writer that loses the race re-reads the tip and re-chains its records.

Writers on one machine also share two file locks and a spool directory beside them: group commit.
A writer drops its entry in the spool. If no other writer is committing, it takes the writers' lock
and commits every entry waiting in the spool in one Delta commit; otherwise it waits for the batch
in flight and picks up its result, or leads the next batch. Each Delta commit lists the table's log,
so under contention one N-row commit instead of N one-row commits is what keeps appends fast. An
intent file written before each commit lets the next writer finish a batch whose writer died, so an
entry is never committed twice nor silently dropped. Neither the locks nor the spool are needed for
correctness against writers elsewhere: the compare-and-swap is.

The tip is read from the one data file whose Delta statistics say it holds the highest sequence
number, not by scanning the table; it is not read at all when the table is still at the version
this writer committed itself.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import polars as pl
from deltalake import CommitProperties, DeltaTable, write_deltalake
from deltalake.exceptions import CommitFailedError, DeltaError

from governance.audit import (
    AuditEntry,
    AuditRecord,
    AuditVerdict,
    TableState,
    UnreadablePart,
    chain,
    record_hash,
    verify_trail,
)
from governance.errors import ConflictError, InputError, MlgovError, PolicyViolation
from lakehouse.delta import CommitInfo, DeltaStore
from lakehouse.schemas import AUDIT, SCHEMAS
from lakehouse.seals import Seal, SealStore

_MAX_ATTEMPTS = 100
_BATCH_LIMIT = 500  # entries per Delta commit
_REOPEN_AFTER = 200  # versions: a handle updated incrementally slows down as its log segments pile up
_IDLE_PAUSE = 0.0005  # seconds
_GATHER_STEP = 0.001  # seconds
# A leader waits at most this share of the last commit's duration, within these bounds (seconds), for
# the last batch's writers to pick up their results and again for their next entries.
_GATHER_SHARE, _GATHER_MIN, _GATHER_MAX = 0.5, 0.005, 0.05
_STALE_SECONDS = 3600  # results nobody collected (their writer died) are removed after this long
_SCHEMA = SCHEMAS[AUDIT]


class AuditLog:
    """The audit trail: append (serialized, group-committed), read, verify, seal."""

    def __init__(self, store: DeltaStore, *, lock_path: Path, seals: SealStore | None = None) -> None:
        self._store = store
        self._lock_path = lock_path
        # Held while a batch is in flight; waiting writers queue on it shared, so they all wake at once.
        self._batch_lock_path = lock_path.with_name(f"{lock_path.name}.batch")
        self._spool = _Spool(lock_path.parent / f"{lock_path.stem}.spool")
        self._tail = _Tail(store)
        self._seals = seals

    @property
    def seals(self) -> SealStore:
        if self._seals is None:
            raise InputError("no seal store is configured for this audit trail: set MLGOV_AUDIT_SEALS")
        return self._seals

    @contextmanager
    def _locked(self, path: Path, *, wait: bool) -> Iterator[bool]:
        """Hold the lock at `path`; without `wait`, yields False at once if another writer holds it."""
        path.parent.mkdir(parents=True, exist_ok=True)
        # One open() per call: flock excludes other open file descriptions, so threads sharing this
        # object exclude each other too. The writer state (_tail) is only touched while locked.
        with path.open("a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _wait_for_batch(self) -> None:
        """Return once the batch in flight is settled; all writers waiting here wake together."""
        self._batch_lock_path.parent.mkdir(parents=True, exist_ok=True)
        with self._batch_lock_path.open("a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
                idle = True
            except BlockingIOError:
                fcntl.flock(handle, fcntl.LOCK_SH)
                idle = False
            fcntl.flock(handle, fcntl.LOCK_UN)
        if idle:  # a leader holds the writers' lock but has not started its batch yet: don't spin
            time.sleep(_IDLE_PAUSE)

    # --- appending ------------------------------------------------------------------------------

    def append(self, entry: AuditEntry, *, commit: CommitInfo) -> AuditRecord:
        """Chain `entry` after the current tip and append it; returns the stored record.

        Returns once the record is committed, by this writer or by one that took it from the spool.
        Raises when it cannot be, and then leaves nothing behind for a later writer to commit.
        """
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
        with self._locked(self._lock_path, wait=True):
            self._finish_interrupted_batch()
            for _ in range(_MAX_ATTEMPTS):
                version = self._tail.version()
                tip = self._tail.tip(version) if version is not None else None
                records = []
                for entry in entries:
                    tip = chain(entry, after=tip)
                    records.append(tip)
                try:
                    self._tail.commit(version, records, commit=commit)
                except ConflictError:
                    continue  # a writer without the lock (another host's process) got there first
                except Exception:
                    if self._landed(records[0]):
                        return records
                    raise
                return records
        raise MlgovError(
            f"could not append to the audit trail after {_MAX_ATTEMPTS} attempts: other writers kept winning"
        )

    def _await(self, ticket: str) -> _Placed:
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
            with self._locked(self._lock_path, wait=False) as leading:
                if leading:
                    placed = self._spool.take_result(ticket)
                    while placed is None:
                        placed = self._commit_waiting(own=ticket)
                    return placed
            self._wait_for_batch()

    def _commit_waiting(self, *, own: str) -> _Placed | None:
        """Commit the oldest waiting entries in one Delta commit; the result for `own` if it was among them."""
        self._finish_interrupted_batch()
        # The writers of the last batch notice their results only while the batch lock is free: let
        # them, and let them submit their next entries, before taking it. On a busy machine a woken
        # writer can wait long for a CPU; without this, batches shrink to whoever was quickest.
        self._spool.await_pickup()
        with self._locked(self._batch_lock_path, wait=True):
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

    def _commit(self, tickets: Sequence[_Ticket]) -> list[AuditRecord]:
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

    def _readable(self) -> _Snapshot:
        snapshot = _read_snapshot(self._store)
        if snapshot.unreadable:
            part = snapshot.unreadable[0]
            raise MlgovError(f"audit data file {part.location} cannot be read: run mlgov audit verify")
        return snapshot

    def verify(self) -> AuditVerdict:
        """Check the chain, the data files it was read from and every seal; name the first bad record."""
        seals = self._seals.read() if self._seals is not None else []
        try:
            snapshot = _read_snapshot(self._store)
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
        return verify_trail(snapshot.records, table=snapshot.table, unreadable=snapshot.unreadable, seals=seals)

    def seal(self, *, at: datetime) -> Seal:
        """Verify the trail, then sign and store a seal of its tip; refuses to seal a trail that does not verify."""
        seals = self.seals
        snapshot = _read_snapshot(self._store)
        verdict = verify_trail(
            snapshot.records, table=snapshot.table, unreadable=snapshot.unreadable, seals=seals.read()
        )
        if not verdict.ok:
            where = f" at record {verdict.first_bad_seq}" if verdict.first_bad_seq is not None else ""
            raise PolicyViolation(f"the audit trail does not verify{where}, so it is not sealed: {verdict.problem}")
        if snapshot.table is None or not snapshot.records:
            raise InputError("nothing to seal: the audit trail is empty")
        return seals.add(
            tip=snapshot.records[-1],
            delta_version=snapshot.table.version,
            table_id=snapshot.table.table_id,
            at=at,
        )


# --- the spool ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Ticket:
    name: str
    entry: AuditEntry
    commit: CommitInfo


@dataclass(frozen=True)
class _Placed:
    seq: int
    prev_hash: str
    hash: str


class _Spool:
    """Entries waiting for a commit, their results, and the batch in flight: one file each.

    Every file appears atomically (written aside, then renamed). Tickets are named by arrival time, so
    a batch keeps each writer's entries in the order it made them.
    """

    def __init__(self, directory: Path) -> None:
        self._directory = directory
        self._intent = directory / "batch.intent"
        self._last = directory / "batch.last"  # the last batch: size, seconds to commit, results handed out

    def submit(self, entry: AuditEntry, commit: CommitInfo) -> str:
        name = f"{time.time_ns():020d}-{uuid.uuid4().hex}"
        document = {
            "entry": entry.hashed_fields(),
            "commit": {"run_id": commit.run_id, "job": commit.job, "actor": commit.actor},
        }
        self._directory.mkdir(parents=True, exist_ok=True)
        self._write(self._directory / f"{name}.ticket", document)
        return name

    def await_pickup(self) -> None:
        """Wait a little for the writers of the last batch to take their results."""
        last = self._last_batch()
        if last is None:
            return
        names, deadline = last["results"], time.monotonic() + self._budget(last)
        while time.monotonic() < deadline and any((self._directory / f"{n}.result").exists() for n in names):
            time.sleep(_GATHER_STEP)

    def gather(self) -> None:
        """Group commit: wait a little for as many entries as the last batch held.

        Writers that keep appending submit their next entry just after their last one was committed;
        waiting for them makes the next commit carry them. How long is worth waiting scales with how
        long a commit takes (on a busy machine, both are slow). A lone writer never waits.
        """
        last = self._last_batch()
        if last is None:
            return
        deadline = time.monotonic() + self._budget(last)
        while self._count() < last["size"] and time.monotonic() < deadline:
            time.sleep(_GATHER_STEP)

    def _last_batch(self) -> dict[str, Any] | None:
        try:
            last = json.loads(self._last.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return last if isinstance(last, dict) and last.get("size", 0) > 1 else None

    @staticmethod
    def _budget(last: dict[str, Any]) -> float:
        return float(min(max(float(last["seconds"]) * _GATHER_SHARE, _GATHER_MIN), _GATHER_MAX))

    def _count(self) -> int:
        return sum(1 for item in os.scandir(self._directory) if item.name.endswith(".ticket"))

    def is_pending(self, name: str) -> bool:
        return (self._directory / f"{name}.ticket").exists()

    def pending(self, *, limit: int) -> list[_Ticket]:
        """The oldest waiting tickets; a ticket that cannot be read is set aside as `.rejected`."""
        names = []
        stale_before = time.time() - _STALE_SECONDS
        for item in os.scandir(self._directory):
            if item.name.endswith(".ticket"):
                names.append(item.name.removesuffix(".ticket"))
            elif item.name.endswith((".result", ".tmp", ".rejected")):
                with suppress(FileNotFoundError):
                    if item.stat().st_mtime < stale_before:
                        os.unlink(item.path)
        tickets = []
        for name in sorted(names)[:limit]:
            path = self._directory / f"{name}.ticket"
            try:
                document = json.loads(path.read_text(encoding="utf-8"))
                tickets.append(
                    _Ticket(name=name, entry=_entry(document["entry"]), commit=CommitInfo(**document["commit"]))
                )
            except FileNotFoundError:
                continue  # withdrawn by its writer meanwhile
            except (ValueError, KeyError, TypeError):
                os.replace(path, path.with_suffix(".rejected"))
        return tickets

    def settle(
        self, tickets: Sequence[_Ticket], records: Sequence[AuditRecord], *, own: str, seconds: float
    ) -> _Placed | None:
        """Hand each committed record to its writer and end the batch (which took `seconds` to commit).

        Returns the result for `own`.
        """
        placed = self.settle_names([t.name for t in tickets], records, keep=own)
        self.clear_intent()
        results = [t.name for t in tickets if t.name != own]
        self._write(self._last, {"size": len(tickets), "seconds": round(seconds, 4), "results": results})
        return placed

    def settle_names(
        self, names: Sequence[str], records: Sequence[AuditRecord], *, keep: str | None = None
    ) -> _Placed | None:
        own: _Placed | None = None
        for name, record in zip(names, records, strict=True):
            placed = _Placed(seq=record.seq, prev_hash=record.prev_hash, hash=record.hash)
            ticket = self._directory / f"{name}.ticket"
            if name == keep:
                own = placed
            elif ticket.exists():
                self._write(self._directory / f"{name}.result", placed.__dict__)
            with suppress(FileNotFoundError):
                os.unlink(ticket)
        return own

    def take_result(self, name: str) -> _Placed | None:
        path = self._directory / f"{name}.result"
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        os.unlink(path)
        return _Placed(**document)

    def withdraw(self, name: str) -> None:
        for suffix in (".ticket", ".result"):
            with suppress(FileNotFoundError):
                os.unlink(self._directory / f"{name}{suffix}")

    def record_intent(self, tickets: Sequence[_Ticket], records: Sequence[AuditRecord]) -> None:
        batch = [
            {"ticket": t.name, "seq": r.seq, "prev_hash": r.prev_hash, "hash": r.hash, "entry": r.entry.hashed_fields()}
            for t, r in zip(tickets, records, strict=True)
        ]
        self._write(self._intent, {"batch": batch})

    def intent(self) -> tuple[list[str], list[AuditRecord]] | None:
        try:
            document = json.loads(self._intent.read_text(encoding="utf-8"))
            batch = document["batch"]
            names = [item["ticket"] for item in batch]
            records = [
                AuditRecord(
                    seq=item["seq"], entry=_entry(item["entry"]), prev_hash=item["prev_hash"], hash=item["hash"]
                )
                for item in batch
            ]
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError):
            raise MlgovError(
                f"the audit batch intent {self._intent} cannot be read: move it aside to continue"
            ) from None
        return names, records

    def clear_intent(self) -> None:
        with suppress(FileNotFoundError):
            os.unlink(self._intent)

    def _write(self, path: Path, document: object) -> None:
        temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
        temporary.write_text(json.dumps(document), encoding="utf-8")
        os.replace(temporary, path)


def _entry(fields: dict[str, str]) -> AuditEntry:
    return AuditEntry(**{**fields, "at": datetime.fromisoformat(fields["at"])})  # type: ignore[arg-type]


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


# --- the Delta table ----------------------------------------------------------------------------


class _Tail:
    """The audit table as the committing writer sees it: one handle, brought up to date incrementally.

    DeltaStore.append_at_version opens a handle pinned at the expected version and lists the table's
    files before and after each write; at thousands of commits that costs more than the write itself.
    The audit trail appends on a hot, serialized path, so it keeps its own handle.
    """

    def __init__(self, store: DeltaStore) -> None:
        self._store = store
        self._path = store.path(AUDIT)
        self._handle: DeltaTable | None = None
        self._stamp: object = None
        self._opened_version = 0
        self._ours: tuple[int, AuditRecord] | None = None  # the version this writer made, and its tip

    def version(self) -> int | None:
        """The table's current version (None if it does not exist yet)."""
        stamp = _creation_stamp(self._path)
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
        if not (self._path / "_delta_log" / f"{current + 1:020d}.json").exists():
            # No newer commit (commit files appear atomically): spare the log listing an update costs.
            # Should one land right now, the compare-and-swap refuses this writer's commit anyway.
            return current
        try:
            self._handle.update_incremental()
        except DeltaError as error:
            raise MlgovError(f"the audit table at {self._path} cannot be read: {error}") from None
        return self._handle.version()

    def _open(self, stamp: object) -> int:
        try:
            self._handle = DeltaTable(str(self._path))
        except DeltaError as error:
            raise MlgovError(f"the audit table at {self._path} cannot be opened: {error}") from None
        self._stamp = stamp
        self._opened_version = self._handle.version()
        return self._opened_version

    def tip(self, version: int) -> AuditRecord | None:
        """The record with the highest sequence number at `version` (the table's current version)."""
        if self._ours is not None and self._ours[0] == version:
            return self._ours[1]  # nobody committed since this writer did
        files = _data_files(self._required_handle(), self._path)
        if files.height == 0:
            return None
        # Only the file holding the highest seq is needed; files without statistics might hold it too.
        highest = files.filter(pl.col("last_seq").is_not_null()).sort("last_seq").tail(1)
        unknown = files.filter(pl.col("last_seq").is_null())
        frame = _read_files(self._path, pl.concat([highest, unknown])["path"].to_list())
        return _records(frame.sort("seq").tail(1))[0] if frame.height else None

    def holds(self, record: AuditRecord) -> bool:
        """Whether the table holds exactly `record` (same seq and hash)."""
        files = _data_files(self._required_handle(), self._path).filter(
            pl.col("first_seq").is_null()
            | pl.col("last_seq").is_null()
            | ((pl.col("first_seq") <= record.seq) & (pl.col("last_seq") >= record.seq))
        )
        frame = _read_files(self._path, files["path"].to_list())
        return frame.filter((pl.col("seq") == record.seq) & (pl.col("hash") == record.hash)).height > 0

    def commit(self, version: int | None, records: Sequence[AuditRecord], *, commit: CommitInfo) -> None:
        """Append `records` only if the table is still at `version`; ConflictError if it moved."""
        frame = _frame(records)
        if version is None:
            # Creating the table is rare: the general path sets it append-only and refuses a race.
            self._store.append_at_version(AUDIT, frame, expected_version=None, commit=commit)
            self._ours = None
            return
        properties = CommitProperties(
            custom_metadata={"mlgov.run_id": commit.run_id, "mlgov.job": commit.job, "mlgov.actor": commit.actor},
            max_commit_retries=0,  # a rebased append would fork the chain: lose the race instead
        )
        try:
            write_deltalake(self._required_handle(), frame.to_arrow(), mode="append", commit_properties=properties)
        except CommitFailedError:
            raise ConflictError("the audit table changed while writing; retry") from None
        except DeltaError as error:
            raise MlgovError(f"writing the audit trail failed: {error}") from None
        self._ours = (version + 1, records[-1])

    def _required_handle(self) -> DeltaTable:
        if self._handle is None:
            raise MlgovError(f"the audit table at {self._path} is not open")
        return self._handle


def _creation_stamp(path: Path) -> object:
    """Identifies one creation of a table: its first commit file's inode and mtime (None if absent)."""
    try:
        first = os.stat(path / "_delta_log" / f"{0:020d}.json")
    except OSError:
        return None
    return (first.st_ino, first.st_mtime_ns)


@dataclass(frozen=True)
class _Snapshot:
    table: TableState | None
    frame: pl.DataFrame  # the readable records in sequence order, columns as stored
    unreadable: list[UnreadablePart]

    @cached_property
    def records(self) -> list[AuditRecord]:
        return _records(self.frame)


def _read_snapshot(store: DeltaStore) -> _Snapshot:
    """The audit table as storage holds it now, from a fresh handle; files that cannot be read are listed."""
    path = store.path(AUDIT)
    if not store.exists(AUDIT):
        return _Snapshot(table=None, frame=pl.DataFrame(schema=_SCHEMA), unreadable=[])
    try:
        handle = DeltaTable(str(path))
        table = TableState(version=handle.version(), table_id=str(handle.metadata().id))
    except DeltaError as error:
        raise MlgovError(f"the audit table at {path} cannot be opened: {error}") from None
    files = _data_files(handle, path)
    files = files.with_columns(pl.Series("location", [str(_file_path(path, p)) for p in files["path"]], pl.String))
    unreadable = [
        UnreadablePart(location=row["location"], first_seq=row["first_seq"], last_seq=row["last_seq"])
        for row in files.iter_rows(named=True)
        if not Path(row["location"]).is_file()
    ]
    missing = {part.location for part in unreadable}
    present = files.filter(~pl.col("location").is_in(list(missing)))
    try:
        frame = _read_files(path, present["path"].to_list())
    except MlgovError:
        # Some file is there but unreadable (truncated, or not parquet): find which, read the rest.
        frames = []
        for row in present.iter_rows(named=True):
            try:
                frames.append(_read_files(path, [row["path"]]))
            except MlgovError:
                unreadable.append(
                    UnreadablePart(location=row["location"], first_seq=row["first_seq"], last_seq=row["last_seq"])
                )
        frame = pl.concat(frames) if frames else pl.DataFrame(schema=_SCHEMA)
    return _Snapshot(table=table, frame=frame.sort("seq"), unreadable=unreadable)


def _data_files(handle: DeltaTable, root: Path) -> pl.DataFrame:
    """The table's live data files: path as the log has it, and the seq range its statistics give (or null)."""
    try:
        actions = pl.DataFrame(handle.get_add_actions(flatten=True))
    except DeltaError as error:
        raise MlgovError(f"the audit table at {root} cannot be listed: {error}") from None
    if actions.height == 0:
        return pl.DataFrame(schema={"path": pl.String, "first_seq": pl.Int64, "last_seq": pl.Int64})

    def stat(name: str) -> pl.Expr:
        return pl.col(name).cast(pl.Int64) if name in actions.columns else pl.lit(None, dtype=pl.Int64)

    return actions.select(
        pl.col("path").cast(pl.String),
        stat("min.seq").alias("first_seq"),
        stat("max.seq").alias("last_seq"),
    )


def _file_path(root: Path, path: str) -> Path:
    if "://" in path:  # an absolute URI (e.g. a shallow clone): only local files are supported
        return Path(unquote(urlparse(path).path))
    return root / unquote(path)


def _read_files(root: Path, paths: list[str]) -> pl.DataFrame:
    """The records in the data files at `paths` (as the Delta log names them), cast to the audit schema."""
    if not paths:
        return pl.DataFrame(schema=_SCHEMA)
    try:
        frame = pl.read_parquet([str(_file_path(root, p)) for p in paths], columns=list(_SCHEMA))
        return frame.select(pl.col(name).cast(dtype) for name, dtype in _SCHEMA.items())
    except (pl.exceptions.PolarsError, OSError) as error:
        raise MlgovError(f"audit data under {root} cannot be read: {str(error).splitlines()[0]}") from None


def _frame(records: Sequence[AuditRecord]) -> pl.DataFrame:
    rows = [{"seq": r.seq, **r.entry.__dict__, "prev_hash": r.prev_hash, "hash": r.hash} for r in records]
    return pl.DataFrame(rows, schema=_SCHEMA)


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
