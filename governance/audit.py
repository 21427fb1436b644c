"""The audit chain: canonical serialization, hashing and verification. Pure; storage is elsewhere.

Each record's hash covers its own fields and the previous record's hash, so editing, deleting or
reordering any record breaks every hash after it. Hashed fields are strings and integers only (no
floats, whose text form is not canonical) and timestamps are UTC ISO-8601 with microseconds.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

GENESIS_HASH = "0" * 64


def utc_text(at: datetime) -> str:
    """The canonical text of a timestamp: UTC, microseconds, 'Z' suffix."""
    if at.tzinfo is None:
        raise ValueError("audit timestamps must be timezone-aware")
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_json(value: Mapping[str, object]) -> str:
    """Sorted keys, no whitespace, UTF-8 text; refuses floats anywhere in the value."""
    _refuse_floats(value)
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def _refuse_floats(value: object) -> None:
    if isinstance(value, float):
        raise ValueError("floats are not allowed in hashed audit fields; store them as strings")
    if isinstance(value, Mapping):
        for key, item in value.items():
            _refuse_floats(key)
            _refuse_floats(item)
    elif isinstance(value, list | tuple):
        for item in value:
            _refuse_floats(item)


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
        prev_hash = record.hash
    return ChainVerdict(ok=True, records=len(ordered), first_bad_seq=None, problem=None)
