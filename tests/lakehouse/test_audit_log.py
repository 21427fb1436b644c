"""AuditLog on a real Delta table: contiguous hash chain, tamper detection, concurrent writers."""

from __future__ import annotations

import itertools
import multiprocessing
import shutil
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl
import pytest
from deltalake import DeltaTable, write_deltalake

from governance.audit.canonical import canonical_json
from governance.audit.chain import GENESIS_HASH, AuditEntry
from lakehouse.audit.log import AuditLog
from lakehouse.delta import CommitInfo, DeltaStore
from lakehouse.schemas import AUDIT
from lakehouse.storage import CHECKPOINT_EVERY, Storage

T0 = datetime(2026, 6, 1, 9, 30, 15, 123456, tzinfo=UTC)
COMMIT = CommitInfo(run_id="run-audit", job="test", actor="ada")


def entry(i: int, *, prefix: str = "e", at: datetime | None = None) -> AuditEntry:
    return AuditEntry(
        event_id=f"{prefix}-{i}",
        at=at or T0 + timedelta(seconds=i),
        actor="ada",
        action="grant",
        object_type="user",
        object_id=f"user{i}",
        outcome="ok",
        reason=f"reason {i}",
        details=canonical_json({"i": str(i)}),
    )


def make_log(root: Path, lock_path: Path) -> AuditLog:
    return AuditLog(DeltaStore(Storage(root / "lakehouse")), lock_path=lock_path)


@pytest.fixture
def log(tmp_path: Path) -> AuditLog:
    return make_log(tmp_path, tmp_path / "audit.lock")


def audit_path(tmp_path: Path) -> Path:
    return tmp_path / "lakehouse" / AUDIT


def rewrite_audit_table(tmp_path: Path, edit: pl.Expr | None = None, *, drop_seq: int | None = None) -> None:
    """Simulate someone rewriting the audit table behind the store's back (it is delta.appendOnly)."""
    path = audit_path(tmp_path)
    frame = pl.read_delta(str(path)).sort("seq")
    if edit is not None:
        frame = frame.with_columns(edit)
    if drop_seq is not None:
        frame = frame.filter(pl.col("seq") != drop_seq)
    shutil.rmtree(path)
    write_deltalake(str(path), frame.to_arrow(), mode="overwrite")


# --- single writer -----------------------------------------------------------------------------


def test_a_bulk_append_is_one_commit_on_the_same_chain_as_single_appends(log: AuditLog, tmp_path: Path) -> None:
    first = log.append(entry(1), commit=COMMIT)
    bulk = log.append_many([entry(i) for i in range(2, 1002)], commit=COMMIT)
    last = log.append(entry(1002), commit=COMMIT)

    assert [r.seq for r in bulk] == list(range(2, 1002))
    assert bulk[0].prev_hash == first.hash
    assert last.prev_hash == bulk[-1].hash
    assert log.records() == [first, *bulk, last]
    assert log.verify().ok
    assert len(DeltaTable(str(audit_path(tmp_path))).history()) == 3
    assert log.append_many([], commit=COMMIT) == []


def test_appends_get_contiguous_sequence_numbers_and_verify(log: AuditLog, tmp_path: Path) -> None:
    returned = [log.append(entry(i), commit=COMMIT) for i in range(1, 6)]

    assert [r.seq for r in returned] == [1, 2, 3, 4, 5]
    assert returned[0].prev_hash == GENESIS_HASH
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(returned))
    stored = log.records()
    assert stored == returned
    verdict = log.verify()
    assert verdict.ok
    assert verdict.records == 5
    assert verdict.first_bad_seq is None
    # One Delta commit per record, each stamped with who wrote it.
    history = DeltaTable(str(audit_path(tmp_path))).history()
    assert len(history) == 5
    assert {h["mlgov.actor"] for h in history} == {"ada"}


def test_empty_audit_trail_verifies(log: AuditLog) -> None:
    assert log.records() == []
    verdict = log.verify()
    assert verdict.ok
    assert verdict.records == 0


def test_audit_table_is_append_only_in_delta(log: AuditLog, tmp_path: Path) -> None:
    log.append(entry(1), commit=COMMIT)
    assert DeltaTable(str(audit_path(tmp_path))).metadata().configuration.get("delta.appendOnly") == "true"


def test_non_utc_timestamps_round_trip_and_still_verify(log: AuditLog) -> None:
    tokyo = datetime(2026, 6, 1, 18, 30, 15, 654321, tzinfo=ZoneInfo("Asia/Tokyo"))
    log.append(entry(1, at=tokyo), commit=COMMIT)
    log.append(entry(2), commit=COMMIT)

    first = log.records()[0]
    assert first.entry.at == tokyo  # same instant, microseconds kept
    assert first.entry.at.utcoffset() == timedelta(0)
    assert log.verify().ok


def test_a_second_log_object_continues_the_same_chain(log: AuditLog, tmp_path: Path) -> None:
    log.append(entry(1), commit=COMMIT)
    other = make_log(tmp_path, tmp_path / "other.lock")
    record = other.append(entry(2), commit=COMMIT)
    assert record.seq == 2
    assert record.prev_hash == log.records()[0].hash
    assert log.verify().ok


# --- tampering ---------------------------------------------------------------------------------


def test_edited_reason_in_record_2_is_detected(log: AuditLog, tmp_path: Path) -> None:
    for i in range(1, 5):
        log.append(entry(i), commit=COMMIT)
    assert log.verify().ok

    rewrite_audit_table(
        tmp_path,
        pl.when(pl.col("seq") == 2).then(pl.lit("nothing to see here")).otherwise(pl.col("reason")).alias("reason"),
    )

    assert [r.entry.reason for r in log.records()][1] == "nothing to see here"
    verdict = log.verify()
    assert not verdict.ok
    assert verdict.first_bad_seq == 2
    assert verdict.records == 4
    assert "altered" in (verdict.problem or "")


def test_deleted_record_is_detected(log: AuditLog, tmp_path: Path) -> None:
    for i in range(1, 5):
        log.append(entry(i), commit=COMMIT)

    rewrite_audit_table(tmp_path, drop_seq=2)

    verdict = log.verify()
    assert not verdict.ok
    assert verdict.first_bad_seq == 2
    assert "missing" in (verdict.problem or "")


def test_edited_timestamp_is_detected(log: AuditLog, tmp_path: Path) -> None:
    for i in range(1, 4):
        log.append(entry(i), commit=COMMIT)

    rewrite_audit_table(
        tmp_path,
        pl.when(pl.col("seq") == 3)
        .then(pl.col("at") + pl.duration(microseconds=1))
        .otherwise(pl.col("at"))
        .alias("at"),
    )

    verdict = log.verify()
    assert not verdict.ok
    assert verdict.first_bad_seq == 3


def test_append_after_tampering_chains_onto_the_stored_tip_and_keeps_the_break_visible(
    log: AuditLog, tmp_path: Path
) -> None:
    for i in range(1, 4):
        log.append(entry(i), commit=COMMIT)
    rewrite_audit_table(
        tmp_path,
        pl.when(pl.col("seq") == 1).then(pl.lit("edited")).otherwise(pl.col("reason")).alias("reason"),
    )

    record = log.append(entry(4), commit=COMMIT)

    assert record.seq == 4
    assert log.verify().first_bad_seq == 1


# --- concurrent writers ------------------------------------------------------------------------

WORKERS = 4


def _append_many(root: str, lock: str, worker: int, count: int, barrier: Any) -> None:
    """Runs in a spawned process: its own store and log over the shared lakehouse."""
    audit = make_log(Path(root), Path(lock))
    commit = CommitInfo(run_id=f"run-w{worker}", job="concurrency", actor=f"worker{worker}")
    barrier.wait(timeout=60)
    for i in range(count):
        audit.append(entry(i, prefix=f"w{worker}"), commit=commit)


def _run_concurrently(tmp_path: Path, lock_for: list[Path], *, per_worker: int) -> None:
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(WORKERS)
    processes = [
        ctx.Process(target=_append_many, args=(str(tmp_path), str(lock_for[w]), w, per_worker, barrier))
        for w in range(WORKERS)
    ]
    for p in processes:
        p.start()
    for p in processes:
        p.join(timeout=120)
    for p in processes:
        if p.is_alive():
            p.kill()
    assert [p.exitcode for p in processes] == [0] * WORKERS


def _assert_complete_chain(tmp_path: Path, *, per_worker: int) -> None:
    total = WORKERS * per_worker
    log = make_log(tmp_path, tmp_path / "check.lock")
    records = log.records()
    assert len(records) == total
    assert [r.seq for r in records] == list(range(1, total + 1))
    event_ids = [r.entry.event_id for r in records]
    assert len(set(event_ids)) == len(event_ids)
    assert set(event_ids) == {f"w{w}-{i}" for w in range(WORKERS) for i in range(per_worker)}
    # Each worker's own entries stay in the order it appended them.
    for w in range(WORKERS):
        mine = [int(e.split("-")[1]) for e in event_ids if e.startswith(f"w{w}-")]
        assert mine == list(range(per_worker))
    verdict = log.verify()
    assert verdict.ok, verdict.problem
    assert verdict.records == total


def test_four_processes_sharing_the_lock_append_one_contiguous_chain(tmp_path: Path) -> None:
    lock = tmp_path / "locks" / "audit.lock"
    _run_concurrently(tmp_path, [lock] * WORKERS, per_worker=25)
    _assert_complete_chain(tmp_path, per_worker=25)


def test_writers_without_a_shared_lock_still_append_one_contiguous_chain(tmp_path: Path) -> None:
    """The compare-and-swap on the table version alone keeps the chain intact: four threads, four locks."""
    per_worker = 10
    barrier = threading.Barrier(WORKERS)
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            _append_many(str(tmp_path), str(tmp_path / "locks" / f"audit{worker}.lock"), worker, per_worker, barrier)
        except BaseException as error:  # surfaced below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(WORKERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    _assert_complete_chain(tmp_path, per_worker=per_worker)


def test_the_writer_checkpoints_every_tenth_version_and_the_chain_still_verifies(log: AuditLog, tmp_path: Path) -> None:
    for i in range(1, CHECKPOINT_EVERY + 2):
        log.append_many([entry(i)], commit=COMMIT)

    storage = log.store.storage
    assert storage.log_versions(AUDIT).checkpoints == (CHECKPOINT_EVERY,)
    assert storage.log_versions(AUDIT).commits == tuple(range(CHECKPOINT_EVERY + 1))
    assert [r.seq for r in log.records()] == list(range(1, CHECKPOINT_EVERY + 2))
    assert log.verify().ok


def test_compaction_keeps_audit_files_to_their_target_size_and_the_chain_verifies(log: AuditLog) -> None:
    for first in range(1, 3001, 100):
        log.append_many([entry(i) for i in range(first, first + 100)], commit=COMMIT)
    store = log.store

    done = store.maintain(AUDIT, commit=COMMIT, vacuum=False, retention_hours=0, target_size=64 * 1024)

    sizes = pl.DataFrame(store.storage.open(AUDIT).get_add_actions(flatten=True))["size_bytes"].to_list()
    assert done.files_before == 30
    assert 1 < done.files_after < 30
    assert max(sizes) < 4 * 64 * 1024  # bins of about the target, not one file of everything
    verdict = log.verify()
    assert verdict.ok
    assert verdict.records == 3000
