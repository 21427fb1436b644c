"""Data-quality rules through the CLI on real tables: any unseen category alerts, the missing share is
held to the reference's own chunk-to-chunk spread, and an admin's fixed limit wins (audited)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from lakehouse.schemas import AUDIT, QUALITY
from tests.conftest import ADMIN, MAKER, START, Seeded, context_for
from tests.pipelines.test_cli import Cli

MODEL = "loan_default"
WEEK = timedelta(weeks=1)
COLUMN = "employment_years"  # about 1% missing in training


def _stored(seeded: Seeded, batch_id: str) -> dict[tuple[str, str], dict[str, Any]]:
    rows = context_for(seeded.home).store.read(QUALITY).filter(pl.col("batch_id") == batch_id)
    return {(r["check"], r["column"]): r for r in rows.iter_rows(named=True)}


def _week(seeded: Seeded, *, weeks_later: int, unseen: int = 0, missing_share: float | None = None) -> pl.DataFrame:
    """Week 0's applications under new keys `weeks_later` weeks on: the first `unseen` rows with a purpose
    never seen in training, and COLUMN missing in exactly `missing_share` of rows when given."""
    dataset = seeded.dataset
    rows = dataset.weeks[0].drop(dataset.target)
    index = pl.int_range(pl.len())
    crafted = rows.with_columns(
        pl.format("W{}-{}", pl.lit(weeks_later), index).alias(dataset.key),
        pl.col(dataset.timestamp) + weeks_later * WEEK,
        pl.when(index < unseen).then(pl.lit("crypto_mining")).otherwise(pl.col("purpose")).alias("purpose"),
    )
    if missing_share is not None:
        filled = pl.col(COLUMN).fill_null(pl.col(COLUMN).median().cast(rows.schema[COLUMN]))
        nulls = round(missing_share * rows.height)
        crafted = crafted.with_columns(pl.when(index < nulls).then(None).otherwise(filled).alias(COLUMN))
    assert crafted.schema == rows.schema
    return crafted


def _score(cli: Cli, seeded: Seeded, tmp_path: Path, batches: dict[int, pl.DataFrame]) -> dict[int, str]:
    """Ingest and score each crafted week; its batch id by weeks later."""
    dataset = seeded.dataset
    path = tmp_path / "crafted.parquet"
    pl.concat(batches.values()).write_parquet(path)
    cli("ingest", "applications", str(path), "--key", dataset.key, "--timestamp", dataset.timestamp, "--actor", MAKER)
    found = {}
    for weeks_later in batches:
        start: datetime = START + weeks_later * WEEK
        window = ("--from", start.isoformat(), "--to", (start + WEEK).isoformat())
        scored = cli.json("score", MODEL, "--table", "applications", *window, "--actor", MAKER)
        assert scored["rows"] == dataset.weeks[0].height
        found[weeks_later] = scored["batch_id"]
    return found


def _alerts(report: dict[str, Any], batch_id: str) -> dict[tuple[str, str], dict[str, Any]]:
    batch = next(b for b in report["batches"] if b["batch_id"] == batch_id)
    return {(a["check"], a["column"]): a for a in batch["quality_alerts"]}


def test_unseen_categories_alert_and_the_missing_share_is_held_to_the_references_spread(
    seeded: Seeded, tmp_path: Path
) -> None:
    cli = Cli(seeded.home)
    # batches drawn like the reference raise nothing; their missing-share limit is derived
    report = cli.json("monitor", MODEL)
    assert all(b["quality_alerts"] == [] for b in report["batches"])
    normal = _stored(seeded, seeded.batch_ids[0])
    missing = normal["missing_share_increase", COLUMN]
    assert missing["threshold_origin"].startswith("derived from 10 reference chunks of ~150 rows: missing share mean")
    assert normal["out_of_training_range", "income"]["threshold_origin"].startswith("derived from 10 reference chunks")
    assert normal["unseen_categories", "purpose"]["threshold_origin"] == "default: any unseen category"
    limit = missing["threshold"]
    assert 0.0 < limit < 0.08  # the reference's spread: tighter than the old fixed +10 points
    training = seeded.dataset.history[COLUMN].null_count() / seeded.dataset.history.height

    batches = _score(
        cli,
        seeded,
        tmp_path,
        {
            20: _week(seeded, weeks_later=20, unseen=4),  # one new category in 1% of 400 rows
            21: _week(seeded, weeks_later=21, missing_share=training + limit / 2),  # within the spread
            22: _week(seeded, weeks_later=22, missing_share=training + limit + 0.02),  # beyond it
        },
    )
    report = cli.json("monitor", MODEL)

    unseen = _alerts(report, batches[20])
    assert set(unseen) == {("unseen_categories", "purpose")}
    alert = unseen["unseen_categories", "purpose"]
    assert (alert["value"], alert["threshold"], alert["passed"]) == (pytest.approx(0.01), 0.0, False)
    assert alert["origin"] == "default: any unseen category"

    assert _alerts(report, batches[21]) == {}
    within = _stored(seeded, batches[21])["missing_share_increase", COLUMN]
    assert 0.0 < within["value"] <= within["threshold"] == pytest.approx(limit)

    beyond = _alerts(report, batches[22])
    assert set(beyond) == {("missing_share_increase", COLUMN)}
    alert = beyond["missing_share_increase", COLUMN]
    assert limit < alert["value"] < 0.10  # would have passed the old fixed threshold
    assert alert["origin"] == within["threshold_origin"]


def test_a_fixed_limit_set_by_an_admin_wins_and_is_audited(seeded: Seeded, tmp_path: Path) -> None:
    cli = Cli(seeded.home)
    limits = ("--quality", f"missing_share:{COLUMN}=0.5", "--quality", "unseen:purpose=0.05")
    cli.refused("model", "set", MODEL, *limits, "--actor", MAKER, needle="needs role admin")
    changed = cli.json("model", "set", MODEL, *limits, "--reason", "sparse column", "--actor", ADMIN)
    assert changed == {
        "model": MODEL,
        f"quality:missing_share_increase:{COLUMN}": "0.5",
        "quality:unseen_categories:purpose": "0.05",
    }
    audit = context_for(seeded.home).store.read(AUDIT).filter(pl.col("action") == "set_model_policy")
    (record,) = audit.to_dicts()
    assert (record["actor"], record["reason"], record["object_id"]) == (ADMIN, "sparse column", MODEL)
    assert json.loads(record["details"])[f"quality:missing_share_increase:{COLUMN}"] == "0.5"
    assert cli("audit", "verify").exit_code == 0

    batches = _score(cli, seeded, tmp_path, {20: _week(seeded, weeks_later=20, unseen=4, missing_share=0.3)})
    report = cli.json("monitor", MODEL)
    assert _alerts(report, batches[20]) == {}
    stored = _stored(seeded, batches[20])
    assert stored["missing_share_increase", COLUMN]["threshold"] == 0.5
    assert stored["missing_share_increase", COLUMN]["threshold_origin"] == "fixed by policy: at most 0.5"
    assert stored["unseen_categories", "purpose"]["threshold_origin"] == "fixed by policy: at most 0.05"
    assert stored["missing_share_increase", "income"]["threshold_origin"].startswith("derived from")  # others stay


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("no_such_model", "--quality", "missing_share:income=0.2"), "no_such_model"),
        ((MODEL, "--quality", "missing_share:salary=0.2"), "unknown column 'salary'"),
        ((MODEL, "--quality", "nulls:income=0.2"), "unknown check 'nulls'"),
        ((MODEL, "--quality", "missing_share:income=1.2"), "MAX 1.2 is outside 0..1"),
        ((MODEL, "--quality", "missing_share:income=-0.1"), "MAX -0.1 is outside 0..1"),
        ((MODEL, "--quality", "missing_share:income"), "expected CHECK:COLUMN=MAX"),
    ],
)
def test_bad_quality_limits_are_one_line(seeded: Seeded, args: tuple[str, ...], needle: str) -> None:
    cli = Cli(seeded.home)
    cli.refused("model", "set", *args, "--actor", ADMIN, needle=needle)
    assert context_for(seeded.home).store.read(AUDIT).filter(pl.col("action") == "set_model_policy").is_empty()
