"""Verifying a whole trail: the chain, the storage it was read from and every seal together; the
verdict names the first record that can no longer be vouched for.

The records come in as a `ChainScan`: what verification needs of them, gathered while they were
read (a reader streams them through `ChainChecker`, so no trail is ever held whole). `verify_trail`
builds one from a list of records.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field

from governance.audit.chain import (
    GENESIS_HASH,
    AuditRecord,
    ChainBreak,
    ChainChecker,
    RepeatedEvent,
    first_chain_finding,
    first_repeated_event,
    record_hash,
)
from governance.audit.seals import Checkpoint, SealReading, checkpoint_digest


@dataclass(frozen=True)
class UnreadablePart:
    """A data file of the audit table that storage lists but could not read, and the records it held."""

    location: str
    first_seq: int | None
    last_seq: int | None


@dataclass(frozen=True)
class LogGap:
    """Commits missing from the audit table's Delta log, which stop the table being read past them.

    The records were read at the version before `version`; `next_first_seq` is the first record added
    by the next commit still in the log, when its statistics say (the missing ones wrote those before).
    """

    version: int
    location: str
    next_first_seq: int | None


@dataclass(frozen=True)
class UnlistedPart:
    """A data file the Delta log does not list whose records continue the chain after its last record.

    Only the reader can tell: it checked that these records carry on from the last one it read.
    """

    location: str
    first_seq: int
    last_seq: int


@dataclass(frozen=True)
class RewriteOrigin:
    """Where a rewrite of sealed records starts, read from the table's own history.

    `seq` is the first record whose hash now differs from the one it had at `delta_version`, the
    version seal `seal` was made at; the records of that version were checked, from the last good
    seal's record on, to chain up to the hash the seal signs, so the seal vouches for them.
    """

    seal: str
    seq: int
    delta_version: int


@dataclass(frozen=True)
class RewrittenSpan:
    """Records a seal no longer matches: after `after` (the last record a good seal still vouches for,
    0 for none) through the seal's own record. Which of them was rewritten first, the seal cannot say."""

    seal: str
    after: int
    after_hash: str
    checkpoint: Checkpoint


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
class ChainScan:
    """What verification needs of the records, gathered while reading them in sequence order.

    `hashes_at` holds the stored hash of each sealed seq that was read (the first record read with
    that seq); `records_after` how many records have a seq above each sealed seq.
    """

    records: int
    last_seq: int  # the highest seq read, 0 for none
    last_hash: str | None  # the stored hash of the record with the highest seq (the first read with it)
    broken: ChainBreak | None
    repeat: RepeatedEvent | None
    hashes_at: Mapping[int, str] = field(default_factory=dict)
    records_after: Mapping[int, int] = field(default_factory=dict)


def scan_records(records: Sequence[AuditRecord], *, sealed_seqs: Collection[int] = ()) -> ChainScan:
    """The `ChainScan` of records held in memory, in any order."""
    ordered = sorted(records, key=lambda r: r.seq)
    checker = ChainChecker()
    checker.feed(
        [r.seq for r in ordered],
        [r.prev_hash for r in ordered],
        [r.hash for r in ordered],
        [record_hash(seq=r.seq, entry=r.entry, prev_hash=r.prev_hash) for r in ordered],
    )
    hashes_at: dict[int, str] = {}
    wanted = set(sealed_seqs)
    for record in ordered:
        if record.seq in wanted:
            hashes_at.setdefault(record.seq, record.hash)
    last = max(ordered, key=lambda r: r.seq, default=None)
    return ChainScan(
        records=len(ordered),
        last_seq=last.seq if last else 0,
        last_hash=next((r.hash for r in ordered if last and r.seq == last.seq), None),
        broken=checker.broken,
        repeat=first_repeated_event([r.seq for r in ordered], [r.entry.event_id for r in ordered]),
        hashes_at=hashes_at,
        records_after={s: sum(1 for r in ordered if r.seq > s) for s in wanted},
    )


def sealed_seqs(seals: Sequence[SealReading]) -> set[int]:
    """The seqs the seals name: the records whose stored hash verification needs."""
    return {reading.checkpoint.seq for reading in seals if reading.checkpoint is not None}


@dataclass(frozen=True)
class _Finding:
    first_bad_seq: int | None
    problem: str
    rank: int  # on the same record, the more specific finding wins


@dataclass(frozen=True)
class _SealCheck:
    matched: tuple[int, ...]
    finding: _Finding | None
    rewritten: RewrittenSpan | None = None


def verify_trail(
    records: Sequence[AuditRecord],
    *,
    table: TableState | None,
    unreadable: Sequence[UnreadablePart] = (),
    seals: Sequence[SealReading] = (),
) -> AuditVerdict:
    """The chain, the storage it was read from and every seal, checked together (see `verify_scan`)."""
    scan = scan_records(records, sealed_seqs=sealed_seqs(seals))
    return verify_scan(scan, table=table, unreadable=unreadable, seals=seals)


def verify_scan(
    scan: ChainScan,
    *,
    table: TableState | None,
    unreadable: Sequence[UnreadablePart] = (),
    seals: Sequence[SealReading] = (),
    log_gap: LogGap | None = None,
    unlisted: Sequence[UnlistedPart] = (),
    origin: RewriteOrigin | None = None,
) -> AuditVerdict:
    """The chain, the storage it was read from and every seal, checked together.

    Reports the finding on the earliest record: an unreadable data file, a commit missing from the
    Delta log or a data file it does not list, then a chain break, then a seal the table no longer
    matches. A seal that cannot be trusted (bad signature, replayed, out of order) stops trust in
    every later seal; the records after the last trusted seal are the first ones it can no longer
    vouch for.

    A rewrite of sealed records that keeps the chain consistent shows only at the seal: the record it
    names has another hash. The seal signs that one hash, so on its own it cannot tell which record
    after the last good seal was rewritten first, and the verdict names the first record after that
    seal. Only the table's history can tell more: `origin`, when the caller could read the records as
    they were at the sealed Delta version and the seal vouches for them (see `rewritten_span`).
    """
    findings: list[_Finding] = []
    for part in unreadable:
        findings.append(
            _Finding(
                part.first_seq, f"{_span(part)} cannot be read: data file {part.location} is missing or unreadable", 0
            )
        )
    if log_gap is not None:
        findings.append(_gap_finding(log_gap, last_seq=scan.last_seq))
    for listed in unlisted:
        findings.append(
            _Finding(
                listed.first_seq,
                f"{_records(listed.first_seq, listed.last_seq)} in data file {listed.location}, which the Delta "
                "log does not list, carry the chain on after its last record: the commit that added them was "
                "deleted, or its writer stopped before committing it",
                0,
            )
        )
    chain_finding = first_chain_finding(scan.broken, scan.repeat)
    if chain_finding is not None:
        findings.append(_Finding(chain_finding.seq, chain_finding.problem, 1))
    sealing = _check_seals(scan, table=table, seals=seals, origin=origin)
    if sealing.finding is not None:
        findings.append(sealing.finding)
    worst = min(findings, key=lambda f: (f.first_bad_seq is None, f.first_bad_seq or 0, f.rank), default=None)
    bad = worst.first_bad_seq if worst else None
    sealed_through = max((s for s in sealing.matched if bad is None or s < bad), default=None)
    return AuditVerdict(
        ok=worst is None,
        records=scan.records,
        first_bad_seq=bad,
        problem=worst.problem if worst else None,
        sealed_through=sealed_through,
        unsealed_records=scan.records if sealed_through is None else scan.records_after.get(sealed_through, 0),
        seals=len(seals),
    )


def rewritten_span(scan: ChainScan, *, table: TableState | None, seals: Sequence[SealReading]) -> RewrittenSpan | None:
    """The records a seal no longer matches though the seals before it do, if that is what the seals find.

    A caller that can read the table as it was at the seal's Delta version can then look for where
    the rewrite starts, and pass it to `verify_scan` as a `RewriteOrigin`.
    """
    return _check_seals(scan, table=table, seals=seals, origin=None).rewritten


def _gap_finding(gap: LogGap, *, last_seq: int) -> _Finding:
    first = last_seq + 1
    past = f"past Delta version {gap.version - 1}" if gap.version else "at all"
    ends = gap.next_first_seq
    if ends is not None and ends > first:
        lost = f"{_records(first, ends - 1)}, which it wrote, and every record after them cannot be vouched for"
    else:
        lost = f"records from {first} on cannot be vouched for"
    return _Finding(
        first,
        f"commit {gap.version} of the Delta log ({gap.location}) is missing, "
        f"so the table cannot be read {past}: {lost}",
        0,
    )


def _records(first: int, last: int) -> str:
    return f"record {first}" if first == last else f"records {first}..{last}"


def _span(part: UnreadablePart) -> str:
    if part.first_seq is None or part.last_seq is None:
        return "some records"
    return (
        f"record {part.first_seq}" if part.first_seq == part.last_seq else f"records {part.first_seq}..{part.last_seq}"
    )


def _check_seals(
    scan: ChainScan, *, table: TableState | None, seals: Sequence[SealReading], origin: RewriteOrigin | None
) -> _SealCheck:
    last_seq = scan.last_seq
    matched: list[int] = []
    matched_hash = GENESIS_HASH
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
        sealed_hash = scan.hashes_at.get(checkpoint.seq)
        if sealed_hash is None:
            gone = last_seq + 1 if checkpoint.seq > last_seq else checkpoint.seq
            what = f"records {gone}..{checkpoint.seq} are" if gone < checkpoint.seq else f"record {gone} is"
            return _SealCheck(tuple(matched), _Finding(gone, _also(f"{what} gone, though sealed by {name}", moved), 2))
        if sealed_hash != checkpoint.tip_hash:
            after = matched[-1] if matched else 0
            span = RewrittenSpan(seal=name, after=after, after_hash=matched_hash, checkpoint=checkpoint)
            if origin is not None and origin.seal == name and after < origin.seq <= checkpoint.seq:
                problem = (
                    f"records {origin.seq}..{checkpoint.seq} were rewritten: record {origin.seq} no longer has the "
                    f"hash it had at Delta version {origin.delta_version}, which {name} vouches for, and record "
                    f"{checkpoint.seq} no longer has the hash sealed by {name}"
                )
                return _SealCheck(tuple(matched), _Finding(origin.seq, _also(problem, moved), 2), span)
            start = after + 1
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
                span,
            )
        matched.append(checkpoint.seq)
        matched_hash = checkpoint.tip_hash
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
