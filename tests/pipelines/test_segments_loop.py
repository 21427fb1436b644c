"""Segments and fairness through the CLI on real tables: the search finds a planted failing intersection
and ranks it first, reports nothing where errors do not depend on the segment, chosen segments and
protected attributes are computed per batch, and bad columns are refused in one line."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from lakehouse.schemas import AUDIT, BATCHES, FAIRNESS, PREDICTIONS, SCHEMAS, SEGMENTS
from pipelines.jobs.calculators import BatchCalculator, RunLabels
from pipelines.jobs.segment_calculators import FairnessCalculator, SegmentCalculator, SlicingInput
from pipelines.ml.segments import conditions, quantile_edges
from tests.conftest import ADMIN, MAKER, REVIEWER_A, REVIEWER_B, START, Seeded, context_for, train_loan_model
from tests.pipelines.test_cli import Cli
from tests.task_data import T0, features, price

MODEL = "loan_default"
WEEK = timedelta(weeks=1)
LATER = 20


def _scored_batch(cli: Cli, seeded: Seeded, tmp_path: Path) -> tuple[str, pl.DataFrame]:
    """1,600 applications like training's, all within one week LATER weeks on, scored: the batch id and
    the batch's rows with their predicted labels."""
    dataset = seeded.dataset
    rows = pl.concat(dataset.weeks[:4]).drop(dataset.target)
    start = START + LATER * WEEK
    index = pl.int_range(pl.len())
    crafted = rows.with_columns(
        pl.format("P-{}", index).alias(dataset.key),
        (pl.lit(start) + pl.duration(minutes=5) * index).cast(rows.schema[dataset.timestamp]).alias(dataset.timestamp),
    )
    path = tmp_path / "crafted.parquet"
    crafted.write_parquet(path)
    cli("ingest", "applications", str(path), "--key", dataset.key, "--timestamp", dataset.timestamp, "--actor", MAKER)
    window = ("--from", start.isoformat(), "--to", (start + WEEK).isoformat())
    batch_id = cli.json("score", MODEL, "--table", "applications", *window, "--actor", MAKER)["batch_id"]
    predictions = context_for(seeded.home).store.read(PREDICTIONS).filter(pl.col("batch_id") == batch_id)
    joined = crafted.join(
        predictions.select(pl.col("entity_key").alias(dataset.key), "predicted_label"), on=dataset.key
    )
    return batch_id, joined


def _label(cli: Cli, seeded: Seeded, tmp_path: Path, rows: pl.DataFrame, flip: np.ndarray) -> None:
    """Labels that are the predicted label, flipped where `flip`: the model errs exactly there."""
    dataset = seeded.dataset
    truth = np.where(flip, 1 - rows["predicted_label"].to_numpy(), rows["predicted_label"].to_numpy())
    path = tmp_path / "labels.csv"
    pl.DataFrame({dataset.key: rows[dataset.key], dataset.target: truth}).write_csv(path)
    cli("labels", MODEL, str(path), "--key", dataset.key, "--label", dataset.target, "--actor", MAKER)


def _batch(report: dict[str, Any], batch_id: str) -> dict[str, Any]:
    return next(b for b in report["batches"] if b["batch_id"] == batch_id)


def test_a_planted_failing_intersection_is_found_and_ranked_first(seeded: Seeded, tmp_path: Path) -> None:
    cli = Cli(seeded.home)
    batch_id, rows = _scored_batch(cli, seeded, tmp_path)
    low = quantile_edges(seeded.dataset.history["credit_score"], 4)[0]
    planted = (rows["home_ownership"] == "RENT") & (rows["credit_score"] < low)
    rng = np.random.default_rng(7)
    flip = np.where(planted.to_numpy(), rng.random(rows.height) < 0.6, rng.random(rows.height) < 0.1)
    _label(cli, seeded, tmp_path, rows, flip)

    findings = _batch(cli.json("monitor", MODEL), batch_id)["segment_findings"]
    errors = [f for f in findings if f["kind"] == "search_error"]
    assert errors, findings
    first = errors[0]
    assert conditions(first["segment"]) == {f"credit_score=[-inf, {low:g})", "home_ownership=RENT"}
    assert first["rows"] == int(planted.sum())
    assert first["value"] == pytest.approx(flip[planted.to_numpy()].mean())
    assert first["whole"] == pytest.approx(flip[~planted.to_numpy()].mean())  # the rest of the batch
    assert 0 < first["std_error"] < 0.06
    assert first["adjusted_p"] < 1e-6
    # no finding narrows or widens the planted one
    assert not any(conditions(f["segment"]) > conditions(first["segment"]) for f in errors[1:])
    assert f"{len(findings)} segment findings" in cli("monitor", MODEL).stdout  # the text report counts them


def test_nothing_is_reported_where_errors_do_not_depend_on_the_segment(seeded: Seeded, tmp_path: Path) -> None:
    cli = Cli(seeded.home)
    batch_id, rows = _scored_batch(cli, seeded, tmp_path)
    flip = np.random.default_rng(11).random(rows.height) < 0.15
    _label(cli, seeded, tmp_path, rows, flip)

    batch = _batch(cli.json("monitor", MODEL), batch_id)
    assert batch["segment_findings"] == []  # neither error nor share: the rows are drawn like training's
    stored = context_for(seeded.home).store.read(SEGMENTS).filter(pl.col("batch_id") == batch_id)
    searched = stored.filter(pl.col("segment") == "(all)")
    assert set(searched["kind"]) == {"search_error", "search_shift"}  # it was searched, and found nothing
    assert searched.filter(pl.col("kind") == "search_error")["value"][0] == pytest.approx(flip.mean())


def test_chosen_segments_and_a_protected_attribute_per_batch(seeded: Seeded) -> None:
    cli = Cli(seeded.home)
    changed = cli.json(
        "model",
        "set",
        MODEL,
        "--segment",
        "home_ownership",
        "--segment",
        "income:4",
        "--protected",
        "home_ownership=MORTGAGE",
        "--reason",
        "lending rules",
        "--actor",
        ADMIN,
    )
    assert changed == {
        "model": MODEL,
        "segment:home_ownership": "",
        "segment:income": "4",
        "protected:home_ownership": "MORTGAGE",
    }
    audit = context_for(seeded.home).store.read(AUDIT).filter(pl.col("action") == "set_model_policy")
    assert audit.height == 1

    report = cli.json("monitor", MODEL)
    labelled = _batch(report, seeded.batch_ids[0])
    segments = labelled["segments"]
    shares = {s["segment"]: s for s in segments if s["metric"] == "share"}
    assert {s for s in shares if s.startswith("home_ownership=")} == {
        "home_ownership=MORTGAGE",
        "home_ownership=OWN",
        "home_ownership=RENT",
    }
    assert sum(s["value"] for s in shares.values() if s["segment"].startswith("income=")) == pytest.approx(1.0)
    assert len([s for s in shares if s.startswith("income=")]) == 4
    realized = {(s["segment"], s["metric"]): s for s in segments if s["kind"] == "realized"}
    rent = realized["home_ownership=RENT", "error_rate"]
    assert 0 < rent["std_error"] < 0.1
    assert ("home_ownership=RENT", "roc_auc") in realized
    assert any(s["kind"] == "estimated" and s["metric"] == "roc_auc" for s in segments)
    assert any(s["kind"] == "drift" and s["metric"] == "drift_share" for s in segments)

    fairness = {(f["group"], f["metric"]): f for f in labelled["fairness"]}
    assert {f["reference_group"] for f in labelled["fairness"]} == {"MORTGAGE"}
    assert {m for _, m in fairness} == {
        "statistical_parity_difference",
        "disparate_impact_ratio",
        "equal_opportunity_difference",
        "predictive_equality_difference",
        "predictive_parity_difference",
    }
    spd = fairness["RENT", "statistical_parity_difference"]
    assert spd["value"] == pytest.approx(spd["group_rate"] - spd["reference_rate"])
    di = fairness["RENT", "disparate_impact_ratio"]
    assert di["value"] == pytest.approx(di["group_rate"] / di["reference_rate"])
    assert di["passed"] == (0.8 <= di["value"] <= 1.25)
    # the unlabelled batch is judged on selection only: rates that need labels have no support
    unlabelled = {(f["group"], f["metric"]): f for f in _batch(report, seeded.batch_ids[1])["fairness"]}
    assert unlabelled["RENT", "equal_opportunity_difference"]["passed"] is None
    assert unlabelled["RENT", "statistical_parity_difference"]["passed"] is not None

    again = cli.json("monitor", MODEL)  # nothing new: nothing recomputed
    assert context_for(seeded.home).store.read(FAIRNESS)["run_id"].n_unique() == 1
    assert _batch(again, seeded.batch_ids[0])["fairness"] == labelled["fairness"]


def _computed(calculators: list[BatchCalculator], batches: pl.DataFrame) -> dict[str, pl.DataFrame]:
    """Each calculator's rows over its pending batches, run in order as the monitor runs them."""
    computed = {}
    for calculator in calculators:
        todo = calculator.pending(batches)
        rows = [row for batch in todo.iter_rows(named=True) for row in calculator.rows(batch)]
        computed[calculator.name] = pl.DataFrame(rows, schema=SCHEMAS[calculator.table])
    return computed


def test_segments_and_fairness_sharing_one_input_compute_what_each_computes_alone(seeded: Seeded) -> None:
    cli = Cli(seeded.home)
    cli("model", "set", MODEL, "--segment", "purpose", "--segment", "income:4", "--actor", ADMIN)
    cli("model", "set", MODEL, "--protected", "home_ownership", "--actor", ADMIN)
    ctx = context_for(seeded.home)
    batches = ctx.store.scan(BATCHES).filter(pl.col("model") == MODEL).collect()
    shared = SlicingInput(ctx, MODEL, RunLabels(ctx, MODEL))

    together = _computed([SegmentCalculator(ctx, MODEL, shared), FairnessCalculator(ctx, MODEL, shared)], batches)
    alone = _computed(
        [
            SegmentCalculator(context_for(seeded.home), MODEL, SlicingInput(ctx, MODEL, RunLabels(ctx, MODEL))),
            FairnessCalculator(context_for(seeded.home), MODEL, SlicingInput(ctx, MODEL, RunLabels(ctx, MODEL))),
        ],
        batches,
    )

    assert together["segments"].height > 0
    assert together["fairness"].height > 0
    for name in ("segments", "fairness"):
        assert together[name].equals(alone[name]), name  # same rows, same order, same numbers
    labelled = together["segments"].filter(pl.col("batch_id") == seeded.batch_ids[0])
    assert {"purpose", "income"} <= set(labelled["columns"])


def test_the_shared_input_holds_one_batch_frame_whatever_the_backlog(seeded: Seeded) -> None:
    cli = Cli(seeded.home)
    cli("model", "set", MODEL, "--segment", "purpose", "--protected", "home_ownership", "--actor", ADMIN)
    ctx = context_for(seeded.home)
    batches = ctx.store.scan(BATCHES).filter(pl.col("model") == MODEL).collect()
    shared = SlicingInput(ctx, MODEL, RunLabels(ctx, MODEL))
    segments = SegmentCalculator(ctx, MODEL, shared)

    todo = segments.pending(batches)
    for batch in todo.iter_rows(named=True):
        segments.rows(batch)

    assert todo.height == 2
    assert list(shared._frames) == [todo["batch_id"][-1]]  # the last batch's, for fairness; not every batch's


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("--segment", "salary"), "--segment 'salary': unknown column"),
        (("--segment", "income"), "has 1,"),  # a numeric column of ~1,500 values, not cut into buckets
        (("--segment", "purpose:4"), "buckets need a numeric column"),
        (("--segment", "income:40"), "BUCKETS 40 is outside 2..10"),
        (("--protected", "salary"), "--protected 'salary': unknown column"),
        (("--protected", "home_ownership=CASTLE"), "reference group 'CASTLE' does not occur"),
        (("--protected", "loan_id"), "distinct values: a protected attribute has at most 50"),
    ],
)
def test_bad_segments_and_protected_attributes_are_one_line(seeded: Seeded, args: tuple[str, ...], needle: str) -> None:
    cli = Cli(seeded.home)
    cli.refused("model", "set", MODEL, *args, "--actor", ADMIN, needle=needle)
    assert context_for(seeded.home).store.read(AUDIT).filter(pl.col("action") == "set_model_policy").is_empty()


@pytest.mark.slow
def test_fairness_verdicts_are_attached_to_promotion_evidence(seeded: Seeded) -> None:
    cli = Cli(seeded.home)
    cli("model", "set", MODEL, "--protected", "home_ownership", "--reason", "lending rules", "--actor", ADMIN)
    trained = train_loan_model(context_for(seeded.home), seeded.dataset)
    request = cli.json("promote", "request", MODEL, trained.version, "--reason", "retrained", "--actor", MAKER)

    (attribute,) = cli.json("promote", "show", request["request_id"])["evidence"]["fairness"]
    assert (attribute["attribute"], attribute["reference_group"]) == ("home_ownership", "MORTGAGE")
    checks = {(c["group"], c["metric"]): c for c in attribute["checks"]}
    assert {g for g, _ in checks} == {"OWN", "RENT"}
    assert len(checks) == 2 * 5  # five classification metrics per group against the reference
    parity = checks["RENT", "statistical_parity_difference"]
    assert parity["value"] == pytest.approx(parity["group_rate"] - parity["reference_rate"])
    assert attribute["failing"] == sum(c["passed"] is False for c in attribute["checks"])
    assert attribute["rows"] == 300  # the candidate's holdout: the latest 20% of 1,500 rows


@pytest.mark.slow
def test_error_parity_and_segments_of_a_regression_model(seeded: Seeded, tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    history = features(rng, 2000, start=T0, shift=0.0).with_columns(country=pl.lit("FR"))
    history = history.with_columns(pl.Series("price", price(history, rng)))
    week = features(rng, 900, start=T0 + timedelta(days=30), shift=0.0).with_columns(country=pl.lit("FR"))
    truth = week.select("id", pl.Series("price", price(week, rng)))
    cli = Cli(seeded.home)
    for name, frame in (("houses", history), ("houses_week", week)):
        frame.write_parquet(tmp_path / f"{name}.parquet")
        cli("ingest", name, str(tmp_path / f"{name}.parquet"), "--key", "id", "--timestamp", "at", "--actor", MAKER)
    version = cli.json("train", "house", "--table", "houses", "--target", "price", "--actor", MAKER)["version"]
    cli.refused("model", "set", "house", "--protected", "country", "--actor", ADMIN, needle="has a single value ('FR')")
    cli("model", "set", "house", "--protected", "region=east", "--segment", "region", "--actor", ADMIN)
    rid = cli.json("promote", "request", "house", version, "--actor", MAKER, "--reason", "first")["request_id"]
    cli("promote", "approve", rid, "--actor", REVIEWER_A, "--reason", "ok")
    cli("promote", "approve", rid, "--actor", REVIEWER_B, "--reason", "ok")
    batch_id = cli.json("score", "house", "--table", "houses_week", "--actor", MAKER)["batch_id"]
    truth.write_parquet(tmp_path / "truth.parquet")
    cli("labels", "house", str(tmp_path / "truth.parquet"), "--key", "id", "--label", "price", "--actor", MAKER)

    (batch,) = cli.json("monitor", "house")["batches"]
    assert batch["batch_id"] == batch_id
    predictions = context_for(seeded.home).store.read(PREDICTIONS).filter(pl.col("batch_id") == batch_id)
    errors = (
        week.join(truth, on="id")
        .join(predictions.select(pl.col("entity_key").alias("id"), "prediction"), on="id")
        .group_by("region")
        .agg((pl.col("prediction") - pl.col("price")).abs().mean().alias("mae"))
    )
    mae = dict(errors.iter_rows())
    parity = {f["group"]: f for f in batch["fairness"]}
    assert set(parity) == {"north", "south"}
    assert {f["metric"] for f in batch["fairness"]} == {"error_parity_ratio"}
    assert parity["north"]["value"] == pytest.approx(mae["north"] / mae["east"])
    assert parity["north"]["passed"] == (0.8 <= parity["north"]["value"] <= 1.25)
    realized = {(s["segment"], s["metric"]): s["value"] for s in batch["segments"] if s["kind"] == "realized"}
    assert realized["region=south", "mean_absolute_error"] == pytest.approx(mae["south"])
    assert realized["region=south", "mae"] == pytest.approx(mae["south"])
    estimated = {(s["segment"], s["metric"]) for s in batch["segments"] if s["kind"] == "estimated"}
    assert ("region=south", "mae") in estimated  # direct loss estimation reads each segment's features
