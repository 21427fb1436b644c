"""mlgov train and mlgov retrain: new model versions, registered in MLflow."""

from __future__ import annotations

from dataclasses import asdict

import click

from governance.errors import InputError
from pipelines.cli.support import actor_option, emit, json_option, load_context


@click.command()
@click.argument("model")
@click.option("--table", required=True)
@click.option("--target", required=True, help="The 0/1 label column.")
@click.option("--features", help="Comma-separated feature columns (default: every other column).")
@click.option("--algorithm", type=click.Choice(["hgb", "logreg", "rf"]), default="hgb", show_default=True)
@actor_option
@json_option
def train(model: str, table: str, target: str, features: str | None, algorithm: str, actor: str, as_json: bool) -> None:
    """Train MODEL on TABLE and register a new version in MLflow."""
    from pipelines.jobs.train import train as run_train
    from pipelines.ml.modeling import Algorithm

    names = _feature_names(features)
    result = run_train(
        load_context(),
        model=model,
        table=table,
        target=target,
        features=names,
        algorithm=Algorithm(algorithm),
        actor=actor,
    )
    auc = result.metrics.get("roc_auc")
    emit(
        asdict(result),
        as_json=as_json,
        lines=[
            f"{model} version {result.version} registered (holdout ROC AUC {auc:.3f})"
            if auc is not None
            else f"{model} version {result.version} registered"
        ],
    )


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
