"""mlgov train and mlgov retrain: new model versions, registered in MLflow."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict
from typing import Any, TypeVar

import click

from governance.errors import InputError
from governance.tasks import Task, gate_metric
from pipelines.cli.support import actor_option, emit, json_option, load_context

F = TypeVar("F", bound=Callable[..., Any])

feature_tables_option = click.option(
    "--feature-tables",
    help="Comma-separated feature tables (features/<name>) joined as of each row's event time, within their TTL.",
)


def task_option(default: str) -> Callable[[F], F]:
    """--task: what the model predicts, one of the tasks governance names; `default` says what happens without it."""
    return click.option(
        "--task", type=click.Choice([task.value for task in Task]), help=f"What the model predicts ({default})."
    )


@click.command()
@click.argument("model")
@click.option("--table", required=True)
@click.option("--target", required=True, help="The column to predict.")
@task_option(
    "default: read from the target: two values binary, text or few whole numbers multiclass, other numbers regression"
)
@click.option("--features", help="Comma-separated feature columns (default: every other column).")
@feature_tables_option
@click.option(
    "--algorithm",
    type=click.Choice(["hgb", "logreg", "rf", "lightgbm", "xgboost"]),
    default="hgb",
    show_default=True,
    help="logreg is a ridge regression for regression targets.",
)
@actor_option
@json_option
def train(
    model: str,
    table: str,
    target: str,
    task: str | None,
    features: str | None,
    feature_tables: str | None,
    algorithm: str,
    actor: str,
    as_json: bool,
) -> None:
    """Train MODEL on TABLE and register a new version in MLflow."""
    from pipelines.jobs.train import train as run_train
    from pipelines.ml.modeling import Algorithm
    from pipelines.reads.feature_tables import feature_table_names

    names = _feature_names(features)
    result = run_train(
        load_context(),
        model=model,
        table=table,
        target=target,
        features=names,
        algorithm=Algorithm(algorithm),
        actor=actor,
        task=Task(task) if task else None,
        feature_tables=feature_table_names(feature_tables) or (),
    )
    holdout = _holdout_text(result.task, result.metrics)
    how = "read from the target" if result.task_inferred else "as asked"
    emit(
        asdict(result),
        as_json=as_json,
        lines=[f"{model} version {result.version} registered{holdout}; task {result.task} ({how})"],
    )


def _holdout_text(task: str, metrics: Mapping[str, float]) -> str:
    """The task's gate metric on the holdout, as the one-line summary says it ("" without it)."""
    gate = gate_metric(Task(task))
    value = metrics.get(gate.name)
    return f" (holdout {gate.label} {value:.3f})" if value is not None else ""


def _feature_names(features: str | None) -> list[str] | None:
    """The columns --features names; None (every other column) when it is not given."""
    if features is None:
        return None
    names = [name.strip() for name in features.split(",")]
    if not all(names):
        raise InputError(
            f"--features has an empty column name in {features!r}: expected comma-separated column names "
            "such as income,credit_score"
        )
    return names


@click.command()
@click.argument("model")
@click.option(
    "--model-uri",
    required=True,
    help="The MLflow model: runs:/<run_id>/<path>, models:/<name>/<version> or a local MLflow model directory.",
)
@click.option("--table", required=True, help="The table the model was trained on; its holdout judges it.")
@click.option("--table-version", type=int, help="The table's Delta version it was trained on (default: the latest).")
@click.option("--target", required=True, help="The column the model predicts.")
@task_option(
    "default: read from its output: probabilities of two classes binary, of more multiclass, numbers regression"
)
@click.option("--features", help="Comma-separated feature columns, for a model without a signature.")
@feature_tables_option
@click.option(
    "--source-tracking-uri",
    help="The tracking server a runs:/ or models:/ URI is on, when it is not mlgov's (e.g. sqlite:///other.db).",
)
@actor_option
@json_option
def register(
    model: str,
    model_uri: str,
    table: str,
    table_version: int | None,
    target: str,
    task: str | None,
    features: str | None,
    feature_tables: str | None,
    source_tracking_uri: str | None,
    actor: str,
    as_json: bool,
) -> None:
    """Register a model trained elsewhere as a new version of MODEL, judged on TABLE's holdout."""
    from pipelines.jobs.register import register as run_register
    from pipelines.reads.feature_tables import feature_table_names

    result = run_register(
        load_context(),
        model=model,
        model_uri=model_uri,
        table=table,
        table_version=table_version,
        target=target,
        task=Task(task) if task else None,
        features=_feature_names(features),
        source_tracking_uri=source_tracking_uri,
        actor=actor,
        feature_tables=feature_table_names(feature_tables) or (),
    )
    holdout = _holdout_text(result.task, result.metrics)
    how = "read from the model's output" if result.task_inferred else "as asked"
    document = asdict(result) | {"features": list(result.features), "feature_tables": list(result.feature_tables)}
    emit(
        document,
        as_json=as_json,
        lines=[
            f"{model} version {result.version} registered from {result.source} ({result.flavor}){holdout}; "
            f"task {result.task} ({how}); request promotion: mlgov promote request {model} {result.version}"
        ],
    )


@click.command("retrain")
@click.argument("model")
@actor_option
@json_option
def retrain_command(model: str, actor: str, as_json: bool) -> None:
    """Retrain MODEL with its champion's recipe on the latest data and open a promotion request."""
    from pipelines.jobs.retrain import retrain

    result = retrain(load_context(), model=model, actor=actor)
    line = f"{model} v{result.version} trained on {result.trained_on}; request {result.request_id} awaits review"
    emit(asdict(result), as_json=as_json, lines=[line])
