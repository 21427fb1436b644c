"""Many writers at once, and writers that die mid-append: the chain never forks and no acknowledged event is lost."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from deltalake import DeltaTable

from governance.audit.chain import chain
from lakehouse.audit.log import AuditLog
from lakehouse.audit.snapshot import frame_of
from lakehouse.audit.spool import Spool
from lakehouse.delta import CommitInfo, DeltaStore
from lakehouse.schemas import AUDIT
from lakehouse.storage import Storage
from tests.lakehouse.test_audit_log import COMMIT, audit_path, entry

WRITERS, PER_WRITER = 8, 1000


def make_log(root: Path) -> AuditLog:
    return AuditLog(DeltaStore(Storage(root / "lakehouse")), lock_path=root / "locks" / "audit.lock")


def _append_many(root: str, writer: int, count: int, barrier: Any) -> None:
    """A spawned process: its own store and log over the shared lakehouse, like one more CLI run."""
    log = make_log(Path(root))
    commit = CommitInfo(run_id=f"run-w{writer}", job="concurrency", actor=f"writer{writer}")
    barrier.wait(timeout=300)
    for i in range(count):
        log.append(entry(i, prefix=f"w{writer}"), commit=commit)


@pytest.mark.slow
def test_eight_processes_appending_a_thousand_each_leave_one_contiguous_verifying_chain(tmp_path: Path) -> None:
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(WRITERS)
    processes = [
        context.Process(target=_append_many, args=(str(tmp_path), w, PER_WRITER, barrier)) for w in range(WRITERS)
    ]
    for process in processes:
        process.start()
    deadline = time.monotonic() + 1200
    for process in processes:
        process.join(timeout=max(deadline - time.monotonic(), 1))
    for process in processes:
        if process.is_alive():
            process.kill()
    assert [p.exitcode for p in processes] == [0] * WRITERS

    total = WRITERS * PER_WRITER
    log = make_log(tmp_path)
    records = log.records()
    assert len(records) == total
    assert [r.seq for r in records] == list(range(1, total + 1))
    event_ids = [r.entry.event_id for r in records]
    assert len(set(event_ids)) == total
    assert set(event_ids) == {f"w{w}-{i}" for w in range(WRITERS) for i in range(PER_WRITER)}
    for w in range(WRITERS):  # each writer's entries keep the order it made them in
        mine = [int(e.split("-")[1]) for e in event_ids if e.startswith(f"w{w}-")]
        assert mine == list(range(PER_WRITER))
    verdict = log.verify()
    assert verdict.ok, verdict.problem
    assert verdict.records == total
    # Every writer's run id is stamped on the commits that carried its entries.
    stamped = {run for h in DeltaTable(str(audit_path(tmp_path))).history() for run in h["mlgov.run_id"].split(",")}
    assert stamped == {f"run-w{w}" for w in range(WRITERS)}


# --- writers that die ------------------------------------------------------------------------------


def test_a_batch_whose_writer_died_after_committing_is_settled_not_committed_again(tmp_path: Path) -> None:
    log = make_log(tmp_path)
    log.append(entry(1), commit=COMMIT)
    # A writer took entry 2 from the spool, committed it, and died before handing out the result.
    spool = Spool(tmp_path / "locks" / "audit.spool")
    ticket = spool.submit(entry(2), COMMIT)
    waiting = spool.pending(limit=10)
    record = chain(waiting[0].entry, after=log.records()[-1])
    spool.record_intent(waiting, [record])
    DeltaStore(Storage(tmp_path / "lakehouse")).append(AUDIT, frame_of([record]), commit=COMMIT)

    third = make_log(tmp_path).append(entry(3), commit=COMMIT)

    assert third.seq == 3
    assert [r.entry.event_id for r in log.records()] == ["e-1", "e-2", "e-3"]
    assert log.verify().ok
    placed = spool.take_result(ticket)  # the dead writer's result, had it lived to collect it
    assert placed is not None
    assert (placed.seq, placed.hash) == (2, record.hash)


def test_an_entry_whose_writer_died_before_its_commit_landed_is_committed_once(tmp_path: Path) -> None:
    log = make_log(tmp_path)
    log.append(entry(1), commit=COMMIT)
    spool = Spool(tmp_path / "locks" / "audit.spool")
    spool.submit(entry(2), COMMIT)
    waiting = spool.pending(limit=10)
    spool.record_intent(waiting, [chain(waiting[0].entry, after=log.records()[-1])])  # ...and nothing committed

    make_log(tmp_path).append(entry(3), commit=COMMIT)

    assert [r.entry.event_id for r in log.records()] == ["e-1", "e-2", "e-3"]
    assert log.verify().ok
    assert not (tmp_path / "locks" / "audit.spool" / "batch.intent").exists()


def _append_until_killed(root: str, prefix: str, acknowledged: str) -> None:
    log = make_log(Path(root))
    with open(acknowledged, "a") as out:
        for i in range(1_000_000):
            log.append(entry(i, prefix=prefix), commit=COMMIT)
            out.write(f"{prefix}-{i}\n")
            out.flush()


def test_writers_killed_mid_append_never_fork_the_chain_nor_lose_an_acknowledged_event(tmp_path: Path) -> None:
    context = multiprocessing.get_context("spawn")
    acknowledged = tmp_path / "acknowledged.txt"
    acknowledged.touch()
    for round_ in range(3):
        writers = [
            context.Process(target=_append_until_killed, args=(str(tmp_path), f"r{round_}w{w}", str(acknowledged)))
            for w in range(2)
        ]
        for writer in writers:
            writer.start()
        target = len(acknowledged.read_text().split()) + 6
        deadline = time.monotonic() + 180
        while len(acknowledged.read_text().split()) < target and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.003 * round_)  # land the kill at different points of a commit
        for writer in writers:
            assert writer.pid is not None
            os.kill(writer.pid, signal.SIGKILL)
            writer.join(timeout=30)

    make_log(tmp_path).append(entry(0, prefix="after"), commit=COMMIT)

    log = make_log(tmp_path)
    records = log.records()
    event_ids = [r.entry.event_id for r in records]
    assert len(event_ids) == len(set(event_ids)), "an event was committed twice"
    assert set(acknowledged.read_text().split()) <= set(event_ids), "an acknowledged event was lost"
    assert event_ids[-1] == "after-0"
    verdict = log.verify()
    assert verdict.ok, verdict.problem
    assert [r.seq for r in records] == list(range(1, len(records) + 1))
