"""Register a model trained elsewhere (any MLflow flavor with a pyfunc) as a governed version.

The model is judged like the ones mlgov trains: on the same time holdout of the table it was trained
on, with the same metrics, so promotion gates compare like with like. Its label-free estimator is fitted
on that holdout (mlgov cannot refit a recipe it does not have). Everything is checked before anything
is written: a refused model leaves no MLflow run, no version and no governed record behind.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from governance.errors import InputError
from governance.features import FeatureSpec
from governance.roles import Action
from governance.tasks import Task, gate_metric, infer_task
from governance.versions import VersionRecipe
from lakehouse import mlflow_models
from lakehouse.mlflow_models import ModelInputs
from lakehouse.records import LineageEdge, RegisteredVersion, lineage_frame, require_table_identity
from lakehouse.registry import TrainingData
from lakehouse.schemas import LINEAGE, check_model_name, raw_table
from pipelines.context import Context, JobRun, job_run
from pipelines.jobs.train import choose_task, register_version
from pipelines.ml.estimation import calibration_to_json
from pipelines.ml.foreign import ForeignModel, check_binary_numbers, check_outputs, wrap
from pipelines.ml.modeling import feature_spec, model_frame, split_holdout
from pipelines.ml.tasks import classes_of, kind_of, summarize_target
from pipelines.reads.feature_tables import join_feature_tables, pin_feature_tables, spine_excluded
from pipelines.reads.versions import (
    CALIBRATION_ARTIFACT,
    FOREIGN_PREFIX,
    TAG_SOURCE,
    kind_for,
    recipe_tags,
    text_inputs,
)

SAMPLE_ROWS = 64  # rows the model is first asked about, to read what it says and which task it serves
_NUMERIC_TYPES = {"double", "float", "long", "integer", "boolean"}


@dataclass(frozen=True)
class RegisterResult:
    model: str
    version: str
    run_id: str
    task: str
    metrics: Mapping[str, float]
    task_inferred: bool = False  # no --task: read from what the model gives
    flavor: str = ""
    source: str = ""
    table: str = ""
    features: Sequence[str] = field(default_factory=tuple)
    feature_tables: Sequence[str] = field(default_factory=tuple)  # "features/<name>@<version>"


def register(
    ctx: Context,
    *,
    model: str,
    model_uri: str,
    table: str,
    target: str,
    actor: str,
    table_version: int | None = None,
    task: Task | None = None,
    features: Sequence[str] | None = None,
    source_tracking_uri: str | None = None,
    feature_tables: Sequence[str] = (),
) -> RegisterResult:
    """Register the MLflow model at `model_uri` as a new version of `model`, trained (so its maker says)
    on `table` at `table_version` (default: now) to predict `target`. The actor is its maker.
    `feature_tables` are joined onto the table as `train` joins them, at their current versions."""
    check_model_name(model)
    name = raw_table(table)
    with job_run(ctx, job="register", actor=actor, model=model) as run:
        run.authorize(Action.TRAIN, object_type="model", object_id=model)
        identity = require_table_identity(ctx.store, name)
        pinned = _table_version(ctx, name, table_version)
        frame = ctx.store.read(name, version=pinned)
        if target not in frame.columns:
            raise InputError(f"target column {target!r} is not in table {name!r} (columns: {', '.join(frame.columns)})")
        refs = pin_feature_tables(ctx, feature_tables)
        frame = join_feature_tables(ctx, frame, spine_table=name, spine_time=identity.timestamp, refs=refs)
        _, holdout = split_holdout(frame, timestamp=identity.timestamp, key=identity.key)
        with mlflow_models.fetched(model_uri, tracking_uri=source_tracking_uri or ctx.registry.tracking_uri) as path:
            flavors, inputs = mlflow_models.describe(path)
            excluded = [c for c in (identity.key, identity.timestamp, target, *spine_excluded(ctx, refs)) if c]
            spec = _features(frame.schema, inputs, requested=features, excluded=excluded, table=name)
            loaded = mlflow_models.load(path, flavors=flavors, inputs=inputs)
            foreign = wrap(
                loaded.model,
                native=loaded.native,
                inputs=inputs.columns,
                columns=spec.columns,
                text_columns=text_inputs(inputs, spec),
                task=task,
                sample=holdout.head(SAMPLE_ROWS),
                target_task=infer_task(summarize_target(frame[target])),
            )
            chosen = choose_task(ctx, model=model, target=frame[target], task=foreign.task)
            outputs, classes = _evaluate(foreign, chosen, holdout, spec, table=(name, pinned))
            recipe = VersionRecipe(
                table=name,
                table_version=pinned,
                spec=spec,
                target=target,
                trainer=actor,
                algorithm=f"{FOREIGN_PREFIX}{loaded.flavor}",
                task=chosen,
                classes=classes,
                feature_tables=refs,
            )
            kind = kind_for(recipe)
            labels = kind.target(holdout[target])  # refuses a class the model never saw
            metrics = kind.metrics(labels, outputs) | {"holdout_rows": float(holdout.height)}
            calibration = calibration_to_json(kind.calibrate_outputs(outputs, labels, rows=holdout, spec=spec))
            info = ctx.registry.register_copy(
                model=model,
                path=path,
                params={"flavor": loaded.flavor, "table": f"{name}@{pinned}", "target": target, "source": model_uri},
                metrics=metrics,
                tags={**recipe_tags(recipe), "mlgov.run_id": run.run_id, TAG_SOURCE: model_uri},
                attachments={CALIBRATION_ARTIFACT: calibration},
                training_data=TrainingData(
                    uri=ctx.store.storage.uri(name),
                    table=name,
                    version=pinned,
                    sample=model_frame(frame.head(1000), spec),
                ),
            )
        _record(run, recipe, info.version, info.run_id, calibration=calibration, source=model_uri, metrics=metrics)
    return RegisterResult(
        model=model,
        version=info.version,
        run_id=info.run_id,
        task=chosen.value,
        metrics=metrics,
        task_inferred=task is None,
        flavor=loaded.flavor,
        source=model_uri,
        table=f"{name}@{pinned}",
        features=spec.columns,
        feature_tables=tuple(f"{ref.table}@{ref.version}" for ref in refs),
    )


def _table_version(ctx: Context, name: str, asked: int | None) -> int:
    current = ctx.store.version(name)
    if asked is None:
        return current
    if not 0 <= asked <= current:
        raise InputError(f"--table-version {asked}: table {name!r} has versions 0 to {current}")
    return asked


def _features(
    schema: Mapping[str, pl.DataType],
    inputs: ModelInputs,
    *,
    requested: Sequence[str] | None,
    excluded: Sequence[str],
    table: str,
) -> FeatureSpec:
    """The features: the columns the model's signature names (checked against the table's), else
    `requested`, else every other column."""
    if inputs.columns is None:
        return feature_spec(schema, exclude=excluded, requested=requested)
    names = [name for name, _ in inputs.columns]
    if requested is not None and list(requested) != names:
        raise InputError(
            f"--features {','.join(requested)} is not the model's signature ({','.join(names)}): leave --features "
            "out, or give the signature's columns in its order"
        )
    for name, kind in inputs.columns:
        if name not in schema:
            raise InputError(
                f"the model's signature asks for column {name!r}, which table {table!r} lacks "
                f"(its columns: {', '.join(schema)})"
            )
        dtype = schema[name]
        numeric = dtype.is_numeric() or dtype == pl.Boolean
        if (kind in _NUMERIC_TYPES and not numeric) or (kind == "string" and numeric):
            raise InputError(
                f"the model's signature types column {name!r} as {kind}, but table {table!r} holds {dtype} there"
            )
    return feature_spec(schema, exclude=excluded, requested=names)


def _evaluate(
    foreign: ForeignModel, task: Task, holdout: pl.DataFrame, spec: FeatureSpec, *, table: tuple[str, int]
) -> tuple[np.ndarray, tuple[str, ...]]:
    """The model's outputs on the holdout (checked), and the classes of a multiclass one in its order."""
    foreign.task = task
    kind = kind_of(task)
    try:
        outputs = kind.outputs(foreign, holdout, spec, chunk_rows=max(holdout.height, 1))
    except InputError:
        raise
    except Exception as error:  # the model's own code: one line, whatever it raised
        text = str(error).strip().splitlines()
        said = f"{type(error).__name__}: {text[0]}" if text else type(error).__name__
        raise InputError(f"the model failed on the holdout of {table[0]}@{table[1]}: {said}") from None
    check_outputs(outputs)
    if task is Task.BINARY:
        check_binary_numbers(outputs)
    return outputs, classes_of(foreign) if task is Task.MULTICLASS else ()


def _record(
    run: JobRun,
    recipe: VersionRecipe,
    version: str,
    mlflow_run_id: str,
    *,
    calibration: str,
    source: str,
    metrics: Mapping[str, float],
) -> None:
    """Lineage (table@version -> run -> version) and the governed record of the new version."""
    ctx = run.ctx
    model = run.model or ""
    version_id = f"{model}/{version}"
    edges = [
        LineageEdge("table", f"{recipe.table}@{recipe.table_version}", "trained", "mlflow_run", mlflow_run_id),
        LineageEdge("mlflow_run", mlflow_run_id, "registered", "model_version", version_id),
        *(
            LineageEdge("table", f"{ref.table}@{ref.version}", "joined", "mlflow_run", mlflow_run_id)
            for ref in recipe.feature_tables
        ),
    ]
    run.append(LINEAGE, lineage_frame(edges, at=run.now(), run_id=run.run_id))
    gate = gate_metric(recipe.task)
    register_version(
        run,
        RegisteredVersion(
            model=model,
            version=version,
            recipe=recipe,
            artifact_digest=ctx.registry.artifact_digest(model, version),
            mlflow_run_id=mlflow_run_id,
            at=run.now(),
            calibration_digest=hashlib.sha256(calibration.encode("utf-8")).hexdigest(),
        ),
        details={
            "table": f"{recipe.table}@{recipe.table_version}",
            "algorithm": recipe.algorithm,
            "task": recipe.task.value,
            "mlflow_run_id": mlflow_run_id,
            "source": source,
            gate.name: f"{metrics.get(gate.name, float('nan')):.6f}",
            **(
                {"feature_tables": [f"{ref.table}@{ref.version}" for ref in recipe.feature_tables]}
                if recipe.feature_tables
                else {}
            ),
        },
    )
