"""The Approvals, Models, Drift and Performance pages of a binary, a multiclass and a regression model:
each shows its task's metrics, named and directed as the task has them, and says which numbers are
realized and which estimated. One lakehouse per module (real Delta tables, real SQLite MLflow), read only."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import polars as pl
import pytest
from streamlit.testing.v1 import AppTest

from app.text import plain
from governance.promotion import PRODUCTION_ALIAS
from governance.roles import Role
from governance.tasks import Task
from lakehouse.schemas import BATCHES, PERFORMANCE, REALIZED
from tests.app.conftest import captions, chart_rows, chart_spec, metric, open_app
from tests.app.task_models import MULTICLASS, REGRESSION, TaskHome, build_task_home
from tests.conftest import ANALYST, REVIEWER_A, Seeded, context_for
from tests.review_setup import add_pending_request
from tests.task_data import CLASSES

BINARY = "loan_default"


@dataclass(frozen=True)
class Case:
    """What the pages must show for one task's model."""

    model: str
    task: Task
    headline: str  # the headline metric's name on the page (ROC AUC, RMSE)
    headline_metric: str  # its key
    direction: str
    defaults: frozenset[str]  # drawn on the Performance page at first
    realized: frozenset[str]  # realized metrics the version table lists (at least)
    foreign: frozenset[str]  # other tasks' metrics, which must not appear
    options: frozenset[str]  # metric names (as the page writes them) offered to draw
    output: str  # the output whose distribution the Drift page draws
    estimator: str


CASES = {
    Task.BINARY: Case(
        model=BINARY,
        task=Task.BINARY,
        headline="ROC AUC",
        headline_metric="roc_auc",
        direction="higher is better",
        defaults=frozenset({"roc_auc", "accuracy", "f1"}),
        realized=frozenset({"roc_auc", "accuracy", "precision", "recall", "f1", "brier", "log_loss"}),
        foreign=frozenset({"rmse", "mae", "r2", *(f"recall:{c}" for c in CLASSES)}),
        options=frozenset({"ROC AUC", "accuracy", "precision", "recall", "F1", "Brier score", "log loss"}),
        output="score",
        estimator="confidence-based performance estimation (CBPE)",
    ),
    Task.MULTICLASS: Case(
        model=MULTICLASS,
        task=Task.MULTICLASS,
        headline="ROC AUC (macro one-vs-rest)",
        headline_metric="roc_auc",
        direction="higher is better",
        defaults=frozenset({"roc_auc", "accuracy", "f1"}),
        realized=frozenset({"roc_auc", "accuracy", "f1", *(f"recall:{c}" for c in CLASSES)}),
        foreign=frozenset({"rmse", "mae", "brier", "log_loss", "precision"}),
        options=frozenset(
            {"ROC AUC (macro one-vs-rest)", "accuracy", "F1 (macro)", *(f"recall of {c}" for c in CLASSES)}
        ),
        output="predicted class",
        estimator="multiclass confidence-based performance estimation (CBPE)",
    ),
    Task.REGRESSION: Case(
        model=REGRESSION,
        task=Task.REGRESSION,
        headline="RMSE",
        headline_metric="rmse",
        direction="lower is better",
        defaults=frozenset({"rmse", "mae"}),
        realized=frozenset({"rmse", "mae", "mape", "r2"}),
        foreign=frozenset({"roc_auc", "accuracy", "f1", "brier", *(f"recall:{c}" for c in CLASSES)}),
        options=frozenset({"RMSE", "MAE", "MAPE", "R²"}),
        output="prediction",
        estimator="direct loss estimation (DLE)",
    ),
}
TASKS = list(CASES)


@dataclass(frozen=True)
class Homes:
    tasks: TaskHome
    binary_request: str  # a pending request for loan_default version 2


@pytest.fixture(scope="module")
def homes(seeded_template: Seeded, tmp_path_factory: pytest.TempPathFactory) -> Homes:
    built = build_task_home(seeded_template, tmp_path_factory.mktemp("task-pages") / "home")
    pending = add_pending_request(replace(seeded_template, home=built.home))
    return Homes(tasks=built, binary_request=pending.request_id)


@pytest.fixture
def served(homes: Homes, serve_home: Callable[[Path], None]) -> Homes:
    serve_home(homes.tasks.home)  # every test here only reads
    return homes


def column_labels(at: AppTest, index: int) -> dict[str, str]:
    """Column -> its label on the page, for the index-th dataframe."""
    return {name: config.get("label", name) for name, config in json.loads(at.dataframe[index].proto.columns).items()}


def open_on(page: str, model: str) -> AppTest:
    """The analyst's app on views/<page>.py with `model` chosen in the page's model box."""
    at = open_app(ANALYST, Role.ANALYST)
    at.switch_page(f"views/{page}.py").run()
    at.selectbox(key=f"{page}.model").set_value(model).run()
    return at


def no_failure(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def champion_realized(home: Path, model: str, metric_name: str) -> float:
    """The stored realized `metric_name` of the champion's latest labelled batch."""
    ctx = context_for(home)
    champion = ctx.store.read(BATCHES).filter((pl.col("model") == model) & (pl.col("role") == PRODUCTION_ALIAS))
    realized = (
        ctx.store.read(PERFORMANCE)
        .filter((pl.col("model") == model) & (pl.col("kind") == REALIZED) & (pl.col("metric") == metric_name))
        .join(champion.select("batch_id", "scored_at"), on="batch_id")
        .sort("scored_at", "labelled_rows", "computed_at")
    )
    return float(realized["value"][-1])


# --- Performance ------------------------------------------------------------------------------------


@pytest.mark.parametrize("task", TASKS)
def test_performance_leads_with_the_tasks_headline_and_draws_its_metrics(served: Homes, task: Task) -> None:
    case = CASES[task]
    at = open_on("performance", case.model)

    no_failure(at)
    expected = champion_realized(served.tasks.home, case.model, case.headline_metric)
    assert metric(at, f"Realized {case.headline}") == f"{expected:.3f}"
    assert metric(at, f"Estimated {case.headline}") != "–"
    assert plain(f"is a {task.value} model, watched on {case.headline}: {case.direction}") in captions(at)
    assert plain(case.estimator) in captions(at)
    drawn = chart_rows(at, 0)
    assert {r["metric"] for r in drawn} == case.defaults
    assert {r["kind"] for r in drawn} == {"realized", "estimated"}
    options = set(at.multiselect(key=f"performance.metrics.{case.model}").options)
    assert case.options <= options
    assert not {o for o in options if o in case.foreign}
    versions = at.dataframe[0].value
    assert case.realized <= set(versions.columns)
    assert not case.foreign & set(versions.columns)
    assert column_labels(at, 0)[case.headline_metric] == case.headline


CHAMPION_SERIES, CHALLENGER_SERIES = "v1 · champion", "v2 · challenger"


@pytest.mark.parametrize("task", [Task.MULTICLASS, Task.REGRESSION])
def test_performance_draws_the_champion_and_counts_batches_per_role(served: Homes, task: Task) -> None:
    case = CASES[task]
    at = open_on("performance", case.model)

    no_failure(at)
    # week one (batches 1 and 2: champion and shadow) is labelled; week two (3 and 4) is not. The cards
    # are production's: the champion's two batches, not four batches of two versions.
    assert metric(at, "Batches scored") == "2"
    assert metric(at, "Batches with labels") == "1"
    assert plain("Batches scored in the chosen days: 2 by the champion (v1), 2 by the challenger (v2)") in captions(at)
    assert at.multiselect(key=f"performance.batches.{case.model}.series").value == [CHAMPION_SERIES]
    drawn = chart_rows(at, 0)
    assert {r["series"] for r in drawn} == {CHAMPION_SERIES}
    assert {r["batch"] for r in drawn if r["kind"] == "realized"} == {1}
    assert {r["batch"] for r in drawn if r["kind"] == "estimated"} == {1, 3}
    assert plain(f"{case.headline} per batch. Realized: batch 1. Estimated only, no labels yet: batch 3.") in captions(
        at
    )
    coverage = {r["batch"]: r["basis"] for r in chart_rows(at, 1)}
    assert coverage == {1: "realized: every row labelled", 3: "estimated only: no labels yet"}


@pytest.mark.parametrize("task", [Task.MULTICLASS, Task.REGRESSION])
def test_a_challenger_is_a_series_of_its_own_beside_the_champion(served: Homes, task: Task) -> None:
    case = CASES[task]
    at = open_on("performance", case.model)
    headline = metric(at, f"Realized {case.headline}")

    at.multiselect(key=f"performance.batches.{case.model}.series").set_value([CHAMPION_SERIES, CHALLENGER_SERIES]).run()

    no_failure(at)
    # a chart each, champion first: no line alternates between versions
    assert [chart_spec(at, i)["title"] for i in (0, 1)] == [CHAMPION_SERIES, CHALLENGER_SERIES]
    champion, challenger = chart_rows(at, 0), chart_rows(at, 1)
    assert {(r["model_version"], r["role"]) for r in champion} == {("1", "champion")}
    assert {(r["model_version"], r["role"]) for r in challenger} == {("2", "challenger")}
    assert {r["batch"] for r in challenger} == {2, 4}
    domains = [chart_spec(at, i)["layer"][0]["encoding"]["x"]["scale"].get("domain") for i in (0, 1)]
    assert domains[0] == domains[1]  # one time axis for both
    # the cards stay production's whatever is drawn
    assert metric(at, f"Realized {case.headline}") == headline
    expected = champion_realized(served.tasks.home, case.model, case.headline_metric)
    assert headline == f"{expected:.3f}"
    assert plain(
        f"{case.headline} per batch. Realized: batches 1, 2. Estimated only, no labels yet: batches 3, 4."
    ) in captions(at)
    bars = chart_spec(at, 2)
    assert bars["encoding"]["xOffset"]["field"] == "series"  # a week's champion and challenger side by side
    assert {r["series"] for r in chart_rows(at, 2)} == {CHAMPION_SERIES, CHALLENGER_SERIES}


def test_drift_counts_and_draws_each_role_apart(served: Homes) -> None:
    at = open_on("drift", REGRESSION)

    no_failure(at)
    assert plain("2 by the champion (v1)") in captions(at)
    assert plain("2 by the challenger (v2)") in captions(at)
    assert {r["series"] for r in chart_rows(at, 0)} == {CHAMPION_SERIES}
    at.multiselect(key=f"drift.batches.{REGRESSION}.series").set_value([CHAMPION_SERIES, CHALLENGER_SERIES]).run()

    no_failure(at)
    share = [r for r in chart_rows(at, 1) if "batch_id" in r]
    assert {r["line"] for r in share} == {f"{REGRESSION} {CHAMPION_SERIES}", f"{REGRESSION} {CHALLENGER_SERIES}"}
    assert {r["series"] for r in chart_rows(at, 2)} == {CHAMPION_SERIES, CHALLENGER_SERIES}  # magnitude


def test_a_multiclass_models_per_class_recall_can_be_drawn(served: Homes) -> None:
    at = open_on("performance", MULTICLASS)

    at.multiselect(key=f"performance.metrics.{MULTICLASS}").set_value([f"recall:{c}" for c in CLASSES]).run()

    no_failure(at)
    drawn = chart_rows(at, 0)
    assert {r["metric"] for r in drawn} == {f"recall:{c}" for c in CLASSES}
    assert {r["label"] for r in drawn} == {f"recall of {c}" for c in CLASSES}


# --- Models -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("task", TASKS)
def test_models_shows_the_task_and_its_metrics_gate_first(served: Homes, task: Task) -> None:
    case = CASES[task]
    at = open_on("models", case.model)

    no_failure(at)
    assert metric(at, "Task") == task.value
    assert plain(f"A {task.value} model: compared with the champion on {case.headline} ({case.direction})") in captions(
        at
    )
    order = list(at.dataframe[0].proto.column_order)
    metrics = order[order.index("approvals") + 1 :]
    assert metrics[0] == case.headline_metric  # the gate metric leads
    assert case.realized <= set(metrics)
    assert not case.foreign & set(metrics)
    assert column_labels(at, 0)[case.headline_metric] == case.headline


# --- Drift ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("task", TASKS)
def test_drift_draws_the_tasks_output_distribution(served: Homes, task: Task) -> None:
    case = CASES[task]
    at = open_on("drift", case.model)

    no_failure(at)
    assert plain(f"Output drift: {case.output} distribution") in [s.value for s in at.subheader]
    outputs = chart_rows(at, 4)
    assert {r["side"] for r in outputs} == {"reference", "current"}  # the latest batch against its version's first
    (said,) = [c for c in captions(at).splitlines() if plain(f"The {case.output} of every row of batch") in c]
    assert said.split(". ")[-1].startswith(("Stable by", "Drifted by"))  # monitor's verdict on the output
    if task is Task.MULTICLASS:
        assert {r["bin"] for r in outputs} <= set(CLASSES)
        assert all(r["lower"] is None for r in outputs)
    else:
        assert all(r["lower"] is not None for r in outputs)  # a histogram of numbers


# --- Approvals --------------------------------------------------------------------------------------


def request_of(homes: Homes, task: Task) -> str:
    return homes.binary_request if task is Task.BINARY else homes.tasks.models[CASES[task].model].request_id


@pytest.mark.parametrize("task", TASKS)
def test_approvals_compares_on_the_tasks_gate(served: Homes, task: Task) -> None:
    case = CASES[task]
    at = open_app(REVIEWER_A, Role.REVIEWER)
    at.switch_page("views/approvals.py").run()
    at.selectbox(key="approvals.request").set_value(request_of(served, task)).run()

    no_failure(at)
    texts = [t.value for t in at.text]
    assert any(t.startswith(f"Gate {case.headline} ({case.direction}): passed") for t in texts), texts
    comparison = next(d.value for d in at.dataframe if "candidate" in d.value.columns)
    assert comparison["metric"][0] == case.headline_metric
    assert case.realized <= set(comparison["metric"])
    assert not case.foreign & set(comparison["metric"])
    better = dict(zip(comparison["metric"], comparison["better"], strict=True))
    assert better[case.headline_metric] == case.direction.split()[0]
    assert plain(f"A {task.value} model: compared with the champion on {case.headline}") in captions(at)
    bars = {r["metric"] for i in range(len(at.get("vega_lite_chart"))) for r in chart_rows(at, i) if "model" in r}
    assert case.headline_metric in bars
    assert not {"r2", "mape", "brier", "log_loss"} & bars  # off the headline's axis or direction


@pytest.mark.parametrize("task", [Task.MULTICLASS, Task.REGRESSION])
def test_approvals_shadow_table_is_in_the_tasks_metric(served: Homes, task: Task) -> None:
    case = CASES[task]
    at = open_app(REVIEWER_A, Role.REVIEWER)
    at.switch_page("views/approvals.py").run()
    at.selectbox(key="approvals.request").set_value(request_of(served, task)).run()

    no_failure(at)
    index, shadow = next((i, d.value) for i, d in enumerate(at.dataframe) if "champion_metric" in d.value.columns)
    labels = column_labels(at, index)
    assert labels["champion_metric"] == f"Champion {case.headline}"
    assert labels["challenger_metric"] == f"Challenger {case.headline}"
    assert shadow["champion_metric"][0] == pytest.approx(
        champion_realized(served.tasks.home, case.model, case.headline_metric)
    )
    # a regression decides nothing, so there is no disagreement to show; a classifier's is a share
    assert ("disagreement_rate" in shadow.columns) is (task is not Task.REGRESSION)
    assert labels["score_ks"] == f"{'Prediction' if task is Task.REGRESSION else 'Top-class probability'} K-S"
