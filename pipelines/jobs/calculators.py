"""What monitoring computes per scored batch, as calculators of one shape: which batches still need
it (`pending`), and the rows it appends for one batch (`rows`). `compute_pending` drives them all;
a new monitor metric is one new calculator in `calculators_for`.

Each calculator judges a batch against the version that scored it: drift and quality against that
version's training data, estimates from that version's calibration, realized metrics from the task
of that version. What is derived from an immutable version is computed once per context.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol

import polars as pl

from governance.drift import FeatureDrift
from governance.errors import MlgovError
from governance.features import FeatureSpec
from governance.quality import ChunkStats, QualityCheck, QualityLimits, fixed_quality_limits
from lakehouse.records import (
    PolicyScope,
    policy_settings,
    registered_versions,
    require_table_identity,
    table_identity,
)
from lakehouse.schemas import DRIFT, ESTIMATED, OUTPUT_DRIFT, PERFORMANCE, PREDICTIONS, QUALITY, REALIZED, SCHEMAS
from pipelines.context import Context, JobRun
from pipelines.jobs.engines import BatchRows, Engine
from pipelines.ml.drift import ReferenceProfile, profile_drift, profile_reference
from pipelines.ml.estimation import Calibration, calibration_from_json
from pipelines.ml.modeling import Algorithm, build_estimator
from pipelines.ml.quality import reference_chunk_stats
from pipelines.ml.tasks import PREDICTION_SCHEMA
from pipelines.reads.batches import BATCH_ORDER, batch_rows
from pipelines.reads.feature_tables import reference_id, training_frame
from pipelines.reads.labels import latest_labels
from pipelines.reads.versions import CALIBRATION_ARTIFACT, VersionRecipe, kind_for, latest_recipe, version_recipe

Row = dict[str, object]
# What a prediction row says beyond its outputs: left out when predictions are read for metrics.
_CONTEXT_COLUMNS = ("model", "model_version", "role", "scored_at", "event_ts", "input_table", "input_version", "run_id")


class BatchCalculator(Protocol):
    """One monitor metric over a model's batches (rows of scoring/batches)."""

    @property
    def name(self) -> str: ...

    @property
    def table(self) -> str: ...

    def pending(self, batches: pl.DataFrame) -> pl.DataFrame:
        """The batches this metric must be computed (again) for."""
        ...

    def rows(self, batch: dict[str, Any]) -> list[Row]:
        """The rows to append for one batch, without `computed_at` and `run_id`."""
        ...


def compute_pending(run: JobRun, calculators: Sequence[BatchCalculator], batches: pl.DataFrame) -> dict[str, int]:
    """Run every calculator over the batches it has pending; returns how many batches each computed."""
    computed: dict[str, int] = {}
    for calculator in calculators:
        todo = calculator.pending(batches)
        rows: list[Row] = []
        for batch in todo.iter_rows(named=True):
            stamp = {"computed_at": run.now(), "run_id": run.run_id}
            rows.extend({**row, **stamp} for row in calculator.rows(batch))
        if rows:
            run.append(calculator.table, pl.DataFrame(rows, schema=SCHEMAS[calculator.table]))
        computed[calculator.name] = todo.height
    return computed


def calculators_for(ctx: Context, model: str, engine: Engine) -> list[BatchCalculator]:
    """Every monitor metric; drift and quality, the ones over a batch's feature rows, on `engine`."""
    from pipelines.jobs.segment_calculators import segment_calculators  # it builds on this module's calculators

    labels = RunLabels(ctx, model)
    return [
        DriftCalculator(ctx, model, engine),
        OutputDriftCalculator(ctx, model),
        RealizedPerformance(ctx, model, labels),
        QualityCalculator(ctx, model, engine),
        EstimatedPerformance(ctx, model),
        *segment_calculators(ctx, model, labels),
    ]


class RunLabels:
    """A model's latest labels (`latest_labels`), and how many of each batch's predictions have one,
    read once per monitor run for every calculator that reads them. Per run, not per context: labels
    arrive between runs."""

    def __init__(self, ctx: Context, model: str) -> None:
        self._ctx, self._model = ctx, model
        self._latest: dict[str, pl.DataFrame] = {}
        self._counts: dict[str, dict[str, int]] = {}

    def latest(self, column: str) -> pl.DataFrame:
        """The latest label of every entity key from the labels table's `column`."""
        if column not in self._latest:
            self._latest[column] = latest_labels(self._ctx, self._model, column=column)
        return self._latest[column]

    def labelled_predictions(self, column: str) -> pl.DataFrame:
        """Every prediction row of the model that has a label (`latest`), without the rows' context
        columns, beside its label. Not kept: only its count per batch is (`labelled_counts`)."""
        joined = (
            self._ctx.store.scan(PREDICTIONS)
            .filter(pl.col("model") == self._model)
            .select(pl.exclude(_CONTEXT_COLUMNS))
            .join(self.latest(column).lazy(), on="entity_key", how="inner")
            .collect()
        )
        counts = joined.group_by("batch_id").len()
        self._counts[column] = dict(zip(counts["batch_id"], counts["len"], strict=True))
        return joined

    def labelled_counts(self, column: str) -> dict[str, int]:
        """How many prediction rows of each batch id have a label (none: absent)."""
        if column not in self._counts:
            self.labelled_predictions(column)
        return self._counts[column]


def _without(table: str, ctx: Context, model: str, batches: pl.DataFrame, *, kind: str | None = None) -> pl.DataFrame:
    """`batches` that have no row of `model` in `table` yet (of `kind`, for monitoring/performance)."""
    done = ctx.store.scan(table).filter(pl.col("model") == model)
    if kind is not None:
        done = done.filter(pl.col("kind") == kind)
    ids = done.select("batch_id").collect()["batch_id"]
    return batches.filter(~pl.col("batch_id").is_in(ids.implode()))


@dataclass(frozen=True)
class _Reference:
    """A version's training data as drift needs it: profiled once, not per batch."""

    recipe: VersionRecipe
    profile: ReferenceProfile

    @property
    def reference_id(self) -> str:
        return f"{reference_id(self.recipe)}#{self.profile.id}"


class DriftCalculator:
    name, table = "drift", DRIFT

    def __init__(self, ctx: Context, model: str, engine: Engine) -> None:
        self._ctx, self._model, self._engine = ctx, model, engine

    def pending(self, batches: pl.DataFrame) -> pl.DataFrame:
        return _without(DRIFT, self._ctx, self._model, batches)

    def rows(self, batch: dict[str, Any]) -> list[Row]:
        version = batch["model_version"]
        reference = self._ctx.remember(("drift_profile", self._model, version), partial(self._reference, version))
        found = self._engine.drift(reference.profile, BatchRows.of_batch(self._ctx, batch))
        return _drift_rows(
            batch,
            self._model,
            reference.profile,
            found.drifts,
            current_rows=found.rows,
            reference_id=reference.reference_id,
        )

    def _reference(self, version: str) -> _Reference:
        recipe = version_recipe(self._ctx, self._model, version)
        frame = training_frame(self._ctx, recipe, columns=list(recipe.spec.columns))
        return _Reference(recipe=recipe, profile=profile_reference(frame, recipe.spec))


def _drift_rows(
    batch: dict[str, Any],
    model: str,
    profile: ReferenceProfile,
    drifts: list[FeatureDrift],
    *,
    current_rows: int,
    reference_id: str,
) -> list[Row]:
    """The drift of each profiled column of a batch against its reference, as rows of a drift table."""
    return [
        {
            "batch_id": batch["batch_id"],
            "model": model,
            "model_version": batch["model_version"],
            "feature": drift.feature,
            "method": drift.method,
            "statistic": drift.statistic,
            "threshold": drift.threshold,
            "drifted": drift.drifted,
            "reference_id": reference_id,
            "reference_rows": profile.rows,
            "current_rows": current_rows,
            "report_path": None,
        }
        for drift in drifts
    ]


class OutputDriftCalculator:
    """Drift of the model's output (binary: the score; multiclass: the predicted class; regression: the
    prediction) in each batch against the first batch the same version scored, its reference period
    (as NannyML's): the same methods, defaults and thresholds as feature drift. The reference batch
    is compared with itself, so it has a row and no drift."""

    name, table = "output_drift", OUTPUT_DRIFT

    def __init__(self, ctx: Context, model: str) -> None:
        self._ctx, self._model = ctx, model

    def pending(self, batches: pl.DataFrame) -> pl.DataFrame:
        self._batches = batches
        return _without(OUTPUT_DRIFT, self._ctx, self._model, batches)

    def rows(self, batch: dict[str, Any]) -> list[Row]:
        version = batch["model_version"]
        reference_batch, column, profile = self._ctx.remember(
            ("output_reference", self._model, version), partial(self._reference, version)
        )
        current = self._outputs(batch["batch_id"], column)
        return _drift_rows(
            batch,
            self._model,
            profile,
            profile_drift(profile, current),
            current_rows=current.height,
            reference_id=f"{reference_batch}#{profile.id}",
        )

    def _reference(self, version: str) -> tuple[str, str, ReferenceProfile]:
        kind = kind_for(version_recipe(self._ctx, self._model, version))
        first = self._batches.filter(pl.col("model_version") == version).sort(BATCH_ORDER)["batch_id"][0]
        column = kind.output_column
        numeric = PREDICTION_SCHEMA[column].is_numeric()
        spec = FeatureSpec(numeric=(column,) if numeric else (), categorical=() if numeric else (column,))
        return first, column, profile_reference(self._outputs(first, column), spec)

    def _outputs(self, batch_id: str, column: str) -> pl.DataFrame:
        predictions = self._ctx.store.scan(PREDICTIONS).filter(pl.col("model") == self._model)
        return predictions.filter(pl.col("batch_id") == batch_id).select(column).collect()


class QualityCalculator:
    """Quality checks per batch, held to the thresholds of the model's policy, of the scoring version's
    training data (its chunks' variability, derived once per version) or the defaults."""

    name, table = "quality", QUALITY

    def __init__(self, ctx: Context, model: str, engine: Engine) -> None:
        self._ctx, self._model, self._engine = ctx, model, engine
        self._fixed: dict[tuple[QualityCheck, str], float] = {}

    def pending(self, batches: pl.DataFrame) -> pl.DataFrame:
        todo = _without(QUALITY, self._ctx, self._model, batches)
        if todo.height:
            settings = policy_settings(self._ctx.ledger, scope=PolicyScope.MODEL).get(self._model, {})
            self._fixed = fixed_quality_limits(settings)
        return todo

    def rows(self, batch: dict[str, Any]) -> list[Row]:
        version = batch["model_version"]
        recipe, reference = self._ctx.remember(
            ("training_data", self._model, version), partial(self._training_data, version)
        )
        derived = self._ctx.remember(
            ("quality_chunks", self._model, version), partial(self._chunk_stats, recipe, reference)
        )
        limits = QualityLimits(derived=derived, fixed=self._fixed)
        key = require_table_identity(self._ctx.store, batch["input_table"]).key
        results = self._engine.quality(
            reference, BatchRows.of_batch(self._ctx, batch), spec=recipe.spec, key=key, limits=limits
        )
        return [
            {
                "batch_id": batch["batch_id"],
                "model": self._model,
                "check": result.check.value,
                "column": result.column,
                "value": result.value,
                "threshold": result.threshold,
                "passed": result.passed,
                "threshold_origin": result.origin,
            }
            for result in results
        ]

    def _training_data(self, version: str) -> tuple[VersionRecipe, pl.DataFrame]:
        recipe = version_recipe(self._ctx, self._model, version)
        return recipe, training_frame(self._ctx, recipe)

    def _chunk_stats(
        self, recipe: VersionRecipe, reference: pl.DataFrame
    ) -> dict[tuple[QualityCheck, str], ChunkStats]:
        identity = table_identity(self._ctx.store, recipe.table)
        return reference_chunk_stats(reference, spec=recipe.spec, time_column=identity.timestamp if identity else None)


def _performance_row(batch: dict[str, Any], *, model: str, kind: str, metric: str, value: float, labelled: int) -> Row:
    return {
        "batch_id": batch["batch_id"],
        "model": model,
        "model_version": batch["model_version"],
        "kind": kind,
        "metric": metric,
        "value": value,
        "labelled_rows": labelled,
        "batch_rows": batch["rows"],
    }


class EstimatedPerformance:
    """Label-free estimates per batch, from a calibration of the scoring version."""

    name, table = "estimated", PERFORMANCE

    def __init__(self, ctx: Context, model: str) -> None:
        self._ctx, self._model = ctx, model
        self._predictions: pl.DataFrame | None = None

    def pending(self, batches: pl.DataFrame) -> pl.DataFrame:
        todo = _without(PERFORMANCE, self._ctx, self._model, batches, kind=ESTIMATED)
        if todo.height:
            self._predictions = (
                self._ctx.store.scan(PREDICTIONS)
                .filter((pl.col("model") == self._model) & pl.col("batch_id").is_in(todo["batch_id"].implode()))
                .select(pl.exclude(_CONTEXT_COLUMNS))
                .collect()
            )
        return todo

    def rows(self, batch: dict[str, Any]) -> list[Row]:
        assert self._predictions is not None  # pending() read them for every batch it returned
        version = batch["model_version"]
        recipe = version_recipe(self._ctx, self._model, version)
        kind = kind_for(recipe)
        calibration = self._ctx.remember(("calibration", self._model, version), partial(self.calibration, version))
        predictions = self._predictions.filter(pl.col("batch_id") == batch["batch_id"])
        features = self._features(batch, predictions, recipe) if kind.estimate_reads_features else None
        estimate = kind.estimate(kind.stored_outputs(predictions), calibration=calibration, rows=features)
        return [
            _performance_row(batch, model=self._model, kind=ESTIMATED, metric=metric, value=value, labelled=0)
            for metric, value in estimate.items()
        ]

    def _features(self, batch: dict[str, Any], predictions: pl.DataFrame, recipe: VersionRecipe) -> pl.DataFrame:
        """The batch's feature rows, in the order of its predictions."""
        key = require_table_identity(self._ctx.store, batch["input_table"]).key
        rows = batch_rows(self._ctx, batch, [key, *(c for c in recipe.spec.columns if c != key)])
        rows = rows.with_columns(pl.col(key).cast(pl.String).alias("entity_key"))
        return predictions.select("entity_key").join(rows, on="entity_key", how="left", maintain_order="left")

    def calibration(self, version: str) -> Calibration:
        """The label-free estimator fitted when the version was trained, checked against the digest on
        the governed record; versions registered before it was stored get one fitted now (once)."""
        registered = registered_versions(self._ctx.ledger, model=self._model)[self._model, version]
        recipe = registered.recipe
        if registered.calibration_digest:
            text = self._ctx.registry.load_text(registered.mlflow_run_id, CALIBRATION_ARTIFACT)
            if hashlib.sha256(text.encode("utf-8")).hexdigest() != registered.calibration_digest:
                raise MlgovError(
                    f"the label-free estimator of {self._model} version {version} is not the one registered "
                    "with it (its digest differs): nothing is estimated from it"
                )
            return calibration_from_json(text)
        training = training_frame(self._ctx, recipe)
        estimator = build_estimator(Algorithm(recipe.algorithm), recipe.spec, task=recipe.task)
        return kind_for(recipe).calibrate(estimator, training, recipe.spec, recipe.target)


class RealizedPerformance:
    """Realized metrics for each batch whose labels changed since they were last computed: more of
    its rows labelled, or a label of one of its rows revised (which leaves the count alone)."""

    name, table = "performance", PERFORMANCE

    def __init__(self, ctx: Context, model: str, labels: RunLabels) -> None:
        self._ctx, self._model, self._labels = ctx, model, labels
        self._labelled: dict[str, pl.DataFrame] = {}
        self._metrics: dict[str, dict[str, float]] = {}

    def pending(self, batches: pl.DataFrame) -> pl.DataFrame:
        self._column = kind_for(latest_recipe(self._ctx, self._model)).label_column
        joined = self._labels.labelled_predictions(self._column)
        self._labelled = {str(key[0]): part for key, part in joined.partition_by("batch_id", as_dict=True).items()}
        stored = self._stored()
        changed = []
        for batch in batches.iter_rows(named=True):
            labelled = self._labelled.get(batch["batch_id"])
            if labelled is None:
                continue
            known = stored.get(batch["batch_id"])
            if known is None or known.labelled_rows != labelled.height:
                changed.append(batch["batch_id"])
            elif labelled["revised"].any():
                # Same count, but a label of the batch was corrected at some point: recompute only if
                # the metrics the labels give now are not the ones stored (nothing else to compare to).
                metrics = self._metrics_of(batch)
                if not any(_same_metrics(metrics, seen) for seen in known.metrics):
                    changed.append(batch["batch_id"])
        return batches.filter(pl.col("batch_id").is_in(changed))

    def rows(self, batch: dict[str, Any]) -> list[Row]:
        labelled = self._labelled[batch["batch_id"]]
        return [
            _performance_row(
                batch, model=self._model, kind=REALIZED, metric=metric, value=value, labelled=labelled.height
            )
            for metric, value in self._metrics_of(batch).items()
        ]

    def _metrics_of(self, batch: dict[str, Any]) -> dict[str, float]:
        if batch["batch_id"] not in self._metrics:
            labelled = self._labelled[batch["batch_id"]]
            kind = kind_for(version_recipe(self._ctx, self._model, batch["model_version"]))
            truth = labelled[kind.label_column].to_numpy()
            self._metrics[batch["batch_id"]] = kind.metrics(truth, kind.stored_outputs(labelled))
        return self._metrics[batch["batch_id"]]

    def _stored(self) -> dict[str, _Computed]:
        """The latest realized computation of each batch: over the most labelled rows, then the newest;
        every computation stamped that instant, as a fixed clock cannot tell which came last."""
        rows = (
            self._ctx.store.scan(PERFORMANCE)
            .filter((pl.col("model") == self._model) & (pl.col("kind") == REALIZED))
            .select("batch_id", "labelled_rows", "computed_at", "run_id", "metric", "value")
            .collect()
        )
        latest = rows.filter(
            (pl.col("labelled_rows") == pl.col("labelled_rows").max().over("batch_id"))
            & (pl.col("computed_at") == pl.col("computed_at").max().over("batch_id", "labelled_rows"))
        )
        stored = {}
        for (batch_id,), part in latest.partition_by("batch_id", as_dict=True).items():
            computations = part.partition_by("run_id")
            stored[str(batch_id)] = _Computed(
                labelled_rows=int(part["labelled_rows"][0]),
                metrics=[dict(zip(c["metric"], c["value"], strict=True)) for c in computations],
            )
        return stored


@dataclass(frozen=True)
class _Computed:
    """A batch's latest realized metrics as stored: one dict per computation of that instant."""

    labelled_rows: int
    metrics: list[dict[str, float]]


def _same_metrics(a: Mapping[str, float], b: Mapping[str, float]) -> bool:
    """Equal metric by metric, up to the rounding of sums taken in another row order; a NaN equals a
    NaN. A flipped label moves positive_rate by 1/rows, far beyond this tolerance."""
    return a.keys() == b.keys() and all(
        math.isclose(a[m], b[m], rel_tol=1e-9, abs_tol=1e-12) or (math.isnan(a[m]) and math.isnan(b[m])) for m in a
    )
