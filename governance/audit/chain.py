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
from collections.abc import Sequence
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


def record_hash(*, seq: int, entry: AuditEntry, prev_hash: str) -> str:
    payload = {"seq": seq, "prev_hash": prev_hash, **entry.hashed_fields()}
    return hashlib.sha256(canonical_json(payload).encode("utf-8")).hexdigest()


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


def verify_chain(records: Sequence[AuditRecord]) -> ChainVerdict:
    """Recompute the chain in sequence order and name the first record that does not match."""
    ordered = sorted(records, key=lambda r: r.seq)
    prev_hash = GENESIS_HASH
    seen_events: dict[str, int] = {}
    for expected_seq, record in enumerate(ordered, start=1):
        if record.seq != expected_seq:
            if record.seq < expected_seq:
                problem, bad = f"record {record.seq} appears more than once", record.seq
            else:
                problem, bad = f"record {expected_seq} is missing (next record found is {record.seq})", expected_seq
            return ChainVerdict(ok=False, records=len(ordered), first_bad_seq=bad, problem=problem)
        if record.prev_hash != prev_hash:
            return ChainVerdict(
                ok=False,
                records=len(ordered),
                first_bad_seq=record.seq,
                problem=f"record {record.seq} does not point at the hash of record {record.seq - 1}",
            )
        if record_hash(seq=record.seq, entry=record.entry, prev_hash=record.prev_hash) != record.hash:
            return ChainVerdict(
                ok=False,
                records=len(ordered),
                first_bad_seq=record.seq,
                problem=f"record {record.seq} was altered: its content does not match its hash",
            )
        # A record copied to the end and re-chained hashes correctly; its event id gives it away.
        first_seen = seen_events.setdefault(record.entry.event_id, record.seq)
        if first_seen != record.seq:
            return ChainVerdict(
                ok=False,
                records=len(ordered),
                first_bad_seq=record.seq,
                problem=f"record {record.seq} repeats event {record.entry.event_id!r} of record {first_seen}",
            )
        prev_hash = record.hash
    return ChainVerdict(ok=True, records=len(ordered), first_bad_seq=None, problem=None)
