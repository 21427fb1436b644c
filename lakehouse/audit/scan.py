"""Verifying the audit table as storage holds it now, streamed: the records are read in sequence
order a batch of data files at a time, hashed column-wise (`hashing`) and fed to the pure
`ChainChecker`, so a trail of any length is verified in bounded memory, without an object per record.

Besides the records it reads what only storage can tell: data files the log lists but that cannot
be read, commits missing from the Delta log (the table cannot be read past them), data files the log
does not list whose records carry the chain on (the commit that added them is gone), and, for a
rewrite that a seal catches, where the rewrite starts according to the table's own history.
"""

from __future__ import annotations

import json
import time
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass

import polars as pl
from deltalake import DeltaTable
from deltalake.exceptions import DeltaError

from governance.audit.chain import GENESIS_HASH, AuditRecord, ChainChecker, RepeatedEvent, first_repeated_event
from governance.audit.seals import SealReading
from governance.audit.verify import (
    AuditVerdict,
    ChainScan,
    LogGap,
    RewriteOrigin,
    RewrittenSpan,
    TableState,
    UnlistedPart,
    UnreadablePart,
    rewritten_span,
    verify_scan,
)
from governance.errors import MlgovError
from lakehouse.audit.hashing import content_hashes
from lakehouse.audit.snapshot import SCHEMA, data_files, read_files, records_of
from lakehouse.schemas import AUDIT
from lakehouse.storage import LogVersions, Storage

BATCH_ROWS = 10_000  # records hashed at a time: bounds memory, amortizes reading many small files
# A data file the log does not list yet may be one a writer is about to commit: judge only older ones.
SETTLE_SECONDS = 60.0
_LOCATION = "_location"
_EVENT_SEED = 0x6D6C676F76  # any fixed seed: the hashes are compared within one process only


@dataclass(frozen=True)
class TrailReading:
    """What `scan_trail` read: the table's state, the chain's scan and what storage itself showed."""

    table: TableState | None
    scan: ChainScan
    unreadable: list[UnreadablePart]
    log_gap: LogGap | None
    unlisted: list[UnlistedPart]
    tip: AuditRecord | None  # the record with the highest seq read
    files: pl.DataFrame  # the readable data files: path, location, first_seq, last_seq (as read)


@dataclass(frozen=True)
class _File:
    path: str
    location: str
    first_seq: int
    last_seq: int
    rows: int


def scan_trail(
    storage: Storage, *, sealed: Collection[int], now: float | None = None, batch_rows: int = BATCH_ROWS
) -> TrailReading:
    """The audit table as storage holds it now, checked record by record without holding it whole.

    `sealed` are the seqs the seals name, whose stored hashes the seals are checked against; `now`
    (seconds since the epoch, the clock's by default) decides which unlisted data files are settled.
    """
    where = storage.uri(AUDIT)
    if not storage.exists(AUDIT):
        return _reading(table=None, scan=_empty_scan(), files=_no_files())
    versions = storage.log_versions(AUDIT)
    gap = _first_missing_commit(versions)
    try:
        if gap is None:
            handle: DeltaTable | None = storage.open(AUDIT)
        else:
            handle = storage.open(AUDIT, version=gap - 1) if gap > 0 else None
    except DeltaError as error:
        raise MlgovError(f"the audit table at {where} cannot be opened: {error}") from None
    log_gap = None
    if gap is not None:
        log_gap = LogGap(
            version=gap,
            location=storage.commit_location(AUDIT, gap),
            next_first_seq=_first_seq_added_after(storage, versions, gap),
        )
    if handle is None:
        return _reading(table=None, scan=_empty_scan(), files=_no_files(), log_gap=log_gap)
    try:
        version = handle.version()
        if gap is not None:
            # The log goes on past the gap: seals of those versions were made on this table, not a rollback.
            version = max(versions.commits[-1:] + versions.checkpoints[-1:] + (version,))
        table = TableState(version=version, table_id=str(handle.metadata().id))
    except DeltaError as error:
        raise MlgovError(f"the audit table at {where} cannot be opened: {error}") from None

    listed = data_files(handle, where=where)
    listed = listed.with_columns(
        pl.Series("location", [storage.data_file(AUDIT, p) for p in listed["path"]], pl.String)
    )
    unreadable = [
        UnreadablePart(location=row["location"], first_seq=row["first_seq"], last_seq=row["last_seq"])
        for row in listed.iter_rows(named=True)
        if not storage.is_file(row["location"])
    ]
    missing = {part.location for part in unreadable}
    files, unreadable_too = _seq_ranges(storage, listed.filter(~pl.col("location").is_in(list(missing))))
    unreadable.extend(unreadable_too)

    streamed = _stream(storage, files, sealed=sealed, batch_rows=batch_rows, unreadable=unreadable)
    scan = streamed.scan
    unlisted: list[UnlistedPart] = []
    if log_gap is None and scan.broken is None and scan.repeat is None and not unreadable:
        unlisted = _unlisted(
            storage,
            listed=set(listed["location"]),
            after=scan.last_seq,
            after_hash=scan.last_hash or GENESIS_HASH,
            settled_before=(time.time() if now is None else now) - SETTLE_SECONDS,
        )
    frame = pl.DataFrame(
        {
            "path": [f.path for f in files],
            "location": [f.location for f in files],
            "first_seq": [f.first_seq for f in files],
            "last_seq": [f.last_seq for f in files],
        },
        schema={"path": pl.String, "location": pl.String, "first_seq": pl.Int64, "last_seq": pl.Int64},
    )
    return _reading(
        table=table,
        scan=scan,
        files=frame,
        unreadable=unreadable,
        log_gap=log_gap,
        unlisted=unlisted,
        tip=streamed.tip,
    )


def verify_reading(storage: Storage, reading: TrailReading, *, seals: Sequence[SealReading]) -> AuditVerdict:
    """The verdict on what `scan_trail` read; for a consistent rewrite a seal catches, from its first record
    when the table's history can tell (`rewrite_origin`)."""

    def judged(origin: RewriteOrigin | None = None) -> AuditVerdict:
        return verify_scan(
            reading.scan,
            table=reading.table,
            unreadable=reading.unreadable,
            seals=seals,
            log_gap=reading.log_gap,
            unlisted=reading.unlisted,
            origin=origin,
        )

    verdict = judged()
    span = rewritten_span(reading.scan, table=reading.table, seals=seals) if not verdict.ok else None
    if span is None or verdict.first_bad_seq != span.after + 1:
        return verdict  # fine, or something before the rewrite comes first
    origin = rewrite_origin(storage, span, table=reading.table, current=reading.files)
    return verdict if origin is None else judged(origin)


def rewrite_origin(
    storage: Storage, span: RewrittenSpan, *, table: TableState | None, current: pl.DataFrame
) -> RewriteOrigin | None:
    """Where a rewrite the seal `span.seal` catches starts, if the table's history can tell; else None.

    The records after the last good seal through the sealed one are read as they were at the sealed
    Delta version and must chain from the last good seal's hash to the hash the seal signs: then the
    seal vouches for each of them, and the first whose hash differs now is the first rewritten. That
    takes the same table (not one recreated) with the sealed version still readable (its log and
    data files not cleaned up, nor edited in place). `current` are the current data files.
    """
    checkpoint = span.checkpoint
    if table is None or checkpoint.table_id != table.table_id:
        return None
    try:
        then_handle = storage.open(AUDIT, version=checkpoint.delta_version)
        then_files = data_files(then_handle, where=storage.uri(AUDIT))
    except (DeltaError, MlgovError):
        return None
    then_files = then_files.with_columns(
        pl.Series("location", [storage.data_file(AUDIT, p) for p in then_files["path"]], pl.String)
    )
    try:
        then = _records_between(storage, then_files, after=span.after, through=checkpoint.seq)
        now = _records_between(storage, current, after=span.after, through=checkpoint.seq)
    except MlgovError:
        return None
    checker = ChainChecker(first_seq=span.after + 1, prev_hash=span.after_hash)
    checker.feed(then["seq"].to_list(), then["prev_hash"].to_list(), then["hash"].to_list(), content_hashes(then))
    if checker.broken is not None or checker.next_seq != checkpoint.seq + 1 or checker.last_hash != checkpoint.tip_hash:
        return None
    compared = then.select("seq", "hash").join(
        now.select("seq", pl.col("hash").alias("now")).unique("seq", keep="first", maintain_order=True),
        on="seq",
        how="left",
    )
    changed = compared.filter(pl.col("now").is_null() | (pl.col("now") != pl.col("hash"))).sort("seq")
    if changed.height == 0:
        return None
    return RewriteOrigin(seal=span.seal, seq=changed["seq"][0], delta_version=checkpoint.delta_version)


# --- reading ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Streamed:
    scan: ChainScan
    tip: AuditRecord | None


def _stream(
    storage: Storage, files: list[_File], *, sealed: Collection[int], batch_rows: int, unreadable: list[UnreadablePart]
) -> _Streamed:
    checker = ChainChecker()
    sealed_list = sorted(set(sealed))
    sealed_series = pl.Series("sealed", sealed_list, pl.Int64)
    hashes_at: dict[int, str] = {}
    above = [0] * len(sealed_list)
    event_ids: list[pl.DataFrame] = []
    last_seq, last_hash = 0, None
    tip_row: pl.DataFrame | None = None
    for batch in _batches(storage, files, batch_rows=batch_rows, unreadable=unreadable):
        if batch.height == 0:
            continue
        seqs = batch["seq"]
        if checker.broken is None:
            event_ids.append(batch.select("seq", pl.col("event_id").hash(_EVENT_SEED).alias("event")))
        checker.feed(
            seqs.to_list(),
            batch["prev_hash"].to_list(),
            batch["hash"].to_list(),
            content_hashes(batch) if checker.broken is None else None,
        )
        if sealed_list:
            for seq, stored in batch.filter(pl.col("seq").is_in(sealed_series)).select("seq", "hash").iter_rows():
                hashes_at.setdefault(seq, stored)
            positions = seqs.search_sorted(sealed_series, side="right").to_list()
            above = [count + batch.height - position for count, position in zip(above, positions, strict=True)]
        highest = seqs[-1]
        if highest > last_seq:
            tip_row = batch.filter(pl.col("seq") == highest).head(1)
            last_seq, last_hash = highest, tip_row["hash"][0]
    return _Streamed(
        scan=ChainScan(
            records=checker.records,
            last_seq=last_seq,
            last_hash=last_hash,
            broken=checker.broken,
            repeat=_first_repeat(storage, files, event_ids),
            hashes_at=hashes_at,
            records_after=dict(zip(sealed_list, above, strict=True)),
        ),
        tip=records_of(tip_row)[0] if tip_row is not None else None,
    )


def _batches(
    storage: Storage, files: list[_File], *, batch_rows: int, unreadable: list[UnreadablePart]
) -> Iterator[pl.DataFrame]:
    """The records of `files` in seq order, about `batch_rows` at a time; files whose seqs overlap together."""
    pending: list[_File] = []
    rows = 0
    reach = None  # the highest seq of the pending files
    for file in sorted(files, key=lambda f: (f.first_seq, f.last_seq)):
        if pending and rows >= batch_rows and reach is not None and file.first_seq > reach:
            yield _read_sorted(storage, pending, unreadable=unreadable)
            pending, rows, reach = [], 0, None
        pending.append(file)
        rows += file.rows
        reach = file.last_seq if reach is None else max(reach, file.last_seq)
    if pending:
        yield _read_sorted(storage, pending, unreadable=unreadable)


def _read_sorted(storage: Storage, files: list[_File], *, unreadable: list[UnreadablePart]) -> pl.DataFrame:
    """The records of `files` in seq order; a file whose seqs read but whose records do not is listed."""
    try:
        frame = read_files(storage, [f.path for f in files])
    except MlgovError:
        parts = []
        for file in files:
            try:
                parts.append(read_files(storage, [file.path]))
            except MlgovError:
                unreadable.append(
                    UnreadablePart(location=file.location, first_seq=file.first_seq, last_seq=file.last_seq)
                )
        frame = pl.concat(parts) if parts else pl.DataFrame(schema=SCHEMA)
    return frame.filter(pl.col("seq").is_not_null()).sort("seq", maintain_order=True)


def _seq_ranges(storage: Storage, listed: pl.DataFrame) -> tuple[list[_File], list[UnreadablePart]]:
    """Each readable file's actual seq range (statistics can be missing or wrong); the unreadable ones."""
    if listed.height == 0:
        return [], []
    rows = list(listed.iter_rows(named=True))
    failed: list[dict[str, object]] = []
    try:
        ranges = _ranges(storage, list(listed["location"]))
    except (pl.exceptions.PolarsError, OSError):
        # Some file is there but unreadable (truncated, or not parquet): find which, read the rest.
        ranges = {}
        for row in rows:
            try:
                ranges.update(_ranges(storage, [row["location"]]))
            except (pl.exceptions.PolarsError, OSError):
                failed.append(row)
    files = []
    unreadable = [
        UnreadablePart(location=str(row["location"]), first_seq=_int(row["first_seq"]), last_seq=_int(row["last_seq"]))
        for row in failed
    ]
    for row in rows:
        found = ranges.get(row["location"])
        if found is None:
            continue  # unreadable, or no rows at all
        low, high, count, nulls = found
        if nulls:
            # A record without a sequence number has no place in the chain: its file cannot be vouched for.
            unreadable.append(UnreadablePart(location=row["location"], first_seq=low, last_seq=high))
        if low is not None and high is not None:
            files.append(_File(path=row["path"], location=row["location"], first_seq=low, last_seq=high, rows=count))
    return files, unreadable


def _ranges(storage: Storage, locations: list[str]) -> dict[str, tuple[int | None, int | None, int, int]]:
    """Per file: lowest and highest seq, rows, and rows without a seq; aggregated as the files stream by."""
    per_file = (
        storage.scan_parquet(locations, location_column=_LOCATION)
        .group_by(_LOCATION)
        .agg(
            pl.col("seq").min().alias("low"),
            pl.col("seq").max().alias("high"),
            pl.len().alias("rows"),
            pl.col("seq").null_count().alias("nulls"),
        )
        .collect(engine="streaming")
    )
    return {location: (low, high, rows, nulls) for location, low, high, rows, nulls in per_file.iter_rows()}


def _int(value: object) -> int | None:
    return value if isinstance(value, int) else None


def _first_repeat(storage: Storage, files: list[_File], event_ids: list[pl.DataFrame]) -> RepeatedEvent | None:
    """The first record whose event id a record with a lower seq has (`first_repeated_event`).

    Found column-wise from 64-bit hashes of the event ids (16 bytes a record, not the ids themselves);
    the records whose hash another record shares are then read back and judged on their real ids.
    """
    if not event_ids:
        return None
    hashed = pl.concat(event_ids, rechunk=False)
    ordered = hashed["event"].sort()  # sorting takes far less memory than a hash table of a million keys
    twice = ordered.filter(ordered == ordered.shift(1))
    if twice.len() == 0:
        return None
    shared = hashed.filter(pl.col("event").is_in(twice.unique().implode()))
    seqs = shared["seq"].unique().sort()
    low, high = seqs[0], seqs[-1]
    wanted = [f for f in files if f.last_seq >= low and f.first_seq <= high]
    try:
        frame = read_files(storage, [f.path for f in wanted]).filter(pl.col("seq").is_in(seqs.implode()))
    except MlgovError:
        return None  # a file that cannot be read back is named as unreadable
    return first_repeated_event(frame["seq"].to_list(), frame["event_id"].to_list())


def _records_between(storage: Storage, files: pl.DataFrame, *, after: int, through: int) -> pl.DataFrame:
    """The records with seq in after+1..through held by `files` (path, first_seq, last_seq), in seq order."""
    wanted = files.filter(
        pl.col("first_seq").is_null()
        | pl.col("last_seq").is_null()
        | ((pl.col("last_seq") > after) & (pl.col("first_seq") <= through))
    )
    frame = read_files(storage, wanted["path"].to_list())
    return frame.filter(pl.col("seq").is_between(after + 1, through)).sort("seq", maintain_order=True)


# --- the Delta log -----------------------------------------------------------------------------------


def _first_missing_commit(versions: LogVersions) -> int | None:
    """The first commit the log needs but lacks: every one after the newest checkpoint must be there."""
    newest = max(versions.commits[-1:] + versions.checkpoints[-1:], default=None)
    if newest is None:
        return None
    start = versions.checkpoints[-1] + 1 if versions.checkpoints else 0
    present = set(versions.commits)
    return next((version for version in range(start, newest + 1) if version not in present), None)


def _first_seq_added_after(storage: Storage, versions: LogVersions, gap: int) -> int | None:
    """The lowest seq the first commit after the missing ones added, from its files' statistics."""
    later = next((version for version in versions.commits if version > gap), None)
    if later is None:
        return None
    try:
        actions = storage.commit_actions(AUDIT, later)
    except (OSError, ValueError):
        return None
    lows = []
    for action in actions:
        add = action.get("add") if isinstance(action, dict) else None
        if not isinstance(add, dict) or not isinstance(add.get("stats"), str):
            continue
        try:
            low = json.loads(add["stats"]).get("minValues", {}).get("seq")
        except (ValueError, AttributeError):
            continue
        if isinstance(low, int):
            lows.append(low)
    return min(lows, default=None)


def _unlisted(
    storage: Storage, *, listed: set[str], after: int, after_hash: str, settled_before: float
) -> list[UnlistedPart]:
    """Data files the log does not list whose records carry the chain on after record `after`.

    Losing writers of a compare-and-swap leave such files too, but theirs hold seqs the winner took.
    """
    candidates = [
        found.location
        for found in storage.files_on_disk(AUDIT)
        if found.location not in listed and found.modified <= settled_before
    ]
    parts: list[UnlistedPart] = []
    while candidates:
        frames = []
        for location in candidates:
            try:
                frame = storage.read_parquet([location], columns=list(SCHEMA), location_column=_LOCATION)
            except (pl.exceptions.PolarsError, OSError):
                continue  # an unlisted file that cannot be read tells nothing
            if frame.filter(pl.col("seq") == after + 1).height:
                frames.append(frame)
        if not frames:
            break
        frame = frames[0]
        location = frame[_LOCATION][0]
        records = frame.drop(_LOCATION).cast(SCHEMA).filter(pl.col("seq") > after).sort("seq", maintain_order=True)
        checker = ChainChecker(first_seq=after + 1, prev_hash=after_hash)
        checker.feed(
            records["seq"].to_list(), records["prev_hash"].to_list(), records["hash"].to_list(), content_hashes(records)
        )
        held = checker.next_seq - (after + 1)
        if held == 0:
            break
        parts.append(UnlistedPart(location=location, first_seq=after + 1, last_seq=after + held))
        after, after_hash = after + held, checker.last_hash
        candidates = [c for c in candidates if c != location]
    return parts


# --- results ---------------------------------------------------------------------------------------


def _empty_scan() -> ChainScan:
    return ChainScan(records=0, last_seq=0, last_hash=None, broken=None, repeat=None)


def _no_files() -> pl.DataFrame:
    return pl.DataFrame(schema={"path": pl.String, "location": pl.String, "first_seq": pl.Int64, "last_seq": pl.Int64})


def _reading(
    *,
    table: TableState | None,
    scan: ChainScan,
    files: pl.DataFrame,
    unreadable: list[UnreadablePart] | None = None,
    log_gap: LogGap | None = None,
    unlisted: list[UnlistedPart] | None = None,
    tip: AuditRecord | None = None,
) -> TrailReading:
    return TrailReading(
        table=table,
        scan=scan,
        unreadable=unreadable or [],
        log_gap=log_gap,
        unlisted=unlisted or [],
        tip=tip,
        files=files,
    )
