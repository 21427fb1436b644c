"""mlgov maintain: compaction and checkpoints on every table, vacuum only where history is not needed,
admins only and audited, safe while the audit trail is appended to."""

from __future__ import annotations

import multiprocessing
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake

from governance.maintenance import may_vacuum, versions_to_keep
from lakehouse.delta import CommitInfo, DeltaStore
from lakehouse.schemas import AUDIT
from lakehouse.storage import Storage
from tests.cli_harness import Cli
from tests.conftest import ADMIN, MAKER, Seeded
from tests.lakehouse.test_audit_log import entry

COMMIT = CommitInfo(run_id="run-maintain", job="test", actor="ada")


def test_governance_tables_are_never_vacuumed_and_lineage_versions_are_kept() -> None:
    assert not may_vacuum("governance/audit")
    assert not may_vacuum("governance/lineage")
    assert may_vacuum("raw/loans")
    assert may_vacuum("predictions")
    refs = ["raw/loans@3", "raw/loans@0", "features/x@2", "raw/loans@3", "run:abc", "model/loan_default@v"]
    assert versions_to_keep(refs) == {"raw/loans": (0, 3), "features/x": (2,)}


def test_vacuum_keeps_the_versions_lineage_points_at_and_removes_the_rest(tmp_path: Path) -> None:
    store = DeltaStore(Storage(tmp_path))
    where = store.storage.uri("raw/t")
    # a table whose own retention allows deleting old files at once, so the kept versions decide alone
    write_deltalake(
        where, pa.table({"x": [0]}), configuration={"delta.deletedFileRetentionDuration": "interval 0 seconds"}
    )
    for i in range(1, 5):
        write_deltalake(where, pa.table({"x": [i]}), mode="append")

    done = store.maintain("raw/t", commit=COMMIT, vacuum=True, keep_versions=(2,), retention_hours=0)

    assert (done.files_before, done.files_after) == (5, 1)
    assert done.vacuumed_files == 2  # the files only versions 3 and 4 needed
    assert sorted(store.read("raw/t", version=2)["x"].to_list()) == [0, 1, 2]
    assert sorted(store.read("raw/t")["x"].to_list()) == [0, 1, 2, 3, 4]
    with pytest.raises(Exception, match=r"(?i)not found|no such file|does not exist"):
        DeltaTable(where, version=4).to_pyarrow_table()


@pytest.mark.slow
def test_maintain_compacts_every_table_and_the_audit_trail_still_verifies(seeded: Seeded) -> None:
    cli = Cli(seeded.home)
    cli.refused("maintain", "--actor", MAKER, needle="may not maintain tables")
    audit_files = len(DeltaTable(str(seeded.home / "lakehouse" / AUDIT)).file_uris())
    loans_version = DeltaTable(str(seeded.home / "lakehouse" / "raw" / "loans")).version()

    done = cli.json("maintain", "--actor", ADMIN)

    tables = {t["table"]: t for t in done["tables"]}
    assert {"governance/audit", "raw/loans", "predictions", "ops/runs"} <= set(tables)
    assert tables["governance/audit"]["files_before"] == audit_files > 1
    assert tables["governance/audit"]["files_after"] == 1
    assert all(t["vacuumed_files"] is None for name, t in tables.items() if name.startswith("governance/"))
    assert loans_version in tables["raw/loans"]["kept_versions"]
    verdict = cli.json("audit", "verify")
    assert verdict["ok"] is True, verdict
    trail = pl.read_delta(str(seeded.home / "lakehouse" / AUDIT))
    maintained = trail.filter(pl.col("action") == "maintain_tables").sort("seq")
    assert list(zip(maintained["actor"], maintained["outcome"], strict=True)) == [(MAKER, "refused"), (ADMIN, "ok")]
    # a second run finds nothing left to compact, and the chain goes on
    again = {t["table"]: t for t in cli.json("maintain", "--actor", ADMIN)["tables"]}
    assert again["governance/audit"]["files_after"] == 1
    assert cli.json("audit", "verify")["ok"] is True


def _append(home: str, count: int, started: Any) -> None:
    from pipelines.context import build_audit_log

    log = build_audit_log({"MLGOV_HOME": home}, cwd=Path(home))
    started.set()
    for i in range(count):
        log.append(entry(i, prefix="during"), commit=COMMIT)


@pytest.mark.slow
def test_maintain_while_the_audit_trail_is_appended_to_loses_nothing(seeded: Seeded) -> None:
    cli = Cli(seeded.home)
    before = cli.json("audit", "verify")["records"]
    context = multiprocessing.get_context("spawn")
    started = context.Event()
    writer = context.Process(target=_append, args=(str(seeded.home), 40, started))
    writer.start()
    started.wait(timeout=120)
    cli.json("maintain", "--actor", ADMIN)
    writer.join(timeout=300)
    assert writer.exitcode == 0

    verdict = cli.json("audit", "verify")
    assert verdict["ok"] is True, verdict
    assert verdict["records"] == before + 40 + 1  # the writer's records and maintain's own
