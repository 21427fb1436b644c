"""How each task's metrics are shown, and which batches' headline is realized or estimated: pure, no fixtures."""

from __future__ import annotations

import polars as pl
import pytest

from governance.tasks import Task, gate_metric, health_metric
from lakehouse.schemas import ESTIMATED, REALIZED
from pipelines.reads.monitoring import batch_sources, headline_by_batch, latest_headline
from pipelines.reads.reviews import metrics_comparison, shadow_frame
from pipelines.reads.task_metrics import metric_display, order_metrics, task_metrics


@pytest.mark.parametrize("task", list(Task))
def test_the_headline_and_gate_are_the_policys(task: Task) -> None:
    shown = task_metrics(task)

    assert shown.headline == health_metric(task).name
    assert shown.gate == gate_metric(task).name
    assert shown.display(shown.gate).label == gate_metric(task).label
    assert shown.display(shown.gate).higher_is_better is gate_metric(task).higher_is_better


@pytest.mark.parametrize(
    ("task", "names", "ordered"),
    [
        (Task.BINARY, ["f1", "brier", "roc_auc", "accuracy"], ["roc_auc", "accuracy", "f1", "brier"]),
        (
            Task.MULTICLASS,
            ["recall:tech", "f1", "recall:billing", "roc_auc"],
            ["roc_auc", "f1", "recall:billing", "recall:tech"],
        ),
        (Task.REGRESSION, ["r2", "mae", "mape", "rmse"], ["rmse", "mae", "mape", "r2"]),
    ],
)
def test_metrics_are_listed_gate_first_then_in_the_tasks_order(
    task: Task, names: list[str], ordered: list[str]
) -> None:
    assert order_metrics(names, task=task) == ordered


@pytest.mark.parametrize(
    ("name", "task", "label", "higher"),
    [
        ("roc_auc", Task.BINARY, "ROC AUC", True),
        ("roc_auc", Task.MULTICLASS, "ROC AUC (macro one-vs-rest)", True),
        ("f1", Task.MULTICLASS, "F1 (macro)", True),
        ("recall:billing", Task.MULTICLASS, "recall of billing", True),
        ("rmse", Task.REGRESSION, "RMSE", False),
        ("brier", Task.BINARY, "Brier score", False),
        ("mean_target", Task.REGRESSION, "mean target", None),
        ("something_new", None, "something_new", None),
    ],
)
def test_each_metric_is_named_and_directed(name: str, task: Task | None, label: str, higher: bool | None) -> None:
    shown = metric_display(name, task=task)

    assert (shown.label, shown.higher_is_better) == (label, higher)


def test_directions_read_as_a_sentence() -> None:
    regression = task_metrics(Task.REGRESSION)

    assert regression.directions(["r2", "mae", "rmse"]) == "Higher is better: R²; lower is better: RMSE, MAE."
    assert regression.directions(["mean_target"]) == ""


def test_a_regression_comparison_draws_its_errors_on_one_axis_and_is_better_lower() -> None:
    evidence = {
        "candidate": {"task": "regression", "metrics": {"rmse": 2.9, "mae": 2.3, "r2": 0.96, "mape": 0.02}},
        "champion": {"metrics": {"rmse": 3.8, "mae": 2.8, "r2": 0.94, "mape": 0.03}},
    }

    comparison = metrics_comparison(evidence)

    assert comparison["metric"].to_list() == ["rmse", "mae", "mape", "r2"]
    assert comparison["change"].to_list() == ["better"] * 4
    assert comparison["better"].to_list() == ["lower", "lower", "lower", "higher"]
    assert task_metrics(Task.REGRESSION).comparable(comparison["metric"]) == ["rmse", "mae"]


def test_a_regressions_shadow_table_has_no_disagreement() -> None:
    row = {
        "champion_batch": "b1",
        "champion_version": "1",
        "challenger_version": "2",
        "rows": 10,
        "disagreement_rate": None,
        "score_ks": 0.1,
        "champion_realized": {"rmse": 3.0},
        "challenger_realized": {"rmse": 2.5},
    }

    frame = shadow_frame([row], task=Task.REGRESSION)

    assert "disagreement_rate" not in frame.columns
    assert frame.select("champion_metric", "challenger_metric").row(0) == (3.0, 2.5)


def _history() -> tuple[pl.DataFrame, pl.DataFrame]:
    coverage = pl.DataFrame(
        {
            "batch": [1, 2, 3],
            "batch_id": ["a", "b", "c"],
            "model_version": ["1", "2", "1"],
            "role": ["champion", "challenger", "champion"],
            "window_start": [None, None, None],
            "batch_rows": [100, 100, 100],
            "labelled_rows": [100, 40, 0],
            "coverage": [1.0, 0.4, 0.0],
            "series": ["v1 · champion", "v2 · challenger", "v1 · champion"],
            "batch_time": [None, None, None],
        }
    )
    performance = pl.DataFrame(
        {
            "batch_id": ["a", "a", "b", "b", "c"],
            "kind": [REALIZED, ESTIMATED, REALIZED, ESTIMATED, ESTIMATED],
            "metric": ["rmse"] * 5,
            "value": [3.0, 2.8, 2.5, 2.6, 3.3],
        }
    )
    return performance, coverage


def test_each_batch_says_whether_its_headline_is_realized_or_estimated() -> None:
    performance, coverage = _history()

    per_batch = headline_by_batch(performance, coverage, metric="rmse")

    assert per_batch["basis"].to_list() == [
        "realized: every row labelled",
        "realized on the 40% of rows labelled so far",
        "estimated only: no labels yet",
    ]
    assert batch_sources(per_batch, label="RMSE") == (
        "RMSE per batch. Realized: batches 1, 2. Estimated only, no labels yet: batch 3."
    )


def test_the_headline_card_follows_the_champion() -> None:
    performance, coverage = _history()
    per_batch = headline_by_batch(performance, coverage, metric="rmse")
    shown = task_metrics(Task.REGRESSION)

    realized = latest_headline(per_batch, shown=shown, kind=REALIZED)
    estimated = latest_headline(per_batch, shown=shown, kind=ESTIMATED)

    assert realized.value == "3.000"  # batch 1: batch 2 was the challenger's
    assert "batch 1 (v1, realized: every row labelled)" in realized.help
    assert estimated.value == "3.300"
    assert "direct loss estimation (DLE); latest batch: batch 3 (v1)" in estimated.help
    assert latest_headline(per_batch.clear(), shown=shown, kind=REALIZED).value == "–"
