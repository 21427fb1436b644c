"""The governed loop for a regression and a multiclass model, end to end on real tables and a real
registry: train (task read from the target), request, two approvals, score, labels, monitor. Realized
metrics equal scikit-learn's on the same rows; the label-free estimate is near them; a shifted
feature is flagged as drift."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from sklearn.metrics import accuracy_score, f1_score, mean_absolute_error, r2_score, root_mean_squared_error

from governance.features import FeatureSpec
from lakehouse.evidently_drift import evidently_drift
from lakehouse.schemas import LABELS, PREDICTIONS
from tests.cli_harness import Cli
from tests.conftest import MAKER, REVIEWER_A, REVIEWER_B, Seeded, context_for
from tests.task_data import CLASSES, T0, features, price, queue

pytestmark = pytest.mark.slow


def _write(frame: pl.DataFrame, path: Path) -> Path:
    frame.write_parquet(path)
    return path


@pytest.mark.parametrize(("task", "target"), [("regression", "price"), ("multiclass", "queue")])
def test_the_governed_loop_for_a_task(seeded: Seeded, tmp_path: Path, task: str, target: str) -> None:
    rng = np.random.default_rng(7)
    make = price if task == "regression" else queue
    history = features(rng, 2500, start=T0, shift=0.0)
    history = history.with_columns(pl.Series(target, make(history, rng)))
    week = features(rng, 1200, start=T0 + timedelta(days=30), shift=1.5)  # x1 shifted: drift
    truth = week.select("id", pl.Series(target, make(week, rng)))
    cli = Cli(seeded.home)
    model, table = f"{target}_model", f"{target}_history"
    cli(
        "ingest",
        table,
        str(_write(history, tmp_path / "h.parquet")),
        "--key",
        "id",
        "--timestamp",
        "at",
        "--actor",
        MAKER,
    )
    cli(
        "ingest",
        f"{target}_week",
        str(_write(week, tmp_path / "w.parquet")),
        "--key",
        "id",
        "--timestamp",
        "at",
        "--actor",
        MAKER,
    )

    trained = cli.json("train", model, "--table", table, "--target", target, "--actor", MAKER)
    assert (trained["task"], trained["task_inferred"]) == (task, True)
    gate = "rmse" if task == "regression" else "roc_auc"
    assert gate in trained["metrics"]
    cli.refused(
        "train", model, "--table", table, "--target", target, "--task", "binary", "--actor", MAKER, needle="binary"
    )

    rid = cli.json("promote", "request", model, trained["version"], "--actor", MAKER, "--reason", "first")["request_id"]
    cli("promote", "approve", rid, "--actor", REVIEWER_A, "--reason", "ok")
    assert cli.json("promote", "approve", rid, "--actor", REVIEWER_B, "--reason", "ok")["status"] == "promoted"
    batch = cli.json("score", model, "--table", f"{target}_week", "--actor", MAKER)
    assert batch["rows"] == week.height

    ctx = context_for(seeded.home)
    predictions = ctx.store.scan(PREDICTIONS).filter(pl.col("batch_id") == batch["batch_id"]).collect()
    if task == "regression":
        assert predictions["prediction"].null_count() == 0
        assert predictions["predicted_label"].null_count() == predictions.height
    else:
        assert set(predictions["predicted_class"].unique()) <= set(CLASSES)
        sums = predictions["class_probabilities"].list.sum().to_numpy()
        assert np.allclose(sums, 1.0)

    cli(
        "labels",
        model,
        str(_write(truth, tmp_path / "labels.parquet")),
        "--key",
        "id",
        "--label",
        target,
        "--actor",
        MAKER,
    )
    stored = ctx.store.scan(LABELS).filter(pl.col("model") == model).collect()
    assert stored.height == truth.height
    report = cli.json("monitor", model)
    (monitored,) = report["batches"]
    assert monitored["drifted"] or any(d["feature"] == "x1" and d["drifted"] for d in monitored["drift"])
    assert next(d for d in monitored["drift"] if d["feature"] == "x1")["drifted"]

    joined = predictions.join(truth.rename({"id": "entity_key"}), on="entity_key")
    realized, estimated = monitored["performance"], monitored["estimated_performance"]
    if task == "regression":
        y, p = joined[target].to_numpy(), joined["prediction"].to_numpy()
        assert realized["mae"] == pytest.approx(mean_absolute_error(y, p))
        assert realized["rmse"] == pytest.approx(root_mean_squared_error(y, p))
        assert realized["r2"] == pytest.approx(r2_score(y, p))
        # direct loss estimation, fitted at training: near the realized error under the covariate shift
        assert estimated["mae"] == pytest.approx(realized["mae"], rel=0.35)
    else:
        y, p = joined[target].to_numpy(), joined["predicted_class"].to_numpy()
        assert realized["accuracy"] == pytest.approx(accuracy_score(y, p))
        assert realized["f1"] == pytest.approx(f1_score(y, p, average="macro"))
        assert estimated["accuracy"] == pytest.approx(realized["accuracy"], abs=0.08)
    assert ctx.audit.verify().ok


def test_a_label_of_a_class_the_model_never_saw_is_refused(seeded: Seeded, tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    history = features(rng, 600, start=T0, shift=0.0)
    history = history.with_columns(pl.Series("queue", queue(history, rng)))
    cli = Cli(seeded.home)
    cli(
        "ingest",
        "tickets",
        str(_write(history, tmp_path / "h.parquet")),
        "--key",
        "id",
        "--timestamp",
        "at",
        "--actor",
        MAKER,
    )
    cli("train", "router", "--table", "tickets", "--target", "queue", "--algorithm", "logreg", "--actor", MAKER)
    labels = pl.DataFrame({"id": ["x"], "queue": ["legal"]})
    cli.refused(
        "labels",
        "router",
        str(_write(labels, tmp_path / "l.parquet")),
        "--key",
        "id",
        "--label",
        "queue",
        "--actor",
        MAKER,
        needle="never saw",
    )


@pytest.mark.parametrize(
    ("target", "output", "kind"),
    [("price", "prediction", "numeric"), ("queue", "predicted_class", "categorical")],
)
def test_output_drift_is_judged_against_the_versions_first_batch_as_evidently_would(
    seeded: Seeded, tmp_path: Path, target: str, output: str, kind: str
) -> None:
    rng = np.random.default_rng(5)
    make = price if target == "price" else queue
    history = features(rng, 1500, start=T0, shift=0.0)
    history = history.with_columns(pl.Series(target, make(history, rng)))
    calm = features(rng, 800, start=T0 + timedelta(days=20), shift=0.0)
    shifted = features(rng, 800, start=T0 + timedelta(days=40), shift=2.0)
    cli = Cli(seeded.home)
    for table, frame in (("hist", history), ("calm", calm), ("shifted", shifted)):
        path = str(_write(frame, tmp_path / f"{table}.parquet"))
        cli("ingest", table, path, "--key", "id", "--timestamp", "at", "--actor", MAKER)
    version = cli.json("train", "m", "--table", "hist", "--target", target, "--actor", MAKER)["version"]
    rid = cli.json("promote", "request", "m", version, "--actor", MAKER, "--reason", "first")["request_id"]
    cli("promote", "approve", rid, "--actor", REVIEWER_A, "--reason", "ok")
    cli("promote", "approve", rid, "--actor", REVIEWER_B, "--reason", "ok")
    first = cli.json("score", "m", "--table", "calm", "--actor", MAKER)["batch_id"]
    second = cli.json("score", "m", "--table", "shifted", "--actor", MAKER)["batch_id"]
    report = cli.json("monitor", "m")
    by_batch = {b["batch_id"]: b["output_drift"] for b in report["batches"]}
    assert report["task"] == ("regression" if target == "price" else "multiclass")
    assert by_batch[first]["output"] == output
    assert by_batch[first]["drifted"] is False  # the reference period, against itself
    assert by_batch[second]["drifted"] is True

    predictions = context_for(seeded.home).store.read(PREDICTIONS).filter(pl.col("model") == "m")
    spec = FeatureSpec(**{"numeric": (), "categorical": (), kind: (output,)})
    (theirs,) = evidently_drift(
        predictions.filter(pl.col("batch_id") == first).select(output),
        predictions.filter(pl.col("batch_id") == second).select(output),
        spec=spec,
    )
    assert (theirs.method, theirs.drifted) == (by_batch[second]["method"], by_batch[second]["drifted"])
    assert by_batch[second]["statistic"] == pytest.approx(theirs.statistic, rel=1e-6, abs=1e-9)
