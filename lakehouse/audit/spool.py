"""Group commit on one machine: the spool where writers leave their audit entries, and the file locks
that pick one of them to commit every waiting entry in one Delta commit.

A writer drops its entry in the spool. If no other writer is committing, it takes the writers' lock
and commits every entry waiting in the spool in one Delta commit; otherwise it waits for the batch in
flight and picks up its result, or leads the next batch. Each Delta commit lists the table's log, so
under contention one N-row commit instead of N one-row commits is what keeps appends fast. An intent
file written before each commit lets the next writer finish a batch whose writer died, so an entry
is never committed twice nor silently dropped. Neither the locks nor the spool are needed for
correctness against writers elsewhere: the table writer's compare-and-swap is.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from governance.audit.chain import AuditEntry, AuditRecord
from governance.errors import MlgovError
from lakehouse.delta import CommitInfo

_IDLE_PAUSE = 0.0005  # seconds
_GATHER_STEP = 0.001  # seconds
# A leader waits at most this share of the last commit's duration, within these bounds (seconds), for
# the last batch's writers to pick up their results and again for their next entries.
_GATHER_SHARE, _GATHER_MIN, _GATHER_MAX = 0.5, 0.005, 0.05
_STALE_SECONDS = 3600  # results nobody collected (their writer died) are removed after this long


@contextmanager
def locked(path: Path, *, wait: bool) -> Iterator[bool]:
    """Hold the lock at `path`; without `wait`, yields False at once if another writer holds it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # One open() per call: flock excludes other open file descriptions, so threads sharing this
    # object exclude each other too. The writer's state is only touched while locked.
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


def wait_for_batch(path: Path) -> None:
    """Return once the batch in flight is settled; all writers waiting here wake together."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
            idle = True
        except BlockingIOError:
            fcntl.flock(handle, fcntl.LOCK_SH)
            idle = False
        fcntl.flock(handle, fcntl.LOCK_UN)
    if idle:  # a leader holds the writers' lock but has not started its batch yet: don't spin
        time.sleep(_IDLE_PAUSE)


@dataclass(frozen=True)
class Ticket:
    name: str
    entry: AuditEntry
    commit: CommitInfo


@dataclass(frozen=True)
class Placed:
    seq: int
    prev_hash: str
    hash: str


class Spool:
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

    def pending(self, *, limit: int) -> list[Ticket]:
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
                    Ticket(name=name, entry=entry_of(document["entry"]), commit=CommitInfo(**document["commit"]))
                )
            except FileNotFoundError:
                continue  # withdrawn by its writer meanwhile
            except (ValueError, KeyError, TypeError):
                os.replace(path, path.with_suffix(".rejected"))
        return tickets

    def settle(
        self, tickets: Sequence[Ticket], records: Sequence[AuditRecord], *, own: str, seconds: float
    ) -> Placed | None:
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
    ) -> Placed | None:
        own: Placed | None = None
        for name, record in zip(names, records, strict=True):
            placed = Placed(seq=record.seq, prev_hash=record.prev_hash, hash=record.hash)
            ticket = self._directory / f"{name}.ticket"
            if name == keep:
                own = placed
            elif ticket.exists():
                self._write(self._directory / f"{name}.result", placed.__dict__)
            with suppress(FileNotFoundError):
                os.unlink(ticket)
        return own

    def take_result(self, name: str) -> Placed | None:
        path = self._directory / f"{name}.result"
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        os.unlink(path)
        return Placed(**document)

    def withdraw(self, name: str) -> None:
        for suffix in (".ticket", ".result"):
            with suppress(FileNotFoundError):
                os.unlink(self._directory / f"{name}{suffix}")

    def record_intent(self, tickets: Sequence[Ticket], records: Sequence[AuditRecord]) -> None:
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
                    seq=item["seq"], entry=entry_of(item["entry"]), prev_hash=item["prev_hash"], hash=item["hash"]
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


def entry_of(fields: dict[str, str]) -> AuditEntry:
    return AuditEntry(**{**fields, "at": datetime.fromisoformat(fields["at"])})  # type: ignore[arg-type]
