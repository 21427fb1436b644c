"""Streamed verification on real Delta tables: the same verdicts as verifying the records in memory, and
what only storage shows (issue #9): where a consistent rewrite starts, commits missing from the log,
data files the log does not list."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest
from deltalake import DeltaTable, write_deltalake

from governance.audit.chain import GENESIS_HASH, AuditRecord, chain, record_hash
from governance.audit.verify import AuditVerdict, sealed_seqs, verify_scan, verify_trail
from lakehouse.audit.log import AuditLog
from lakehouse.audit.scan import SETTLE_SECONDS, scan_trail
from lakehouse.audit.snapshot import frame_of, read_snapshot, records_of
from lakehouse.storage import Storage
from tests.lakehouse.test_audit_log import COMMIT, T0, audit_path, entry, rewrite_audit_table
from tests.lakehouse.test_audit_seals import make_log


@pytest.fixture
def keyed(tmp_path: Path) -> AuditLog:
    log = make_log(tmp_path)
    log.seals.create_key()
    return log


def append_range(log: AuditLog, first: int, last: int) -> None:
    """Records first..last in one commit."""
    log.append_many([entry(i) for i in range(first, last + 1)], commit=COMMIT)


def storage(tmp_path: Path) -> Storage:
    return Storage(tmp_path / "lakehouse")


def streamed(tmp_path: Path, log: AuditLog, *, batch_rows: int) -> AuditVerdict:
    seals = log.seals.read()
    reading = scan_trail(storage(tmp_path), sealed=sealed_seqs(seals), batch_rows=batch_rows)
    return verify_scan(reading.scan, table=reading.table, unreadable=reading.unreadable, seals=seals)


def in_memory(tmp_path: Path, log: AuditLog) -> AuditVerdict:
    snapshot = read_snapshot(storage(tmp_path))
    return verify_trail(snapshot.records, table=snapshot.table, unreadable=snapshot.unreadable, seals=log.seals.read())


def forge_from(records: list[AuditRecord], seq: int) -> pl.DataFrame:
    """The table's rows with record `seq` edited and every hash from it on recomputed consistently."""
    forged, prev = [], GENESIS_HASH
    for record in records:
        item = record.entry
        if record.seq == seq:
            item = type(item)(**{**item.__dict__, "reason": "nothing happened"})
        if record.seq >= seq:
            record = AuditRecord(
                seq=record.seq, entry=item, prev_hash=prev, hash=record_hash(seq=record.seq, entry=item, prev_hash=prev)
            )
        forged.append(record)
        prev = record.hash
    return frame_of(forged)


def overwrite_in_place(tmp_path: Path, frame: pl.DataFrame) -> None:
    """Someone with write access lifts append-only and overwrites the table: same table, a new version."""
    path = str(audit_path(tmp_path))
    DeltaTable(path).alter.set_table_properties({"delta.appendOnly": "false"})
    write_deltalake(path, frame.to_arrow(), mode="overwrite")


def commit_file(tmp_path: Path, version: int) -> Path:
    return audit_path(tmp_path) / "_delta_log" / f"{version:020d}.json"


def files_of_commit(tmp_path: Path, version: int) -> list[Path]:
    before = set(DeltaTable(str(audit_path(tmp_path)), version=version - 1).file_uris()) if version else set()
    after = set(DeltaTable(str(audit_path(tmp_path)), version=version).file_uris())
    return [Path(uri.removeprefix("file://")) for uri in after - before]


def age(paths: list[Path]) -> None:
    old = time.time() - SETTLE_SECONDS - 5
    for path in paths:
        os.utime(path, (old, old))


# --- the same verdicts as in memory ----------------------------------------------------------------


def _edit(tmp_path: Path) -> None:
    rewrite_audit_table(
        tmp_path, pl.when(pl.col("seq") == 5).then(pl.lit("edited")).otherwise(pl.col("reason")).alias("reason")
    )


def _drop(tmp_path: Path) -> None:
    rewrite_audit_table(tmp_path, drop_seq=4)


def _swap(tmp_path: Path) -> None:
    swapped = pl.when(pl.col("seq") == 6).then(7).when(pl.col("seq") == 7).then(6).otherwise(pl.col("seq"))
    rewrite_audit_table(tmp_path, swapped.cast(pl.Int64).alias("seq"))


def _duplicate_in_another_file(tmp_path: Path) -> None:
    path = str(audit_path(tmp_path))
    row = pl.read_delta(path).filter(pl.col("seq") == 3)
    write_deltalake(path, row.to_arrow(), mode="append")


def _replay_at_the_end(tmp_path: Path) -> None:
    path = str(audit_path(tmp_path))
    records = records_of(pl.read_delta(path).sort("seq"))
    replayed = chain(records[1].entry, after=records[-1])
    write_deltalake(path, frame_of([replayed]).to_arrow(), mode="append")


def _interleaved_files(tmp_path: Path) -> None:
    """The same records, rewritten as two files whose seqs interleave: read together, in seq order."""
    frame = pl.read_delta(str(audit_path(tmp_path))).sort("seq")
    overwrite_in_place(tmp_path, frame.filter(pl.col("seq") % 2 == 1))
    write_deltalake(str(audit_path(tmp_path)), frame.filter(pl.col("seq") % 2 == 0).to_arrow(), mode="append")


@pytest.mark.parametrize("batch_rows", [1, 3, 10_000])
@pytest.mark.parametrize(
    "tamper", [None, _edit, _drop, _swap, _duplicate_in_another_file, _replay_at_the_end, _interleaved_files]
)
def test_streamed_verification_gives_the_verdict_of_verifying_in_memory(
    keyed: AuditLog, tmp_path: Path, tamper, batch_rows: int
) -> None:
    append_range(keyed, 1, 3)
    append_range(keyed, 4, 6)
    keyed.seal(at=T0)
    append_range(keyed, 7, 9)
    if tamper is not None:
        tamper(tmp_path)
    expected = in_memory(tmp_path, keyed)
    assert streamed(tmp_path, keyed, batch_rows=batch_rows) == expected
    assert expected.ok is (tamper is None or tamper is _interleaved_files)


def test_a_replayed_event_is_named_across_batches(keyed: AuditLog, tmp_path: Path) -> None:
    append_range(keyed, 1, 6)
    _replay_at_the_end(tmp_path)
    verdict = streamed(tmp_path, keyed, batch_rows=2)
    assert (verdict.first_bad_seq, verdict.problem) == (7, "record 7 repeats event 'e-2' of record 2")


def test_a_data_file_whose_seqs_read_but_whose_records_do_not_is_named(keyed: AuditLog, tmp_path: Path) -> None:
    append_range(keyed, 1, 3)
    append_range(keyed, 4, 6)
    (broken,) = files_of_commit(tmp_path, 1)
    pl.read_parquet(broken).with_columns(pl.lit("not a time").alias("at")).write_parquet(broken)
    verdict = streamed(tmp_path, keyed, batch_rows=10_000)
    assert (verdict.ok, verdict.first_bad_seq, verdict.records) == (False, 4, 3)
    assert verdict.problem == f"records 4..6 cannot be read: data file {broken} is missing or unreadable"


# --- a consistent rewrite of sealed records (issue #9) ---------------------------------------------


def sealed_at_5_and_20(log: AuditLog) -> None:
    append_range(log, 1, 5)
    log.seal(at=T0)
    append_range(log, 6, 20)
    log.seal(at=T0)
    append_range(log, 21, 25)


def test_a_consistent_rewrite_from_record_10_is_named_at_record_10(keyed: AuditLog, tmp_path: Path) -> None:
    sealed_at_5_and_20(keyed)
    overwrite_in_place(tmp_path, forge_from(keyed.records(), 10))

    verdict = keyed.verify()
    assert (verdict.ok, verdict.first_bad_seq, verdict.sealed_through) == (False, 10, 5)
    assert verdict.problem == (
        "records 10..20 were rewritten: record 10 no longer has the hash it had at Delta version 1, which "
        "seal-000002.json vouches for, and record 20 no longer has the hash sealed by seal-000002.json"
    )


def test_a_rewrite_under_a_single_seal_is_named_at_its_first_record_too(keyed: AuditLog, tmp_path: Path) -> None:
    append_range(keyed, 1, 20)
    keyed.seal(at=T0)
    overwrite_in_place(tmp_path, forge_from(keyed.records(), 10))
    assert keyed.verify().first_bad_seq == 10


def test_a_rewrite_into_a_recreated_table_is_named_from_the_last_good_seal(keyed: AuditLog, tmp_path: Path) -> None:
    """A new table has no history to read the sealed records back from: 6 is all the seals can tell."""
    sealed_at_5_and_20(keyed)
    forged = forge_from(keyed.records(), 10)
    shutil.rmtree(audit_path(tmp_path))
    write_deltalake(str(audit_path(tmp_path)), forged.to_arrow())

    verdict = keyed.verify()
    assert (verdict.first_bad_seq, verdict.sealed_through) == (6, 5)
    assert (verdict.problem or "").startswith(
        "records 6..20 were rewritten: record 20 no longer has the hash sealed by seal-000002.json"
    )


def test_a_rewrite_whose_old_data_files_are_gone_is_named_from_the_last_good_seal(
    keyed: AuditLog, tmp_path: Path
) -> None:
    sealed_at_5_and_20(keyed)
    old_files = files_of_commit(tmp_path, 1)  # records 6..20, read back to find the rewrite's start
    overwrite_in_place(tmp_path, forge_from(keyed.records(), 10))
    for path in old_files:
        path.unlink()
    assert keyed.verify().first_bad_seq == 6


def test_a_rewrite_of_the_data_files_in_place_is_named_from_the_last_good_seal(keyed: AuditLog, tmp_path: Path) -> None:
    """The sealed version then reads the forged records too: they do not chain to the sealed hash."""
    sealed_at_5_and_20(keyed)
    forged = forge_from(keyed.records(), 10)
    (target,) = files_of_commit(tmp_path, 1)
    forged.filter(pl.col("seq").is_between(6, 20)).write_parquet(target)
    for version, (low, high) in {2: (21, 25)}.items():
        (later,) = files_of_commit(tmp_path, version)
        forged.filter(pl.col("seq").is_between(low, high)).write_parquet(later)
    assert keyed.verify().first_bad_seq == 6


# --- commits missing from the Delta log ----------------------------------------------------------------


def three_commits(log: AuditLog) -> None:
    append_range(log, 1, 3)  # version 0
    append_range(log, 4, 6)  # version 1
    log.seal(at=T0)
    append_range(log, 7, 9)  # version 2
    append_range(log, 10, 12)  # version 3


def test_a_deleted_commit_in_the_middle_names_the_first_record_it_wrote(keyed: AuditLog, tmp_path: Path) -> None:
    three_commits(keyed)
    commit_file(tmp_path, 2).unlink()

    verdict = keyed.verify()
    assert (verdict.ok, verdict.first_bad_seq, verdict.records, verdict.sealed_through) == (False, 7, 6, 6)
    assert verdict.problem == (
        f"commit 2 of the Delta log ({commit_file(tmp_path, 2)}) is missing, so the table cannot be read past "
        "Delta version 1: records 7..9, which it wrote, and every record after them cannot be vouched for"
    )
    with pytest.raises(Exception, match="does not verify at record 7"):
        keyed.seal(at=T0)


def test_a_deleted_first_commit_names_record_1(keyed: AuditLog, tmp_path: Path) -> None:
    three_commits(keyed)
    commit_file(tmp_path, 0).unlink()

    verdict = keyed.verify()
    assert (verdict.ok, verdict.first_bad_seq, verdict.records) == (False, 1, 0)
    assert (verdict.problem or "").startswith(
        f"commit 0 of the Delta log ({commit_file(tmp_path, 0)}) is missing, so the table cannot be read at all: "
        "records 1..3, which it wrote"
    )


def test_a_deleted_newest_commit_is_named_from_the_data_file_it_left(keyed: AuditLog, tmp_path: Path) -> None:
    three_commits(keyed)
    (left,) = files_of_commit(tmp_path, 3)
    commit_file(tmp_path, 3).unlink()
    age([left])

    verdict = keyed.verify()
    assert (verdict.ok, verdict.first_bad_seq, verdict.records) == (False, 10, 9)
    assert verdict.problem == (
        f"records 10..12 in data file {left}, which the Delta log does not list, carry the chain on after its last "
        "record: the commit that added them was deleted, or its writer stopped before committing it"
    )


def test_two_deleted_newest_commits_are_named_from_the_first(keyed: AuditLog, tmp_path: Path) -> None:
    three_commits(keyed)
    left = files_of_commit(tmp_path, 2) + files_of_commit(tmp_path, 3)
    commit_file(tmp_path, 3).unlink()
    commit_file(tmp_path, 2).unlink()
    age(left)
    assert keyed.verify().first_bad_seq == 7


def test_a_data_file_still_being_committed_is_not_judged(keyed: AuditLog, tmp_path: Path) -> None:
    three_commits(keyed)
    commit_file(tmp_path, 3).unlink()  # its data file is as new as a writer's that is about to commit
    verdict = keyed.verify()
    assert (verdict.ok, verdict.records) == (True, 9)


def test_a_losing_writers_data_file_is_not_a_deleted_commit(keyed: AuditLog, tmp_path: Path) -> None:
    """A writer that lost the compare-and-swap leaves its file: its records re-use seqs the winner took."""
    append_range(keyed, 1, 4)
    records = keyed.records()
    loser = chain(entry(99), after=records[2])  # chained on the tip it read, record 3, as the winner's 4 was
    path = audit_path(tmp_path) / "part-00000-lost-race.parquet"
    frame_of([loser]).write_parquet(path)
    age([path])
    verdict = keyed.verify()
    assert verdict.ok, verdict.problem


# --- the command line starts without MLflow -----------------------------------------------------------


def test_audit_verify_does_not_import_mlflow(tmp_path: Path) -> None:
    script = (
        "import sys\n"
        "from pipelines.cli import main\n"
        "try:\n"
        "    main(['audit', 'verify', '--json'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "assert 'mlflow' not in sys.modules, 'mlflow was imported'\n"
        "assert 'pandas' not in sys.modules, 'pandas was imported'\n"
    )
    env = {**os.environ, "MLGOV_HOME": str(tmp_path / "home")}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert '"ok": true' in done.stdout
