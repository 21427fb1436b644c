"""Kill a job right after each of its Delta commits, then run it again: the lakehouse ends as if it ran
once. Every commit boundary of the job is tried, not a random sample (tests/crashpoint.py)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from governance.promotion import PRODUCTION_ALIAS, PromotionEventKind
from lakehouse.records import alias_moves, promotion_events
from lakehouse.schemas import AUDIT, BATCHES, CHAIN_TABLES, LINEAGE, PREDICTIONS
from pipelines.jobs.ingest import ingest
from pipelines.jobs.promote import approve, request_promotion
from tests.cli_harness import Cli
from tests.conftest import (
    MAKER,
    REVIEWER_A,
    REVIEWER_B,
    START,
    FixedClock,
    Seeded,
    context_for,
    train_loan_model,
)

pytestmark = pytest.mark.slow

KILLED = 137
REPO = Path(__file__).resolve().parents[2]
WEEK1 = (START + timedelta(weeks=1)).isoformat()
WEEK2 = (START + timedelta(weeks=2)).isoformat()


def crash_at(home: Path, commit: int, *args: str) -> int:
    """Run `mlgov args` killed right after its `commit`-th Delta commit; its exit code."""
    environ = {**os.environ, "MLGOV_HOME": str(home), "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-m", "tests.crashpoint", str(commit), *args],
        cwd=REPO,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode in (0, KILLED), done.stderr
    return done.returncode


def every_boundary(template: Path, scratch: Path, *args: str) -> list[Path]:
    """A copy of `template` per commit of the job `args`, each killed after that commit."""
    homes = []
    for commit in range(1, 30):
        home = scratch / f"killed-after-{commit}"
        shutil.copytree(template, home)
        if crash_at(home, commit, *args) != KILLED:  # the job made fewer commits: all were tried
            return homes
        homes.append(home)
    raise AssertionError("the job never finished")


def assert_consistent(home: Path) -> None:
    """The chain verifies and every projection table holds each chain row exactly once."""
    ctx = context_for(home)
    verdict = ctx.audit.verify()
    assert verdict.ok, verdict.problem
    for table in CHAIN_TABLES:
        if not ctx.store.exists(table):
            continue
        chain = sorted(ctx.ledger.table(table)["audit_seq"].to_list())  # a record may carry several rows
        held = sorted(ctx.store.read(table)["audit_seq"].drop_nulls().to_list())
        assert held == chain, table


@pytest.fixture(scope="module")
def scoring_template(seeded_template: Seeded, tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("scoring") / "home"
    shutil.copytree(seeded_template.home, home)
    dataset = seeded_template.dataset
    ingest(
        context_for(home),
        table="applications",
        path=home / "inputs" / "week1.parquet",
        key=dataset.key,
        timestamp=dataset.timestamp,
        actor=MAKER,
    )
    return home


def test_a_killed_score_is_completed_once_by_its_rerun(scoring_template: Path, tmp_path: Path) -> None:
    args = ("score", "loan_default", "--table", "applications", "--from", WEEK1, "--to", WEEK2, "--actor", MAKER)
    homes = every_boundary(scoring_template, tmp_path, *args)
    assert len(homes) >= 4  # predictions, lineage, audit, batch (and the run record)
    for home in homes:
        batch = Cli(home).json(*args)
        ctx = context_for(home)
        batch_id = batch["batch_id"]
        assert ctx.store.scan(BATCHES).filter(pl.col("batch_id") == batch_id).collect().height == 1, home
        predictions = ctx.store.scan(PREDICTIONS).filter(pl.col("batch_id") == batch_id).collect()
        assert predictions.height == batch["rows"] > 0, home
        assert predictions["entity_key"].is_duplicated().sum() == 0, home
        assert ctx.store.scan(LINEAGE).filter(pl.col("dst_id") == batch_id).collect().height == 2, home
        audited = ctx.store.scan(AUDIT).filter((pl.col("action") == "score") & (pl.col("object_id") == batch_id))
        assert audited.collect().height == 1, home
        assert_consistent(home)


def test_a_killed_ingest_is_completed_once_by_its_rerun(seeded_template: Seeded, tmp_path: Path) -> None:
    dataset = seeded_template.dataset
    path = seeded_template.home / "inputs" / "week2.parquet"
    args = ("ingest", "applications", str(path), "--key", dataset.key, "--timestamp", dataset.timestamp)
    homes = every_boundary(seeded_template.home, tmp_path, *args, "--actor", MAKER)
    assert len(homes) >= 2  # the data, its audit record (and the run record)
    rows = pl.read_parquet(path)
    for home in homes:
        result = Cli(home).json(*args, "--actor", MAKER)
        ctx = context_for(home)
        stored = ctx.store.read("raw/applications").join(rows.select(dataset.key), on=dataset.key, how="semi")
        assert stored.height == rows.height, home  # once, not twice
        records = ctx.store.scan(AUDIT).filter(pl.col("action") == "ingest").collect()
        week2 = [r for r in records.iter_rows(named=True) if json.loads(r["details"]).get("source") == path.name]
        assert len(week2) == 1, home
        assert week2[0]["object_id"] == f"raw/applications@{result['version']}"
        assert_consistent(home)


@pytest.fixture(scope="module")
def pending_template(seeded_template: Seeded, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    """A home with a second version one approval short of promotion, approved just now (the killed
    process runs on the real clock, and an approval older than the tier allows no longer counts)."""
    home = tmp_path_factory.mktemp("pending") / "home"
    shutil.copytree(seeded_template.home, home)
    ctx = context_for(home, clock=FixedClock(datetime.now(UTC)))
    version = train_loan_model(ctx, seeded_template.dataset).version
    request = request_promotion(ctx, model="loan_default", version=version, reason="better", actor=MAKER)
    approve(ctx, request_id=request.request_id, reason="fine", actor=REVIEWER_A)
    return home, request.request_id, version


def test_a_killed_final_approval_promotes_once(pending_template: tuple[Path, str, str], tmp_path: Path) -> None:
    template, request_id, version = pending_template
    args = ("promote", "approve", request_id, "--reason", "agree", "--actor", REVIEWER_B)
    homes = every_boundary(template, tmp_path, *args)
    assert len(homes) >= 3  # the chain, then its projections (and the run record)
    for home in homes:
        cli = Cli(home)
        cli(*args, ok=False)  # refused when the killed run's approval is already on the chain
        ctx = context_for(home)
        events = [e for e in promotion_events(ctx.ledger, model="loan_default") if e.request_id == request_id]
        assert [e.kind for e in events].count(PromotionEventKind.PROMOTED) == 1, home
        assert [e.actor for e in events if e.kind is PromotionEventKind.APPROVED] == [REVIEWER_A, REVIEWER_B], home
        moves = [m for m in alias_moves(ctx.ledger, model="loan_default") if m.version == version]
        assert len(moves) == 1, home
        assert moves[0].previous == "1", home
        # production follows the record: scoring serves the new champion (finishing MLflow's mirror)
        scored = cli.json("score", "loan_default", "--table", "applications", "--actor", MAKER)
        assert scored["model_version"] == version, home
        assert ctx.registry.alias_version("loan_default", PRODUCTION_ALIAS) == version
        assert cli.json("registry", "check")["ok"], home
        assert_consistent(home)
