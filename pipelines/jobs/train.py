"""Train a model on a raw table pinned at its current Delta version, and register it in MLflow."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from governance.audit.actions import AuditAction
from governance.errors import InputError
from governance.roles import Action
from governance.tasks import Task, gate_metric
from governance.versions import VersionRecipe
from lakehouse.records import LineageEdge, RegisteredVersion, lineage_frame, require_table_identity, version_frame
from lakehouse.schemas import LINEAGE, VERSIONS, check_model_name, raw_table
from pipelines.context import Change, Context, JobRun, job_run
from pipelines.ml.modeling import Algorithm, build_estimator, feature_spec, model_frame, split_holdout
from pipelines.ml.tasks import kind_of
from pipelines.reads.versions import recipe_tags


@dataclass(frozen=True)
class TrainResult:
    model: str
    version: str
    run_id: str
    metrics: Mapping[str, float]


def train(
    ctx: Context,
    *,
    model: str,
    table: str,
    target: str,
    features: Sequence[str] | None,
    algorithm: Algorithm,
    actor: str,
) -> TrainResult:
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
        spec = feature_spec(frame.schema, exclude=[c for c in (key, timestamp, target) if c], requested=features)
        recipe = VersionRecipe(
            table=name,
            table_version=table_version,
            spec=spec,
            target=target,
            trainer=actor,
            algorithm=algorithm.value,
            task=Task.BINARY,
        )
        kind = kind_of(recipe.task)
        fit_rows, holdout_rows = split_holdout(frame, timestamp=timestamp, key=key)
        y_fit, y_holdout = kind.target(fit_rows[target]), kind.target(holdout_rows[target])
        estimator = build_estimator(algorithm, spec)
        estimator.fit(model_frame(fit_rows, spec), y_fit)
        outputs = kind.outputs(estimator, holdout_rows, spec, chunk_rows=max(holdout_rows.height, 1))
        metrics = kind.metrics(y_holdout, outputs)
        metrics |= {"train_rows": float(fit_rows.height), "holdout_rows": float(holdout_rows.height)}
        tags = {**recipe_tags(recipe), "mlgov.run_id": run.run_id}
        params = {"algorithm": algorithm.value, "table": f"{name}@{table_version}", "target": target}
        info = ctx.registry.log_model(
            model=model,
            estimator=estimator,
            input_example=model_frame(fit_rows.head(5), spec),
            params=params,
            metrics=metrics,
            tags=tags,
        )
        version_id = f"{model}/{info.version}"
        gate = gate_metric(recipe.task)
        edges = [
            LineageEdge("table", f"{name}@{table_version}", "trained", "mlflow_run", info.run_id),
            LineageEdge("mlflow_run", info.run_id, "registered", "model_version", version_id),
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
            ),
            details={
                "table": f"{name}@{table_version}",
                "algorithm": algorithm.value,
                "mlflow_run_id": info.run_id,
                gate.name: f"{metrics.get(gate.name, float('nan')):.6f}",
            },
        )
    return TrainResult(model=model, version=info.version, run_id=info.run_id, metrics=metrics)


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
