"""Monitoring: drift of every scored batch against its version's training data, and realized
performance once labels arrive. Computes only what is missing, then reports every batch."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import polars as pl

from governance.drift import FeatureDrift, dataset_drifted, drift_share
from governance.roles import Action
from lakehouse.evidently_drift import FeatureKinds, evidently_drift
from lakehouse.records import require_table_identity
from lakehouse.schemas import BATCHES, DRIFT, LABELS, PERFORMANCE, PREDICTIONS, check_model_name
from pipelines.context import Context, JobRun, job_run
from pipelines.modeling import classification_metrics
from pipelines.score import select_window
from pipelines.train import VersionRecipe, version_recipe

SYSTEM_ACTOR = "mlgov-monitor"
REALIZED = "realized"


@dataclass(frozen=True)
class BatchReport:
    batch_id: str
    start: datetime | None
    end: datetime | None
    rows: int
    model_version: str
    scored_at: datetime
    drift: tuple[FeatureDrift, ...]
    drift_share: float
    drifted: bool
    labelled_rows: int
    performance: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class MonitorReport:
    model: str
    batches: tuple[BatchReport, ...]
    computed_drift: int
    computed_performance: int


def monitor(ctx: Context, *, model: str, actor: str | None = None) -> MonitorReport:
    check_model_name(model)
    with job_run(ctx, job="monitor", actor=actor or SYSTEM_ACTOR, model=model) as run:
        if actor is not None:
            run.authorize(Action.MONITOR, object_type="model", object_id=model)
        ctx.registry.require_model(model)
        batches = ctx.store.scan(BATCHES).filter(pl.col("model") == model).sort("scored_at").collect()
        new_drift = _compute_missing_drift(ctx, run, model=model, batches=batches)
        new_performance = _compute_performance(ctx, run, model=model, batches=batches)
        if new_drift or new_performance:
            run.audit(
                action="monitor",
                object_type="model",
                object_id=model,
                details={"drift_batches": new_drift, "performance_batches": new_performance},
            )
        return MonitorReport(
            model=model,
            batches=_reports(ctx, model=model, batches=batches),
            computed_drift=new_drift,
            computed_performance=new_performance,
        )


def _compute_missing_drift(ctx: Context, run: JobRun, *, model: str, batches: pl.DataFrame) -> int:
    done = set(ctx.store.scan(DRIFT).filter(pl.col("model") == model).select("batch_id").collect()["batch_id"])
    references: dict[str, tuple[VersionRecipe, pl.DataFrame]] = {}
    rows: list[dict[str, object]] = []
    todo = batches.filter(~pl.col("batch_id").is_in(list(done)))
    for batch in todo.iter_rows(named=True):
        version = batch["model_version"]
        if version not in references:
            recipe = version_recipe(ctx.registry.version(model, version))
            reference = ctx.store.read(recipe.table, version=recipe.table_version, columns=list(recipe.spec.columns))
            references[version] = (recipe, reference)
        recipe, reference = references[version]
        timestamp = require_table_identity(ctx.store, batch["input_table"]).timestamp
        window = select_window(
            ctx.store.scan(batch["input_table"], version=batch["input_version"]),
            timestamp=timestamp,
            start=batch["window_start"],
            end=batch["window_end"],
        )
        current = window.select(recipe.spec.columns).collect()
        kinds = FeatureKinds(numerical=recipe.spec.numeric, categorical=recipe.spec.categorical)
        computed_at = run.now()
        for drift in evidently_drift(reference, current, kinds=kinds):
            rows.append(
                {
                    "batch_id": batch["batch_id"],
                    "model": model,
                    "model_version": version,
                    "feature": drift.feature,
                    "method": drift.method,
                    "statistic": drift.statistic,
                    "threshold": drift.threshold,
                    "drifted": drift.drifted,
                    "reference_id": f"{recipe.table}@{recipe.table_version}",
                    "reference_rows": reference.height,
                    "current_rows": current.height,
                    "report_path": None,
                    "computed_at": computed_at,
                    "run_id": run.run_id,
                }
            )
    if rows:
        run.append(DRIFT, pl.DataFrame(rows, schema_overrides={"report_path": pl.String}))
    return todo.height


def _compute_performance(ctx: Context, run: JobRun, *, model: str, batches: pl.DataFrame) -> int:
    """Realized metrics for each batch whose count of labelled rows changed since last time."""
    labels = (
        ctx.store.scan(LABELS)
        .filter(pl.col("model") == model)
        .sort("arrived_at")
        .unique(subset="entity_key", keep="last")
        .select("entity_key", "label")
    )
    joined = (
        ctx.store.scan(PREDICTIONS)
        .filter(pl.col("model") == model)
        .select("batch_id", "entity_key", "score")
        .join(labels, on="entity_key", how="inner")
        .collect()
    )
    known = (
        ctx.store.scan(PERFORMANCE)
        .filter((pl.col("model") == model) & (pl.col("kind") == REALIZED))
        .group_by("batch_id")
        .agg(pl.col("labelled_rows").max())
        .collect()
    )
    known_counts = dict(zip(known["batch_id"], known["labelled_rows"], strict=True))
    rows: list[dict[str, object]] = []
    updated = 0
    for batch in batches.iter_rows(named=True):
        labelled = joined.filter(pl.col("batch_id") == batch["batch_id"])
        if labelled.height == 0 or known_counts.get(batch["batch_id"]) == labelled.height:
            continue
        updated += 1
        metrics = classification_metrics(labelled["label"].to_numpy(), labelled["score"].to_numpy().astype(np.float64))
        computed_at = run.now()
        rows.extend(
            {
                "batch_id": batch["batch_id"],
                "model": model,
                "model_version": batch["model_version"],
                "kind": REALIZED,
                "metric": metric,
                "value": value,
                "labelled_rows": labelled.height,
                "batch_rows": batch["rows"],
                "computed_at": computed_at,
                "run_id": run.run_id,
            }
            for metric, value in metrics.items()
        )
    if rows:
        run.append(PERFORMANCE, pl.DataFrame(rows))
    return updated


def _reports(ctx: Context, *, model: str, batches: pl.DataFrame) -> tuple[BatchReport, ...]:
    drift = ctx.store.scan(DRIFT).filter(pl.col("model") == model).collect()
    performance = (
        ctx.store.scan(PERFORMANCE)
        .filter((pl.col("model") == model) & (pl.col("kind") == REALIZED))
        .sort("computed_at")
        .collect()
    )
    reports = []
    for batch in batches.iter_rows(named=True):
        features = tuple(
            FeatureDrift(
                feature=row["feature"],
                method=row["method"],
                statistic=row["statistic"],
                threshold=row["threshold"],
                drifted=row["drifted"],
            )
            for row in drift.filter(pl.col("batch_id") == batch["batch_id"]).iter_rows(named=True)
        )
        latest = performance.filter(pl.col("batch_id") == batch["batch_id"])
        if latest.height:
            # recomputed whenever more labels arrive: the most-labelled computation is the latest
            latest = latest.filter(pl.col("labelled_rows") == latest["labelled_rows"].max()).unique(
                "metric", keep="last"
            )
        share = drift_share(features)
        reports.append(
            BatchReport(
                batch_id=batch["batch_id"],
                start=batch["window_start"],
                end=batch["window_end"],
                rows=batch["rows"],
                model_version=batch["model_version"],
                scored_at=batch["scored_at"],
                drift=features,
                drift_share=share,
                drifted=dataset_drifted(share),
                labelled_rows=latest.height and int(latest["labelled_rows"][0]),
                performance=dict(zip(latest["metric"], latest["value"], strict=True)),
            )
        )
    return tuple(reports)
