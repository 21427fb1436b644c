"""Verifying a whole trail: the chain, the storage it was read from and every seal together; the
verdict names the first record that can no longer be vouched for."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from governance.audit.chain import GENESIS_HASH, AuditRecord, verify_chain
from governance.audit.seals import Checkpoint, SealReading, checkpoint_digest


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
