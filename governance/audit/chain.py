"""The audit chain: each record hashed with the one before it, and checking that chain. Pure.

Each record's hash covers its own fields and the previous record's hash, so editing, deleting or
reordering any record breaks every hash after it. Hashed fields are strings and integers only (no
floats, whose text form is not canonical) and timestamps are UTC ISO-8601 with microseconds.

A chain only proves it is consistent with itself: whoever can rewrite the table can recompute every
hash. Signed checkpoints ("seals") anchor the tip outside the table; `verify_trail` checks the chain,
the storage it was read from and every seal together, and names the first record it cannot vouch for.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from governance.audit.canonical import canonical_json, utc_text

GENESIS_HASH = "0" * 64


@dataclass(frozen=True)
class AuditEntry:
    """What happened, before it is placed in the chain."""

    event_id: str
    at: datetime
    actor: str
    action: str
    object_type: str
    object_id: str
    outcome: str
    reason: str
    details: str  # canonical JSON text

    def hashed_fields(self) -> dict[str, str]:
        return {
            "event_id": self.event_id,
            "at": utc_text(self.at),
            "actor": self.actor,
            "action": self.action,
            "object_type": self.object_type,
            "object_id": self.object_id,
            "outcome": self.outcome,
            "reason": self.reason,
            "details": self.details,
        }


@dataclass(frozen=True)
class AuditRecord:
    seq: int
    entry: AuditEntry
    prev_hash: str
    hash: str


# The keys of what a record's hash covers, in canonical (sorted) order: its own fields, its sequence
# number and the previous record's hash. A reader that builds the payload column by column follows it.
HASHED_KEYS: tuple[str, ...] = tuple(sorted(("seq", "prev_hash", *AuditEntry.__dataclass_fields__)))


def record_payload(*, seq: int, prev_hash: str | None, fields: Mapping[str, object]) -> bytes:
    """The exact bytes a record's hash covers: canonical JSON of its seq, the previous hash and `fields`.

    `fields` are the entry's hashed fields (`AuditEntry.hashed_fields()`: text, `at` as `utc_text`);
    a value storage lost (None, for a field or `prev_hash`) is hashed as JSON null, so it cannot match.
    """
    return canonical_json({"seq": seq, "prev_hash": prev_hash, **fields}).encode("utf-8")


def record_hash(*, seq: int, entry: AuditEntry, prev_hash: str) -> str:
    return hashlib.sha256(record_payload(seq=seq, prev_hash=prev_hash, fields=entry.hashed_fields())).hexdigest()


def chain(entry: AuditEntry, *, after: AuditRecord | None) -> AuditRecord:
    """Place `entry` after the record `after` (None for the first record)."""
    seq = after.seq + 1 if after else 1
    prev_hash = after.hash if after else GENESIS_HASH
    return AuditRecord(
        seq=seq, entry=entry, prev_hash=prev_hash, hash=record_hash(seq=seq, entry=entry, prev_hash=prev_hash)
    )


@dataclass(frozen=True)
class ChainVerdict:
    ok: bool
    records: int
    first_bad_seq: int | None
    problem: str | None


@dataclass(frozen=True)
class ChainBreak:
    """The first record at which the chain does not hold, and why."""

    seq: int
    problem: str


@dataclass(frozen=True)
class RepeatedEvent:
    """The first record (in sequence order) whose event id an earlier record already has."""

    seq: int
    event_id: str
    first_seq: int

    @property
    def problem(self) -> str:
        return f"record {self.seq} repeats event {self.event_id!r} of record {self.first_seq}"


class ChainChecker:
    """The chain checked as it is read: records fed in sequence order, a batch at a time, as plain values.

    For each record it checks, in this order, that its seq is the next one (no record missing or
    repeated), that it points at the previous record's hash, and that its stored hash is its content
    hash (`record_hash` of its stored fields, computed by the caller). It stops judging at the first
    break and only counts after it, so a caller can stop computing content hashes then (`broken`).

    Event ids are not checked here: their uniqueness is a question about the whole trail, answered
    column-wise by the reader (`first_repeated_event` over plain lists).
    """

    def __init__(self, *, first_seq: int = 1, prev_hash: str = GENESIS_HASH) -> None:
        self._expected = first_seq
        self._prev_hash = prev_hash
        self.records = 0
        self.broken: ChainBreak | None = None

    @property
    def last_hash(self) -> str:
        """The hash of the last record that held (the starting hash before any did)."""
        return self._prev_hash

    @property
    def next_seq(self) -> int:
        """The seq the next record must have."""
        return self._expected

    def feed(
        self,
        seqs: Sequence[int],
        prev_hashes: Sequence[str | None],
        hashes: Sequence[str | None],
        content_hashes: Sequence[str] | None,
    ) -> None:
        """Check the next records; `content_hashes` may be None once the chain is broken."""
        self.records += len(seqs)
        if self.broken is not None:
            return
        if content_hashes is None:
            raise ValueError("content hashes are needed until the chain breaks")
        expected, prev_hash = self._expected, self._prev_hash
        for seq, prev, stored, content in zip(seqs, prev_hashes, hashes, content_hashes, strict=True):
            if seq != expected:
                if seq < expected:
                    self.broken = ChainBreak(seq, f"record {seq} appears more than once")
                else:
                    self.broken = ChainBreak(expected, f"record {expected} is missing (next record found is {seq})")
                break
            if prev != prev_hash:
                self.broken = ChainBreak(seq, f"record {seq} does not point at the hash of record {seq - 1}")
                break
            if content != stored or stored is None:
                self.broken = ChainBreak(seq, f"record {seq} was altered: its content does not match its hash")
                break
            expected, prev_hash = seq + 1, stored
        self._expected, self._prev_hash = expected, prev_hash


def first_repeated_event(seqs: Sequence[int], event_ids: Sequence[str]) -> RepeatedEvent | None:
    """The first record, in sequence order, whose event id a record with a lower seq already has.

    A record copied to the end and re-chained hashes correctly; its event id gives it away.
    """
    first_seen: dict[str, int] = {}
    for seq, event_id in sorted(zip(seqs, event_ids, strict=True), key=lambda pair: pair[0]):
        first = first_seen.setdefault(event_id, seq)
        if first != seq:
            return RepeatedEvent(seq=seq, event_id=event_id, first_seq=first)
    return None


def verify_chain(records: Sequence[AuditRecord]) -> ChainVerdict:
    """Recompute the chain in sequence order and name the first record that does not match."""
    ordered = sorted(records, key=lambda r: r.seq)
    checker = ChainChecker()
    checker.feed(
        [r.seq for r in ordered],
        [r.prev_hash for r in ordered],
        [r.hash for r in ordered],
        [record_hash(seq=r.seq, entry=r.entry, prev_hash=r.prev_hash) for r in ordered],
    )
    repeat = first_repeated_event([r.seq for r in ordered], [r.entry.event_id for r in ordered])
    found = first_chain_finding(checker.broken, repeat)
    if found is None:
        return ChainVerdict(ok=True, records=len(ordered), first_bad_seq=None, problem=None)
    return ChainVerdict(ok=False, records=len(ordered), first_bad_seq=found.seq, problem=found.problem)


def first_chain_finding(broken: ChainBreak | None, repeat: RepeatedEvent | None) -> ChainBreak | None:
    """The earlier of a chain break and a repeated event; on the same record the break was found first."""
    if repeat is not None and (broken is None or repeat.seq < broken.seq):
        return ChainBreak(repeat.seq, repeat.problem)
    return broken
