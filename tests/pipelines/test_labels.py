"""Labels as they arrive and as they are corrected: a reload adds nothing, a correction supersedes the
label before it (history kept, also when both loads are stamped the same instant), keys the model
never scored are reported, and realized metrics follow corrected labels."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from sklearn.metrics import (
    accuracy_score,
    brier_score_loss,
    f1_score,
    log_loss,
    precision_score,
    recall_score,
    roc_auc_score,
)

from lakehouse.schemas import LABELS, PERFORMANCE, PREDICTIONS
from pipelines.jobs.labels import LabelsResult, load_labels
from pipelines.jobs.monitor import monitor
from pipelines.reads.labels import latest_labels
from tests.cli_harness import Cli
from tests.conftest import MAKER, START, FixedClock, Seeded, context_for

MODEL = "loan_default"
DAY = timedelta(days=1)


def _labels_file(seeded: Seeded, folder: Path, name: str, frame: pl.DataFrame) -> Path:
    path = folder / name
    frame.rename({"entity_key": seeded.dataset.key, "label": seeded.dataset.target}).write_csv(path)
    return path


def _load(seeded: Seeded, path: Path, *, clock: FixedClock) -> LabelsResult:
    ctx = context_for(seeded.home, clock=clock)
    return load_labels(ctx, model=MODEL, path=path, key=seeded.dataset.key, label=seeded.dataset.target, actor=MAKER)


def _week0_labels(seeded: Seeded) -> pl.DataFrame:
    """Week 0's ground truth, as the seeded lakehouse loaded it (at START)."""
    week0 = seeded.dataset.weeks[0]
    return week0.select(entity_key=pl.col(seeded.dataset.key), label=pl.col(seeded.dataset.target))


def _flipped(labels: pl.DataFrame, n: int) -> pl.DataFrame:
    return labels.head(n).with_columns(label=1 - pl.col("label"))


def _latest(seeded: Seeded) -> dict[str, int]:
    frame = latest_labels(context_for(seeded.home), MODEL)
    return dict(zip(frame["entity_key"], frame["label"], strict=True))


# ---- loading -------------------------------------------------------------------------------------


def test_reloading_the_same_labels_adds_nothing(seeded: Seeded) -> None:
    cli, store = Cli(seeded.home), context_for(seeded.home).store
    version, rows = store.version(LABELS), store.read(LABELS).height
    args = ("labels", MODEL, str(seeded.files / "labels0.csv"), "--key", "loan_id", "--label", "defaulted")

    again = cli.json(*args, "--actor", MAKER)

    assert again == {"model": MODEL, "rows": 0, "unchanged": rows, "unknown_keys": 0}
    assert (store.version(LABELS), store.read(LABELS).height) == (version, rows)
    line = cli(*args, "--actor", MAKER).stdout.strip()
    assert line == f"0 labels loaded for {MODEL} ({rows} already known)"


def test_a_correction_supersedes_the_label_before_it_even_at_the_same_instant(seeded: Seeded, tmp_path: Path) -> None:
    original = _week0_labels(seeded)
    corrected = _flipped(original, 5)
    path = _labels_file(seeded, tmp_path, "corrected.csv", corrected)
    same_instant = FixedClock(START)  # the seeded load of week 0 was stamped START too

    result = _load(seeded, path, clock=same_instant)

    assert (result.rows, result.unchanged, result.unknown_keys) == (5, 0, 0)
    latest = _latest(seeded)
    for key, label in corrected.iter_rows():
        assert latest[key] == label
    assert latest[original["entity_key"][5]] == original["label"][5]  # untouched keys keep theirs
    history = context_for(seeded.home).store.read(LABELS)
    assert history.height == original.height + 5  # the superseded labels stay, as history
    assert history.filter(pl.col("entity_key") == corrected["entity_key"][0]).height == 2

    # the corrected file again adds nothing; correcting back wins again, still at the same instant
    assert _load(seeded, path, clock=same_instant).rows == 0
    back = _labels_file(seeded, tmp_path, "back.csv", original.head(5))
    assert _load(seeded, back, clock=same_instant).rows == 5
    latest = _latest(seeded)
    for key, label in original.head(5).iter_rows():
        assert latest[key] == label


def test_labels_of_keys_never_scored_are_counted_and_reported(seeded: Seeded, tmp_path: Path) -> None:
    # week 7 was scored and its labels have not arrived: 37 of them, and 3 keys no batch scored
    week7 = seeded.dataset.weeks[7].select(entity_key=pl.col("loan_id"), label=pl.col("defaulted")).head(37)
    ghosts = pl.DataFrame({"entity_key": ["X-1", "X-2", "X-3"], "label": [0, 1, 0]})
    path = _labels_file(seeded, tmp_path, "outcomes.csv", pl.concat([week7, ghosts]))
    args = ("labels", MODEL, str(path), "--key", "loan_id", "--label", "defaulted", "--actor", MAKER)

    cli = Cli(seeded.home)
    line = cli(*args).stdout.strip()

    assert line == f"40 labels loaded for {MODEL} (3 keys were never scored by it)"
    again = cli.json(*args)
    assert again == {"model": MODEL, "rows": 0, "unchanged": 40, "unknown_keys": 3}


# ---- realized metrics follow corrections ---------------------------------------------------------


def _sklearn_metrics(seeded: Seeded, batch_id: str, labels: pl.DataFrame) -> dict[str, float]:
    predictions = context_for(seeded.home).store.read(PREDICTIONS).filter(pl.col("batch_id") == batch_id)
    joined = predictions.join(labels, on="entity_key", how="inner")
    y, score = joined["label"].to_numpy(), joined["score"].to_numpy()
    predicted = (score >= 0.5).astype(np.int64)
    return {
        "roc_auc": roc_auc_score(y, score),
        "accuracy": accuracy_score(y, predicted),
        "precision": precision_score(y, predicted, zero_division=0),
        "recall": recall_score(y, predicted, zero_division=0),
        "f1": f1_score(y, predicted, zero_division=0),
        "brier": brier_score_loss(y, score),
        "log_loss": log_loss(y, np.clip(score, 1e-15, 1 - 1e-15)),
    }


def _realized(seeded: Seeded, batch_id: str) -> dict:
    report = Cli(seeded.home).json("monitor", MODEL)
    return next(b for b in report["batches"] if b["batch_id"] == batch_id)


def test_corrected_labels_recompute_the_realized_metrics_of_their_batch(seeded: Seeded, tmp_path: Path) -> None:
    batch_id, original = seeded.batch_ids[0], _week0_labels(seeded)
    before = _realized(seeded, batch_id)  # the seeded lakehouse loaded week 0's labels, then monitored
    assert before["performance"]["roc_auc"] == pytest.approx(_sklearn_metrics(seeded, batch_id, original)["roc_auc"])

    flipped = _flipped(original, 60)
    path = _labels_file(seeded, tmp_path, "corrected.csv", flipped)
    assert _load(seeded, path, clock=FixedClock(START + DAY)).rows == 60
    computed = monitor(context_for(seeded.home, clock=FixedClock(START + 2 * DAY)), model=MODEL)
    assert computed.computed_performance == 1  # the corrected batch only

    corrected = original.update(flipped, on="entity_key")
    after = _realized(seeded, batch_id)
    expected = _sklearn_metrics(seeded, batch_id, corrected)
    assert after["labelled_rows"] == before["labelled_rows"] == original.height  # the count did not move
    assert set(after) == set(before)  # the report's keys are unchanged
    for metric, value in expected.items():
        assert after["performance"][metric] == pytest.approx(value), metric
    assert after["performance"]["roc_auc"] < before["performance"]["roc_auc"] - 0.01

    # computed once: another run finds nothing new to compute
    again = monitor(context_for(seeded.home, clock=FixedClock(START + 3 * DAY)), model=MODEL)
    assert again.computed_performance == 0


def test_a_correction_at_the_same_instant_as_the_last_computation_is_still_computed(
    seeded: Seeded, tmp_path: Path
) -> None:
    # a fixed clock stamps the first load, the first computation, the correction and the second
    # computation alike: only what the labels now give can tell that the stored metrics are stale
    batch_id, original = seeded.batch_ids[0], _week0_labels(seeded)
    flipped = _flipped(original, 60)
    path = _labels_file(seeded, tmp_path, "corrected.csv", flipped)
    same_instant = FixedClock(START)
    assert _load(seeded, path, clock=same_instant).rows == 60

    assert monitor(context_for(seeded.home, clock=same_instant), model=MODEL).computed_performance == 1
    assert monitor(context_for(seeded.home, clock=same_instant), model=MODEL).computed_performance == 0

    stored = context_for(seeded.home).store.read(PERFORMANCE)
    realized = stored.filter((pl.col("batch_id") == batch_id) & (pl.col("kind") == "realized"))
    computations = [dict(zip(c["metric"], c["value"], strict=True)) for c in realized.partition_by("run_id")]
    assert len(computations) == 2  # the seeded one, and the one after the correction
    expected = _sklearn_metrics(seeded, batch_id, original.update(flipped, on="entity_key"))
    recomputed = [c for c in computations if c["roc_auc"] == pytest.approx(expected["roc_auc"])]
    assert len(recomputed) == 1
    for metric, value in expected.items():
        assert recomputed[0][metric] == pytest.approx(value), metric
