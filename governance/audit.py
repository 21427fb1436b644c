"""The audit chain: canonical serialization, hashing and verification. Pure; storage is elsewhere.

Each record's hash covers its own fields and the previous record's hash, so editing, deleting or
reordering any record breaks every hash after it. Hashed fields are strings and integers only (no
floats, whose text form is not canonical) and timestamps are UTC ISO-8601 with microseconds.

A chain only proves it is consistent with itself: whoever can rewrite the table can recompute every
hash. Signed checkpoints ("seals") anchor the tip outside the table; `verify_trail` checks the chain,
the storage it was read from and every seal together, and names the first record it cannot vouch for.
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


# Values that need no look inside. Checked by exact type before recursing: verifying a long trail
# hashes every record, and a call per field was most of the time.
_LEAVES = frozenset({str, int, bool, type(None)})


def _refuse_floats(value: object) -> None:
    if isinstance(value, float):
        raise ValueError("floats are not allowed in hashed audit fields; store them as strings")
    if isinstance(value, Mapping):
        for key, item in value.items():
            if type(key) not in _LEAVES:
                _refuse_floats(key)
            if type(item) not in _LEAVES:
                _refuse_floats(item)
    elif isinstance(value, list | tuple):
        for item in value:
            if type(item) not in _LEAVES:
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


# --- signed checkpoints ("seals") -----------------------------------------------------------

SEAL_FORMAT = "mlgov.audit.seal/1"
_HEX = frozenset("0123456789abcdef")


@dataclass(frozen=True)
class Checkpoint:
    """What one seal vouches for: the chain's tip at one Delta version of one audit table.

    Seals form a chain of their own: `index` counts them from 1 and `prev_seal` is the digest of the
    seal before (GENESIS_HASH for the first), so a removed, reordered or replayed seal shows.
    """

    index: int
    seq: int
    tip_hash: str
    delta_version: int
    table_id: str
    sealed_at: datetime
    prev_seal: str

    def fields(self) -> dict[str, object]:
        return {
            "format": SEAL_FORMAT,
            "index": self.index,
            "seq": self.seq,
            "tip_hash": self.tip_hash,
            "delta_version": self.delta_version,
            "table_id": self.table_id,
            "sealed_at": utc_text(self.sealed_at),
            "prev_seal": self.prev_seal,
        }


def checkpoint_payload(checkpoint: Checkpoint) -> bytes:
    """The exact bytes a seal signs: the checkpoint's fields as canonical JSON, UTF-8."""
    return canonical_json(checkpoint.fields()).encode("utf-8")


def checkpoint_digest(checkpoint: Checkpoint) -> str:
    """SHA-256 of the signed bytes; the next seal's `prev_seal`."""
    return hashlib.sha256(checkpoint_payload(checkpoint)).hexdigest()


def parse_checkpoint(fields: Mapping[str, object]) -> Checkpoint:
    """The checkpoint held in a seal's signed fields; ValueError naming the first field that is wrong.

    Only the canonical form is accepted, so the bytes re-derived from the result are the bytes that
    were signed.
    """
    expected = set(Checkpoint.__dataclass_fields__) | {"format"}
    if set(fields) != expected:
        odd = sorted(set(fields) ^ expected)
        raise ValueError(f"unexpected or missing field {odd[0]!r}")
    if fields["format"] != SEAL_FORMAT:
        raise ValueError(f"format is {fields['format']!r}, expected {SEAL_FORMAT!r}")
    tip_hash, prev_seal = _hex_digest(fields, "tip_hash"), _hex_digest(fields, "prev_seal")
    sealed_text = _text(fields, "sealed_at")
    try:
        sealed_at = datetime.fromisoformat(sealed_text)
    except ValueError:
        sealed_at = None
    if sealed_at is None or sealed_at.tzinfo is None:
        raise ValueError(f"sealed_at is {sealed_text!r}, expected a UTC timestamp")
    checkpoint = Checkpoint(
        index=_whole(fields, "index", minimum=1),
        seq=_whole(fields, "seq", minimum=1),
        tip_hash=tip_hash,
        delta_version=_whole(fields, "delta_version", minimum=0),
        table_id=_text(fields, "table_id"),
        sealed_at=sealed_at,
        prev_seal=prev_seal,
    )
    if checkpoint.fields() != dict(fields):
        raise ValueError("fields are not in canonical form")
    return checkpoint


def _whole(fields: Mapping[str, object], name: str, *, minimum: int) -> int:
    value = fields[name]
    # bool is an int subclass; a seal saying `"seq": true` does not name a record.
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} is {value!r}, expected a whole number of at least {minimum}")
    return value


def _text(fields: Mapping[str, object], name: str) -> str:
    value = fields[name]
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name} is {value!r}, expected text")
    return value


def _hex_digest(fields: Mapping[str, object], name: str) -> str:
    value = _text(fields, name)
    if len(value) != 64 or not set(value) <= _HEX:
        raise ValueError(f"{name} is {value!r}, expected 64 lowercase hex digits")
    return value


def next_checkpoint(
    *, previous: Checkpoint | None, tip: AuditRecord, delta_version: int, table_id: str, at: datetime
) -> Checkpoint:
    """The checkpoint that seals `tip`, read at `delta_version` of table `table_id`, after `previous`."""
    return Checkpoint(
        index=previous.index + 1 if previous else 1,
        seq=tip.seq,
        tip_hash=tip.hash,
        delta_version=delta_version,
        table_id=table_id,
        sealed_at=at,
        prev_seal=checkpoint_digest(previous) if previous else GENESIS_HASH,
    )


@dataclass(frozen=True)
class SealReading:
    """One seal as storage returned it, in storage order.

    `checkpoint` is None when the seal could not be parsed; `defect` says why the seal cannot be
    trusted as read (unreadable, bad signature, no key to check it), phrased to follow its name.
    """

    name: str
    checkpoint: Checkpoint | None
    defect: str | None = None


@dataclass(frozen=True)
class UnreadablePart:
    """A data file of the audit table that storage lists but could not read, and the records it held."""

    location: str
    first_seq: int | None
    last_seq: int | None


@dataclass(frozen=True)
class TableState:
    """The audit table as verification read it: its Delta version and the id of its creation."""

    version: int
    table_id: str


@dataclass(frozen=True)
class AuditVerdict:
    """The verdict of `verify_trail`.

    `first_bad_seq` is the first record that can no longer be vouched for (None when the problem is
    with the seals or the table but every record still is). `sealed_through` is the last record
    covered by a valid seal that still matches the chain; `unsealed_records` counts those after it.
    """

    ok: bool
    records: int
    first_bad_seq: int | None
    problem: str | None
    sealed_through: int | None
    unsealed_records: int
    seals: int


@dataclass(frozen=True)
class _Finding:
    first_bad_seq: int | None
    problem: str
    rank: int  # on the same record, the more specific finding wins


@dataclass(frozen=True)
class _SealCheck:
    matched: tuple[int, ...]
    finding: _Finding | None


def verify_trail(
    records: Sequence[AuditRecord],
    *,
    table: TableState | None,
    unreadable: Sequence[UnreadablePart] = (),
    seals: Sequence[SealReading] = (),
) -> AuditVerdict:
    """The chain, the storage it was read from and every seal, checked together.

    Reports the finding on the earliest record: an unreadable data file, then a chain break, then a
    seal the table no longer matches. A seal that cannot be trusted (bad signature, replayed, out of
    order) stops trust in every later seal; the records after the last trusted seal are the first
    ones it can no longer vouch for.
    """
    findings: list[_Finding] = []
    for part in unreadable:
        findings.append(
            _Finding(
                part.first_seq, f"{_span(part)} cannot be read: data file {part.location} is missing or unreadable", 0
            )
        )
    chain_verdict = verify_chain(records)
    if not chain_verdict.ok:
        findings.append(_Finding(chain_verdict.first_bad_seq, chain_verdict.problem or "the chain is broken", 1))
    sealing = _check_seals(records, table=table, seals=seals)
    if sealing.finding is not None:
        findings.append(sealing.finding)
    worst = min(findings, key=lambda f: (f.first_bad_seq is None, f.first_bad_seq or 0, f.rank), default=None)
    bad = worst.first_bad_seq if worst else None
    sealed_through = max((s for s in sealing.matched if bad is None or s < bad), default=None)
    return AuditVerdict(
        ok=worst is None,
        records=len(records),
        first_bad_seq=bad,
        problem=worst.problem if worst else None,
        sealed_through=sealed_through,
        unsealed_records=sum(1 for r in records if r.seq > (sealed_through or 0)),
        seals=len(seals),
    )


def _span(part: UnreadablePart) -> str:
    if part.first_seq is None or part.last_seq is None:
        return "some records"
    return (
        f"record {part.first_seq}" if part.first_seq == part.last_seq else f"records {part.first_seq}..{part.last_seq}"
    )


def _check_seals(
    records: Sequence[AuditRecord], *, table: TableState | None, seals: Sequence[SealReading]
) -> _SealCheck:
    by_seq: dict[int, AuditRecord] = {}
    for record in records:
        by_seq.setdefault(record.seq, record)
    last_seq = max(by_seq, default=0)
    matched: list[int] = []
    seen: dict[str, str] = {}  # digest -> name of the seal that had it first
    previous: tuple[str, Checkpoint] | None = None
    moved: str | None = None  # the table changed under the seals (recreated, rolled back, gone)

    def untrusted(problem: str, *, claim: Checkpoint | None) -> _SealCheck:
        # The records this seal claims beyond the last trusted one are no longer vouched for; a seal
        # whose claim cannot be read might claim any of them.
        after = (matched[-1] if matched else 0) + 1
        claims_more = claim is None or claim.seq >= after
        return _SealCheck(tuple(matched), _Finding(after if claims_more and after <= last_seq else None, problem, 2))

    for position, reading in enumerate(seals, start=1):
        checkpoint, name = reading.checkpoint, reading.name
        if reading.defect is not None or checkpoint is None:
            return untrusted(f"seal {name} {reading.defect or 'cannot be read'}", claim=checkpoint)
        digest = checkpoint_digest(checkpoint)
        if digest in seen:
            return untrusted(f"seal {name} is a replay of seal {seen[digest]}", claim=checkpoint)
        if checkpoint.index > position:
            return untrusted(f"seal number {position} is missing: the next one found is {name}", claim=checkpoint)
        if checkpoint.index < position:
            return untrusted(
                f"seal {name} says it is seal number {checkpoint.index} but is number {position}: "
                "it was replayed or reordered",
                claim=checkpoint,
            )
        before = previous[1] if previous else None
        if checkpoint.prev_seal != (checkpoint_digest(before) if before else GENESIS_HASH):
            follows = f"follow {previous[0]}" if previous else "start the seals"
            return untrusted(f"seal {name} does not {follows}: a seal before it was replaced", claim=checkpoint)
        if previous and before and checkpoint.seq < before.seq:
            return untrusted(
                f"seal {name} goes back to record {checkpoint.seq} after {previous[0]} sealed record {before.seq}",
                claim=checkpoint,
            )
        if previous and before and checkpoint.delta_version < before.delta_version:
            return untrusted(
                f"seal {name} is for Delta version {checkpoint.delta_version}, before version "
                f"{before.delta_version} sealed by {previous[0]}: the table moved backwards",
                claim=checkpoint,
            )
        seen[digest] = name
        previous = (name, checkpoint)
        if moved is None:
            if table is None:
                moved = f"the audit table is gone (seal {name} sealed its Delta version {checkpoint.delta_version})"
            elif checkpoint.table_id != table.table_id:
                moved = (
                    f"the audit table was recreated after seal {name} "
                    f"(table id {checkpoint.table_id}, now {table.table_id})"
                )
            elif checkpoint.delta_version > table.version:
                moved = (
                    f"the audit table is at Delta version {table.version}, before version "
                    f"{checkpoint.delta_version} sealed by {name}: it was rolled back or rebuilt"
                )
        sealed = by_seq.get(checkpoint.seq)
        if sealed is None:
            gone = last_seq + 1 if checkpoint.seq > last_seq else checkpoint.seq
            what = f"records {gone}..{checkpoint.seq} are" if gone < checkpoint.seq else f"record {gone} is"
            return _SealCheck(tuple(matched), _Finding(gone, _also(f"{what} gone, though sealed by {name}", moved), 2))
        if sealed.hash != checkpoint.tip_hash:
            start = (matched[-1] if matched else 0) + 1
            return _SealCheck(
                tuple(matched),
                _Finding(
                    start,
                    _also(
                        f"records {start}..{checkpoint.seq} were rewritten: record {checkpoint.seq} no longer has "
                        f"the hash sealed by {name}",
                        moved,
                    ),
                    2,
                ),
            )
        matched.append(checkpoint.seq)
    if moved is not None:
        after = (matched[-1] if matched else 0) + 1
        if after <= last_seq:
            return _SealCheck(
                tuple(matched), _Finding(after, f"{moved}; records from {after} on are not vouched for", 2)
            )
        return _SealCheck(tuple(matched), _Finding(None, f"{moved}; every record still matches its seal", 2))
    return _SealCheck(tuple(matched), None)


def _also(problem: str, context: str | None) -> str:
    return f"{problem}; {context}" if context else problem
