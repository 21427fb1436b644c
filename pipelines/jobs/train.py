"""Train a model on a raw table pinned at its current Delta version, and register it in MLflow."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import polars as pl

from governance.audit.actions import AuditAction
from governance.errors import InputError
from governance.roles import Action
from governance.tasks import Task, gate_metric, infer_task, task_problem
from governance.versions import VersionRecipe
from lakehouse.records import (
    LineageEdge,
    RegisteredVersion,
    lineage_frame,
    registered_versions,
    require_table_identity,
    version_frame,
)
from lakehouse.registry import TrainingData
from lakehouse.schemas import LINEAGE, VERSIONS, check_model_name, raw_table
from pipelines.context import Change, Context, JobRun, job_run
from pipelines.ml.estimation import calibration_to_json
from pipelines.ml.modeling import Algorithm, build_estimator, feature_spec, model_frame, split_holdout
from pipelines.ml.tasks import classes_of, kind_of, summarize_target
from pipelines.reads.feature_tables import join_feature_tables, pin_feature_tables, spine_excluded
from pipelines.reads.versions import CALIBRATION_ARTIFACT, kind_for, recipe_tags


@dataclass(frozen=True)
class TrainResult:
    model: str
    version: str
    run_id: str
    metrics: Mapping[str, float]
    task: str = Task.BINARY.value
    task_inferred: bool = False  # no --task: the task was read from the target (see governance.tasks)
    feature_tables: Sequence[str] = ()  # "features/<name>@<version>" joined as of each row's time


def train(
    ctx: Context,
    *,
    model: str,
    table: str,
    target: str,
    features: Sequence[str] | None,
    algorithm: Algorithm,
    actor: str,
    task: Task | None = None,
    feature_tables: Sequence[str] = (),
) -> TrainResult:
    """Train `model` on `table` pinned at its current version and register the version.

    With `feature_tables` (features/<name>), each is pinned at its current version and joined onto the
    table as of each row's event time (within its TTL, never a later value); the recipe records them.

    Without `task`, it is inferred from the target (two values: binary; text or few whole numbers:
    multiclass; other numbers: regression) and recorded, never guessed again. A model's versions all
    share one task. The label-free estimator is fitted here, once, and stored with the version.
    """
    check_model_name(model)
    name = raw_table(table)
    with job_run(ctx, job="train", actor=actor, model=model) as run:
        run.authorize(Action.TRAIN, object_type="model", object_id=model)
        identity = require_table_identity(ctx.store, name)
        key, timestamp = identity.key, identity.timestamp
        table_version = ctx.store.version(name)
        frame = ctx.store.read(name, version=table_version)
        if target not in frame.columns:
            raise InputError(f"target column {target!r} is not in table {name!r} (columns: {', '.join(frame.columns)})")
        refs = pin_feature_tables(ctx, feature_tables)
        frame = join_feature_tables(ctx, frame, spine_table=name, spine_time=timestamp, refs=refs)
        excluded = [c for c in (key, timestamp, target, *spine_excluded(ctx, refs)) if c]
        spec = feature_spec(frame.schema, exclude=excluded, requested=features)
        chosen = choose_task(ctx, model=model, target=frame[target], task=task)
        fit_rows, holdout_rows = split_holdout(frame, timestamp=timestamp, key=key)
        checks = kind_of(chosen)  # validates targets; a multiclass one reads outputs only with its classes
        y_fit, y_holdout = checks.target(fit_rows[target]), checks.target(holdout_rows[target])
        estimator = build_estimator(algorithm, spec, task=chosen)
        estimator.fit(model_frame(fit_rows, spec), y_fit)
        recipe = VersionRecipe(
            table=name,
            table_version=table_version,
            spec=spec,
            target=target,
            trainer=actor,
            algorithm=algorithm.value,
            task=chosen,
            classes=classes_of(estimator) if chosen is Task.MULTICLASS else (),
            feature_tables=refs,
        )
        kind = kind_for(recipe)
        outputs = kind.outputs(estimator, holdout_rows, spec, chunk_rows=max(holdout_rows.height, 1))
        metrics = kind.metrics(y_holdout, outputs)
        metrics |= {"train_rows": float(fit_rows.height), "holdout_rows": float(holdout_rows.height)}
        calibration = calibration_to_json(
            kind.calibrate(build_estimator(algorithm, spec, task=chosen), frame, spec, target)
        )
        tags = {**recipe_tags(recipe), "mlgov.run_id": run.run_id}
        joined = [f"{ref.table}@{ref.version}" for ref in refs]
        params = {"algorithm": algorithm.value, "table": f"{name}@{table_version}", "target": target}
        if joined:
            params["feature_tables"] = ",".join(joined)
        info = ctx.registry.log_model(
            model=model,
            estimator=estimator,
            input_example=model_frame(fit_rows.head(5), spec),
            params=params,
            metrics=metrics,
            tags=tags,
            attachments={CALIBRATION_ARTIFACT: calibration},
            training_data=TrainingData(
                uri=ctx.store.storage.uri(name),
                table=name,
                version=table_version,
                sample=model_frame(fit_rows.head(1000), spec),
            ),
        )
        version_id = f"{model}/{info.version}"
        gate = gate_metric(recipe.task)
        edges = [
            LineageEdge("table", f"{name}@{table_version}", "trained", "mlflow_run", info.run_id),
            LineageEdge("mlflow_run", info.run_id, "registered", "model_version", version_id),
            *(LineageEdge("table", joined_table, "joined", "mlflow_run", info.run_id) for joined_table in joined),
        ]
        run.append(LINEAGE, lineage_frame(edges, at=run.now(), run_id=run.run_id))
        register_version(
            run,
            RegisteredVersion(
                model=model,
                version=info.version,
                recipe=recipe,
                artifact_digest=ctx.registry.artifact_digest(model, info.version),
                mlflow_run_id=info.run_id,
                at=run.now(),
                calibration_digest=hashlib.sha256(calibration.encode("utf-8")).hexdigest(),
            ),
            details={
                "table": f"{name}@{table_version}",
                "algorithm": algorithm.value,
                "task": chosen.value,
                "mlflow_run_id": info.run_id,
                gate.name: f"{metrics.get(gate.name, float('nan')):.6f}",
                **({"feature_tables": joined} if joined else {}),
            },
        )
    return TrainResult(
        model=model,
        version=info.version,
        run_id=info.run_id,
        metrics=metrics,
        task=chosen.value,
        task_inferred=task is None,
        feature_tables=tuple(joined),
    )


def choose_task(ctx: Context, *, model: str, target: pl.Series, task: Task | None) -> Task:
    """The task the target asks for (or `task`, once checked to fit it), and the one of the model's
    earlier versions: one model, one task."""
    summary = summarize_target(target)
    chosen = infer_task(summary) if task is None else task
    problem = task_problem(chosen, summary)
    if problem:
        raise InputError(problem)
    earlier = {r.recipe.task for r in registered_versions(ctx.ledger, model=model).values()}
    if earlier and chosen not in earlier:
        raise InputError(
            f"model {model!r} predicts {sorted(earlier)[0]}, not {chosen.value}: a {chosen.value} model is another "
            "model (train it under another name)"
        )
    return chosen


def register_version(run: JobRun, registered: RegisteredVersion, *, details: Mapping[str, object]) -> None:
    """Record a new version and its recipe on the governed record. Until this commit lands the version
    exists only in MLflow and cannot be put up for promotion."""
    change = Change(
        action=AuditAction.TRAIN,
        object_type="model_version",
        object_id=f"{registered.model}/{registered.version}",
        details=details,
        rows={VERSIONS: version_frame(registered, run_id=run.run_id)},
    )
    run.govern(lambda _version: [change])
