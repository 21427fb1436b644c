"""The governed record: the rows of the governance tables as the audit chain carries them.

Every change to who may do what, to a promotion request, to an alias, to a model's policy or to a
registered version is one audit record whose details carry the rows it adds (under "governed"). The
chain is the truth: governance decisions read those rows from here, never from MLflow's tags or
aliases, the environment, or a table row the chain does not vouch for. The Delta tables of the same
names are projections of the chain, written after it, for pages, SQL and other engines.

Before its rows are used, each governed record is checked against its neighbours in the chain: its
hash must match its content, the record before it must end in the hash it points at, the record after
it must point at its hash, and no other record may hold its sequence number. A record slipped into
the table without being chained is refused, not counted.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

import polars as pl

from governance.audit.canonical import utc_text
from governance.audit.chain import AuditEntry, record_hash
from governance.errors import ConflictError, MlgovError
from lakehouse.delta import CommitInfo, DeltaStore, WriteResult
from lakehouse.schemas import AUDIT, CHAIN_TABLES, SCHEMAS

GOVERNED = "governed"  # the key of the rows a record vouches for, in its details
MIGRATED = "migrated"  # set in the details of a record that carries rows written before the chain did
_MARK = f'"{GOVERNED}":{{'  # canonical JSON has no spaces: how a governed record's details begin that key
_NOT_CARRIED = ("audit_seq",)  # known only once the record is placed in the chain

T = TypeVar("T")


def encode_rows(table: str, frame: pl.DataFrame) -> list[dict[str, object]]:
    """`frame`'s rows as the chain carries them: the table's columns but `audit_seq`, timestamps as
    canonical UTC text, no floats."""
    schema = SCHEMAS[table]
    rows = []
    for row in frame.iter_rows(named=True):
        encoded: dict[str, object] = {}
        for name in schema:
            if name in _NOT_CARRIED:
                continue
            value = row.get(name)
            if isinstance(value, datetime):
                value = utc_text(value)
            elif isinstance(value, float):
                raise ValueError(f"column {name!r} of {table} holds a float; the chain carries no floats")
            encoded[name] = value
        rows.append(encoded)
    return rows


def decode_rows(table: str, rows: Sequence[Mapping[str, object]], seqs: Sequence[int]) -> pl.DataFrame:
    """Rows carried by the chain as a frame of `table`'s schema, `audit_seq` set to the record's seq."""
    schema = SCHEMAS[table]
    if not rows:
        return pl.DataFrame(schema=schema)
    text = {name: pl.String if dtype == pl.Datetime("us", "UTC") else dtype for name, dtype in schema.items()}
    frame = pl.DataFrame(
        [
            {**{name: row.get(name) for name in schema if name not in _NOT_CARRIED}, "audit_seq": seq}
            for row, seq in zip(rows, seqs, strict=True)
        ],
        schema=text,
    )
    timestamps = [name for name, dtype in schema.items() if dtype == pl.Datetime("us", "UTC")]
    return frame.with_columns(pl.col(name).str.to_datetime(time_unit="us", time_zone="UTC") for name in timestamps)


@dataclass
class _Snapshot:
    """The governed rows read up to one version of the audit table."""

    version: int | None
    table_id: str | None
    last_seq: int = 0
    rows: dict[str, list[dict[str, object]]] = field(default_factory=dict)
    seqs: dict[str, list[int]] = field(default_factory=dict)
    migrated: list[int] = field(default_factory=list)  # records that carry rows an earlier release wrote
    frames: dict[str, pl.DataFrame] = field(default_factory=dict)
    derived: dict[tuple[tuple[str, ...], Callable[..., object]], object] = field(default_factory=dict)

    def forget(self, table: str) -> None:
        """Drop what was built from `table`'s rows, which have just grown."""
        self.frames.pop(table, None)
        for key in [key for key in self.derived if table in key[0]]:
            del self.derived[key]


class Ledger:
    """The governed rows of the chain, read incrementally as the audit table grows."""

    def __init__(self, store: DeltaStore) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._snapshot: _Snapshot | None = None

    def table(self, table: str, *, version: int | None = None) -> pl.DataFrame:
        """Every row of `table` the chain vouches for, in chain order, at audit `version` (None: latest)."""
        if table not in CHAIN_TABLES:
            raise ValueError(f"{table} is not carried by the audit chain")
        with self._lock:
            return self._frame(self._read(version), table)

    def derived(self, derive: Callable[..., T], *tables: str, version: int | None = None) -> T:
        """`derive(*frames)` of `tables`' frames (`self.table`, all from one read of the chain, at audit
        `version`), kept until one of `tables` gets new rows.

        For what every request folds from governance tables (the access policy, the disabled users):
        records that touch none of them, such as each sign-in's, keep the folded value. `derive` must be a
        pure function of the frames, and the same function object on every call.
        """
        unknown = [table for table in tables if table not in CHAIN_TABLES]
        if unknown:
            raise ValueError(f"not carried by the audit chain: {', '.join(unknown)}")
        with self._lock:
            snapshot = self._read(version)
            key = (tables, derive)
            if key not in snapshot.derived:
                snapshot.derived[key] = derive(*(self._frame(snapshot, table) for table in tables))
            return snapshot.derived[key]  # type: ignore[return-value]  # stored by this same `derive`

    @staticmethod
    def _frame(snapshot: _Snapshot, table: str) -> pl.DataFrame:
        if table not in snapshot.frames:
            snapshot.frames[table] = decode_rows(table, snapshot.rows.get(table, []), snapshot.seqs.get(table, []))
        return snapshot.frames[table]

    def migrated_seqs(self) -> list[int]:
        """The records that carry rows an earlier release wrote to the tables before the chain did."""
        with self._lock:
            return list(self._read(None).migrated)

    def version(self) -> int | None:
        """The audit table's current version (None while it does not exist)."""
        return self._store.version(AUDIT) if self._store.exists(AUDIT) else None

    def is_empty(self) -> bool:
        """Whether the chain holds no record at all (a lakehouse with no history)."""
        if not self._store.exists(AUDIT):
            return True
        return self._store.scan(AUDIT).select(pl.len()).collect().item() == 0

    def _read(self, version: int | None) -> _Snapshot:
        identity = self._store.snapshot_id(AUDIT, version=version)
        if identity is None:
            return _Snapshot(version=None, table_id=None)
        handle_version, table_id = identity
        cached = self._snapshot
        if cached is not None and cached.table_id == table_id and cached.version == handle_version:
            return cached
        if cached is None or cached.table_id != table_id or cached.version is None or cached.version > handle_version:
            cached = _Snapshot(version=None, table_id=table_id)
        self._extend(cached, handle_version)
        self._snapshot = cached
        return cached

    def _extend(self, snapshot: _Snapshot, version: int) -> None:
        """Add the governed records after `snapshot.last_seq`, up to audit `version`, after checking them."""
        audit = self._store.scan(AUDIT, version=version).filter(pl.col("seq") > snapshot.last_seq)
        governed = audit.filter(pl.col("details").str.contains(_MARK, literal=True)).sort("seq").collect()
        if governed.height:
            _check_links(self._store, governed, version=version)
        for record in governed.iter_rows(named=True):
            details = json.loads(record["details"])
            carried = details.get(GOVERNED, {})
            if details.get(MIGRATED):
                snapshot.migrated.append(record["seq"])
            for table, rows in carried.items():
                snapshot.rows.setdefault(table, []).extend(rows)
                snapshot.seqs.setdefault(table, []).extend([record["seq"]] * len(rows))
                snapshot.forget(table)
        last = audit.select(pl.col("seq").max()).collect().item()
        snapshot.last_seq = max(snapshot.last_seq, last or 0)
        snapshot.version = version


def _check_links(store: DeltaStore, governed: pl.DataFrame, *, version: int) -> None:
    """Refuse governed records the chain does not vouch for (see the module docstring)."""
    seqs = governed["seq"]
    around = pl.concat([seqs - 1, seqs + 1]).unique()
    neighbours = (
        store.scan(AUDIT, version=version)
        .filter(pl.col("seq").is_in(pl.concat([seqs, around]).unique().implode()))
        .select("seq", "prev_hash", "hash")
        .collect()
    )
    held = neighbours.group_by("seq").len()
    repeated = held.filter(pl.col("len") > 1)["seq"]
    if repeated.len():
        raise _unvouched(min(repeated.to_list()), "more than one record holds its sequence number")
    hashes = dict(zip(neighbours["seq"], neighbours["hash"], strict=True))
    prev_hashes = dict(zip(neighbours["seq"], neighbours["prev_hash"], strict=True))
    fields = AuditEntry.__dataclass_fields__
    for record in governed.iter_rows(named=True):
        seq = record["seq"]
        entry = AuditEntry(**{name: record[name] for name in fields})
        if record_hash(seq=seq, entry=entry, prev_hash=record["prev_hash"]) != record["hash"]:
            raise _unvouched(seq, "its content does not match its hash")
        if seq > 1 and hashes.get(seq - 1) != record["prev_hash"]:
            raise _unvouched(seq, f"it does not follow record {seq - 1}")
        if seq + 1 in prev_hashes and prev_hashes[seq + 1] != record["hash"]:
            raise _unvouched(seq, f"record {seq + 1} does not follow it")


def _unvouched(seq: int, why: str) -> MlgovError:
    return MlgovError(
        f"the audit chain does not vouch for governance record {seq} ({why}); "
        "nothing is decided on it: run mlgov audit verify"
    )


def project(store: DeltaStore, ledger: Ledger, table: str, *, commit: CommitInfo) -> WriteResult | None:
    """Bring projection `table` up to the chain: append the chain's rows it does not hold yet.

    Idempotent and safe against concurrent writers: rows are matched by the audit record that
    vouches for them, and the append is a compare-and-swap on the table's version. Rows written
    before the chain carried them (no `audit_seq`) stand for themselves: a table that holds such rows
    does not get them again from the record that migrated them, while a table that holds none (one
    the earlier release did not have) gets that record's rows like any others.
    """
    for _ in range(_MAX_PROJECTION_ATTEMPTS):
        exists = store.exists(table)
        version = store.version(table) if exists else None
        held = store.scan(table, version=version).select("audit_seq").collect()["audit_seq"] if exists else None
        chain = ledger.table(table)
        if held is not None and held.null_count():
            chain = chain.filter(~pl.col("audit_seq").is_in(ledger.migrated_seqs()))
        missing = chain if held is None else chain.filter(~pl.col("audit_seq").is_in(held.drop_nulls().implode()))
        if missing.height == 0:
            return None
        try:
            return store.append_at_version(table, missing, expected_version=version, commit=commit)
        except ConflictError:
            continue
    raise MlgovError(f"could not bring table {table!r} up to the audit chain: other writers kept winning")


_MAX_PROJECTION_ATTEMPTS = 20


def projection_problems(store: DeltaStore, ledger: Ledger) -> list[str]:
    """Where the governance tables differ from the rows the chain vouches for: a row the chain does not
    hold (appended behind mlgov's back), or a chain row the table lacks (deleted, or a write that was
    interrupted; the next governance command restores it). Rows an earlier release wrote before the
    chain carried them are compared with the migration record that took them in."""
    problems = []
    migrated = set(ledger.migrated_seqs())
    for table in CHAIN_TABLES:
        if not store.exists(table):
            continue
        chain = ledger.table(table)
        held = store.read(table)
        has_legacy = held["audit_seq"].null_count() > 0
        if has_legacy and not migrated:
            continue  # a lakehouse not migrated yet: nothing on the chain to compare with
        # as `project` writes them: a table that held 0.1 rows keeps those, seq-less, for the migrated ones
        took_in = pl.col("audit_seq").is_in(list(migrated)) if has_legacy else pl.lit(value=False)
        vouched = _row_counts(table, chain.filter(~took_in), with_seq=True)
        vouched_legacy = _row_counts(table, chain.filter(took_in), with_seq=False)
        found = _row_counts(table, held.filter(pl.col("audit_seq").is_not_null()), with_seq=True)
        legacy = _row_counts(table, held.filter(pl.col("audit_seq").is_null()), with_seq=False)
        for counts, expected, what in ((found, vouched, "chained"), (legacy, vouched_legacy, "migrated")):
            extra = sum((counts - expected).values())
            lacking = sum((expected - counts).values())
            if extra:
                problems.append(f"{table} holds {extra} {what} rows the audit chain does not vouch for")
            if lacking:
                problems.append(
                    f"{table} lacks {lacking} rows the audit chain holds (deleted, or an interrupted write)"
                )
    return problems


def _row_counts(table: str, frame: pl.DataFrame, *, with_seq: bool) -> Counter[str]:
    rows = encode_rows(table, frame)
    if with_seq:
        return Counter(
            json.dumps([seq, row], sort_keys=True) for seq, row in zip(frame["audit_seq"], rows, strict=True)
        )
    return Counter(json.dumps(row, sort_keys=True) for row in rows)
