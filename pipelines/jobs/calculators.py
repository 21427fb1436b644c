"""What monitoring computes per scored batch, as calculators of one shape: which batches still need
it (`pending`), and the rows it appends for one batch (`rows`). `compute_pending` drives them all;
a new monitor metric is one new calculator in `calculators_for`.

Each calculator judges a batch against the version that scored it: drift and quality against that
version's training data, estimates from that version's calibration, realized metrics from the task
of that version. What is derived from an immutable version is computed once per context.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol

import polars as pl

from governance.quality import QualityThresholds
from lakehouse.records import require_table_identity
from lakehouse.schemas import DRIFT, ESTIMATED, LABELS, PERFORMANCE, PREDICTIONS, QUALITY, REALIZED, SCHEMAS
from pipelines.context import Context, JobRun
from pipelines.ml.drift import ReferenceProfile, profile_drift, profile_reference
from pipelines.ml.estimation import Calibration
from pipelines.ml.modeling import Algorithm, build_estimator
from pipelines.ml.quality import batch_quality
from pipelines.ml.tasks import kind_of
from pipelines.reads.batches import batch_rows
from pipelines.reads.versions import VersionRecipe, version_recipe

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


def calculators_for(ctx: Context, model: str) -> list[BatchCalculator]:
    return [
        DriftCalculator(ctx, model),
        RealizedPerformance(ctx, model),
        QualityCalculator(ctx, model),
        EstimatedPerformance(ctx, model),
    ]


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
        return f"{self.recipe.table}@{self.recipe.table_version}#{self.profile.id}"


class DriftCalculator:
    name, table = "drift", DRIFT

    def __init__(self, ctx: Context, model: str) -> None:
        self._ctx, self._model = ctx, model

    def pending(self, batches: pl.DataFrame) -> pl.DataFrame:
        return _without(DRIFT, self._ctx, self._model, batches)

    def rows(self, batch: dict[str, Any]) -> list[Row]:
        version = batch["model_version"]
        reference = self._ctx.remember(("drift_profile", self._model, version), partial(self._reference, version))
        current = batch_rows(self._ctx, batch, reference.recipe.spec.columns)
        return [
            {
                "batch_id": batch["batch_id"],
                "model": self._model,
                "model_version": version,
                "feature": drift.feature,
                "method": drift.method,
                "statistic": drift.statistic,
                "threshold": drift.threshold,
                "drifted": drift.drifted,
                "reference_id": reference.reference_id,
                "reference_rows": reference.profile.rows,
                "current_rows": current.height,
                "report_path": None,
            }
            for drift in profile_drift(reference.profile, current)
        ]

    def _reference(self, version: str) -> _Reference:
        recipe = version_recipe(self._ctx, self._model, version)
        frame = self._ctx.store.read(recipe.table, version=recipe.table_version, columns=list(recipe.spec.columns))
        return _Reference(recipe=recipe, profile=profile_reference(frame, recipe.spec))


class QualityCalculator:
    name, table = "quality", QUALITY

    def __init__(self, ctx: Context, model: str) -> None:
        self._ctx, self._model = ctx, model

    def pending(self, batches: pl.DataFrame) -> pl.DataFrame:
        return _without(QUALITY, self._ctx, self._model, batches)

    def rows(self, batch: dict[str, Any]) -> list[Row]:
        version = batch["model_version"]
        recipe, reference = self._ctx.remember(
            ("training_data", self._model, version), partial(self._training_data, version)
        )
        key = require_table_identity(self._ctx.store, batch["input_table"]).key
        current = batch_rows(self._ctx, batch, [key, *(c for c in recipe.spec.columns if c != key)])
        return [
            {
                "batch_id": batch["batch_id"],
                "model": self._model,
                "check": result.check.value,
                "column": result.column,
                "value": result.value,
                "threshold": result.threshold,
                "passed": result.passed,
            }
            for result in batch_quality(reference, current, spec=recipe.spec, key=key, thresholds=QualityThresholds())
        ]

    def _training_data(self, version: str) -> tuple[VersionRecipe, pl.DataFrame]:
        recipe = version_recipe(self._ctx, self._model, version)
        return recipe, self._ctx.store.read(recipe.table, version=recipe.table_version)


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
        kind = kind_of(recipe.task)
        calibration = self._ctx.remember(("calibration", self._model, version), partial(self._calibration, recipe))
        outputs = kind.stored_outputs(self._predictions.filter(pl.col("batch_id") == batch["batch_id"]))
        return [
            _performance_row(batch, model=self._model, kind=ESTIMATED, metric=metric, value=value, labelled=0)
            for metric, value in kind.estimate(outputs, calibration=calibration).items()
        ]

    def _calibration(self, recipe: VersionRecipe) -> Calibration:
        training = self._ctx.store.read(recipe.table, version=recipe.table_version)
        estimator = build_estimator(Algorithm(recipe.algorithm), recipe.spec)
        return kind_of(recipe.task).calibrate(estimator, training, recipe.spec, recipe.target)


class RealizedPerformance:
    """Realized metrics for each batch whose count of labelled rows changed since last time."""

    name, table = "performance", PERFORMANCE

    def __init__(self, ctx: Context, model: str) -> None:
        self._ctx, self._model = ctx, model
        self._labelled: dict[str, pl.DataFrame] = {}

    def pending(self, batches: pl.DataFrame) -> pl.DataFrame:
        store, model = self._ctx.store, self._model
        labels = (
            store.scan(LABELS)
            .filter(pl.col("model") == model)
            .sort("arrived_at")
            .unique(subset="entity_key", keep="last")
            .select("entity_key", "label")
        )
        joined = (
            store.scan(PREDICTIONS)
            .filter(pl.col("model") == model)
            .select(pl.exclude(_CONTEXT_COLUMNS))
            .join(labels, on="entity_key", how="inner")
            .collect()
        )
        self._labelled = {str(key[0]): part for key, part in joined.partition_by("batch_id", as_dict=True).items()}
        known = (
            store.scan(PERFORMANCE)
            .filter((pl.col("model") == model) & (pl.col("kind") == REALIZED))
            .group_by("batch_id")
            .agg(pl.col("labelled_rows").max())
            .collect()
        )
        counts = dict(zip(known["batch_id"], known["labelled_rows"], strict=True))
        changed = [batch_id for batch_id, rows in self._labelled.items() if counts.get(batch_id) != rows.height]
        return batches.filter(pl.col("batch_id").is_in(changed))

    def rows(self, batch: dict[str, Any]) -> list[Row]:
        labelled = self._labelled[batch["batch_id"]]
        kind = kind_of(version_recipe(self._ctx, self._model, batch["model_version"]).task)
        metrics = kind.metrics(labelled["label"].to_numpy(), kind.stored_outputs(labelled))
        return [
            _performance_row(
                batch, model=self._model, kind=REALIZED, metric=metric, value=value, labelled=labelled.height
            )
            for metric, value in metrics.items()
        ]
