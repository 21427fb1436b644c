"""The monitoring loop on real tables: data quality, the label-free estimate next to realized
performance, and the retraining policy that trains a candidate and puts it up for review."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from governance.promotion import PromotionStatus, fold_requests
from lakehouse.records import promotion_events
from lakehouse.schemas import PERFORMANCE, QUALITY
from tests.conftest import ANALYST, MAKER, REVIEWER_A, START, FixedClock, Seeded, context_for
from tests.pipelines.test_cli import Cli

MODEL = "loan_default"
WEEK = timedelta(weeks=1)
FEATURES = (
    "income",
    "loan_amount",
    "term_months",
    "credit_score",
    "employment_years",
    "has_cosigner",
    "home_ownership",
    "purpose",
    "income_band",
)
ESTIMATED_METRICS = {"accuracy", "precision", "recall", "f1", "positive_rate", "roc_auc"}


@dataclass(frozen=True)
class Weekly:
    """The seeded lakehouse with weeks 0-6 scored and labelled, and week 7 scored again after week 6."""

    home: Path
    batches: dict[int, str]  # week -> its batch, in scoring order


@pytest.fixture(scope="module")
def weekly_template(seeded_template: Seeded, tmp_path_factory: pytest.TempPathFactory) -> Weekly:
    from pipelines.jobs.ingest import ingest
    from pipelines.jobs.labels import load_labels
    from pipelines.jobs.monitor import monitor
    from pipelines.jobs.score import score

    home = tmp_path_factory.mktemp("weekly") / "home"
    shutil.copytree(seeded_template.home, home)
    dataset, files = seeded_template.dataset, home / "inputs"
    batches = {0: seeded_template.batch_ids[0]}
    for week in range(1, 8):
        ctx = context_for(home, clock=FixedClock(START + (week + 1) * WEEK))  # scored once the week is over
        if week < 7:
            path = files / f"week{week}.parquet"
            ingest(ctx, table="applications", path=path, key=dataset.key, timestamp=dataset.timestamp, actor=MAKER)
        # week 7 was scored before weeks 1-6 arrived; scored again now (a new table version, so a new
        # batch), the two drifted weeks are the champion's latest batches
        start = START + week * WEEK
        result = score(ctx, model=MODEL, table="applications", start=start, end=start + WEEK, actor=MAKER)
        assert not result.already_scored
        batches[week] = result.batch_id
        if week < 7:
            path = files / f"labels{week}.csv"
            load_labels(ctx, model=MODEL, path=path, key=dataset.key, label=dataset.target, actor=MAKER)
    monitor(context_for(home, clock=FixedClock(START + 9 * WEEK)), model=MODEL)
    return Weekly(home=home, batches=batches)


@pytest.fixture
def weekly(weekly_template: Weekly, tmp_path: Path) -> Weekly:
    home = tmp_path / "home"
    shutil.copytree(weekly_template.home, home)
    return replace(weekly_template, home=home)


def _versions(home: Path) -> list[str]:
    return sorted(v.version for v in context_for(home).registry.versions(MODEL))


def _requests(home: Path, status: PromotionStatus) -> list[str]:
    requests = fold_requests(promotion_events(context_for(home).ledger, model=MODEL)).values()
    return sorted(r.version for r in requests if r.status is status)


# ---- data quality --------------------------------------------------------------------------------


def _crafted_batch(seeded: Seeded, folder: Path, *, weeks_later: int) -> Path:
    """Week 0's applications under new keys in a new week: most with a purpose never seen in training,
    three quarters with incomes ten times the training maximum."""
    dataset = seeded.dataset
    rows = dataset.weeks[0].drop(dataset.target)
    top_income = float(dataset.history["income"].max())  # type: ignore[arg-type]
    index = pl.int_range(pl.len())
    crafted = rows.with_columns(
        pl.format("Q-{}", index).alias(dataset.key),
        pl.col(dataset.timestamp) + weeks_later * WEEK,
        pl.when(index < 0.8 * pl.len()).then(pl.lit("crypto_mining")).otherwise(pl.col("purpose")).alias("purpose"),
        pl.when(index < 0.75 * pl.len()).then(pl.lit(10 * top_income)).otherwise(pl.col("income")).alias("income"),
    )
    assert crafted.schema == rows.schema
    path = folder / "crafted.parquet"
    crafted.write_parquet(path)
    return path


def test_quality_is_stored_per_batch_and_a_broken_batch_raises_alerts_naming_its_columns(
    seeded: Seeded, tmp_path: Path
) -> None:
    cli = Cli(seeded.home)
    report = cli.json("monitor", MODEL)
    assert {b["batch_id"] for b in report["batches"]} == set(seeded.batch_ids)
    assert all(b["quality_alerts"] == [] for b in report["batches"])
    stored = context_for(seeded.home).store.read(QUALITY)
    for batch_id in seeded.batch_ids:
        rows = stored.filter(pl.col("batch_id") == batch_id)
        schema_checked = set(rows.filter(pl.col("check") == "schema_match")["column"])
        assert schema_checked == set(FEATURES)
        assert set(rows["check"]) == {
            "schema_match",
            "missing_share_increase",
            "out_of_training_range",
            "unseen_categories",
            "duplicate_keys",
        }
        assert rows["passed"].all()

    path = _crafted_batch(seeded, tmp_path, weeks_later=20)
    dataset = seeded.dataset
    cli("ingest", "applications", str(path), "--key", dataset.key, "--timestamp", dataset.timestamp, "--actor", MAKER)
    start = START + 20 * WEEK
    window = ("--from", start.isoformat(), "--to", (start + WEEK).isoformat())
    scored = cli.json("score", MODEL, "--table", "applications", *window, "--actor", MAKER)
    assert scored["rows"] == dataset.weeks[0].height

    report = cli.json("monitor", MODEL)
    crafted = next(b for b in report["batches"] if b["batch_id"] == scored["batch_id"])
    alerts = {(a["check"], a["column"]): a for a in crafted["quality_alerts"]}
    assert set(alerts) == {("unseen_categories", "purpose"), ("out_of_training_range", "income")}
    assert alerts[("unseen_categories", "purpose")]["value"] == pytest.approx(0.8)
    assert alerts[("unseen_categories", "purpose")]["threshold"] == 0.0  # any unseen category (was 0.05)
    assert alerts[("unseen_categories", "purpose")]["origin"] == "default: any unseen category"
    assert alerts[("out_of_training_range", "income")]["origin"].startswith("derived from 10 reference chunks")
    assert alerts[("out_of_training_range", "income")]["value"] >= 0.75
    assert all(a["passed"] is False for a in alerts.values())
    assert set(crafted["estimated_performance"]) == ESTIMATED_METRICS

    stored = context_for(seeded.home).store.read(QUALITY).filter(pl.col("batch_id") == scored["batch_id"])
    failed = stored.filter(~pl.col("passed"))
    assert sorted(zip(failed["check"], failed["column"], strict=True)) == [
        ("out_of_training_range", "income"),
        ("unseen_categories", "purpose"),
    ]
    assert stored.filter(pl.col("check") == "schema_match")["passed"].all()

    # the crafted batch is the latest, and too few of its features drift to count: the quality alert triggers
    assert crafted["drift_share"] <= 0.5
    assert report["retraining"]["triggered"] is True
    assert report["retraining"]["kind"] == "quality"
    assert report["retraining"]["batch_ids"] == [scored["batch_id"]]

    stored_rows = context_for(seeded.home).store.read(QUALITY).height
    again = cli.json("monitor", MODEL)  # computed once: a second run stores nothing more
    assert context_for(seeded.home).store.read(QUALITY).height == stored_rows
    assert again["batches"] == report["batches"]


# ---- the label-free estimate ---------------------------------------------------------------------


def _estimated_and_realized(report: dict, batch_ids: list[str]) -> tuple[np.ndarray, np.ndarray]:
    batches = {b["batch_id"]: b for b in report["batches"]}
    estimated = np.array([batches[b]["estimated_performance"]["roc_auc"] for b in batch_ids])
    realized = np.array([batches[b]["performance"]["roc_auc"] for b in batch_ids])
    return estimated, realized


def test_the_estimate_is_reported_next_to_realized_values(weekly: Weekly) -> None:
    report = Cli(weekly.home).json("monitor", MODEL)
    batches = {b["batch_id"]: b for b in report["batches"]}
    for week in range(7):
        batch = batches[weekly.batches[week]]
        assert batch["labelled_rows"] == batch["rows"] == 400
        assert set(batch["estimated_performance"]) == ESTIMATED_METRICS
        assert "roc_auc" in batch["performance"]
        assert 0.6 < batch["estimated_performance"]["roc_auc"] < 1.0
        assert 0.0 < batch["estimated_performance"]["positive_rate"] < 0.5
    unlabelled = batches[weekly.batches[7]]
    assert unlabelled["performance"] == {}
    assert set(unlabelled["estimated_performance"]) == ESTIMATED_METRICS  # an estimate needs no labels

    stored = context_for(weekly.home).store.read(PERFORMANCE).filter(pl.col("kind") == "estimated")
    assert set(weekly.batches.values()) <= set(stored["batch_id"])
    assert (stored["labelled_rows"] == 0).all()
    assert stored.group_by("batch_id", "metric").len()["len"].max() == 1  # estimated once per batch


def test_the_estimate_of_a_well_calibrated_model_is_within_001_of_realized_on_average(weekly: Weekly) -> None:
    # the champion is a logistic regression on data drawn from a logistic model: well calibrated
    report = Cli(weekly.home).json("monitor", MODEL)
    estimated, realized = _estimated_and_realized(report, [weekly.batches[w] for w in range(1, 7)])
    gap, per_batch = estimated.mean() - realized.mean(), np.abs(estimated - realized).mean()
    figures = f"mean estimated {estimated.mean():.4f}, mean realized {realized.mean():.4f}, "
    figures += f"gap {gap:+.4f}, mean |per-batch gap| {per_batch:.4f}"
    assert abs(gap) <= 0.01, figures


# ---- the retraining loop -------------------------------------------------------------------------


def test_two_drifted_batches_retrain_a_candidate_that_waits_for_review(weekly: Weekly) -> None:
    cli = Cli(weekly.home)
    drifted = [weekly.batches[6], weekly.batches[7]]

    report = cli.json("monitor", MODEL)
    assert [b["drifted"] for b in report["batches"][-3:]] == [False, True, True]
    retraining = report["retraining"]
    assert (retraining["triggered"], retraining["kind"], retraining["batch_ids"]) == (True, "drift", drifted)
    assert "2 consecutive batches" in retraining["reason"]
    assert retraining["retrained"] is None  # reporting the trigger trains nothing
    assert _versions(weekly.home) == ["1"]

    cli.refused("monitor", MODEL, "--retrain", "--actor", ANALYST, needle="may not train")
    assert _versions(weekly.home) == ["1"]

    retrained = cli.json("monitor", MODEL, "--retrain", "--actor", MAKER)["retraining"]["retrained"]
    assert retrained["model"] == MODEL
    assert retrained["version"] == "2"
    assert retrained["trained_on"].startswith("raw/loans@")
    assert "drift share" in retrained["trigger"]
    shown = cli.json("promote", "show", retrained["request_id"])
    assert shown["request"]["status"] == "pending"
    assert (shown["request"]["version"], shown["request"]["requester"]) == ("2", MAKER)
    assert shown["request"]["reason"].startswith("retraining: drift share")
    trigger = shown["evidence"]["trigger"]
    assert (trigger["kind"], trigger["batch_ids"]) == ("drift", drifted)
    assert trigger["reason"] == retraining["reason"]
    registry = context_for(weekly.home).registry
    assert registry.alias_version(MODEL, "champion") == "1"  # it never promotes by itself
    assert registry.version(MODEL, "2").tags["mlgov.trainer"] == MAKER

    again = cli.json("monitor", MODEL, "--retrain", "--actor", MAKER)["retraining"]
    assert (again["triggered"], again["kind"], again["retrained"]) == (True, "drift", None)
    assert _versions(weekly.home) == ["1", "2"]
    assert _requests(weekly.home, PromotionStatus.PENDING) == ["2"]

    # by hand, while v2 waits: a new version gets its own request
    by_hand = cli.json("retrain", MODEL, "--actor", MAKER)
    assert by_hand["version"] == "3"
    assert by_hand["trigger"] == "retrained by hand"
    assert by_hand["request_id"] != retrained["request_id"]
    shown = cli.json("promote", "show", by_hand["request_id"])
    assert (shown["request"]["status"], shown["request"]["version"]) == ("pending", "3")
    assert shown["evidence"]["trigger"] is None
    assert _requests(weekly.home, PromotionStatus.PENDING) == ["2", "3"]
    assert registry.alias_version(MODEL, "champion") == "1"


def test_retraining_by_hand_needs_the_maker_role(seeded: Seeded) -> None:
    cli = Cli(seeded.home)
    cli.refused("retrain", MODEL, "--actor", REVIEWER_A, needle="needs role maker")
    cli.refused("retrain", MODEL, "--actor", "nobody", needle="unknown actor")
    assert _versions(seeded.home) == ["1"]
    assert _requests(seeded.home, PromotionStatus.PENDING) == []


def test_retrain_from_monitor_needs_an_actor(seeded: Seeded) -> None:
    Cli(seeded.home).refused("monitor", MODEL, "--retrain", needle="--retrain needs --actor")
    assert _versions(seeded.home) == ["1"]


def test_retraining_an_unknown_model_is_refused(seeded: Seeded) -> None:
    Cli(seeded.home).refused("retrain", "nope", "--actor", MAKER, needle="nope")
    assert _versions(seeded.home) == ["1"]
