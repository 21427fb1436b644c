"""Monitoring: for every scored batch, drift and data quality against the training data of the
version that scored it, performance estimated from the scores alone, and realized performance once
labels arrive. Computes only what is missing, reports every batch, and says whether the retraining
policy fires (and, when asked, acts on it)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

import polars as pl

from governance.audit.actions import AuditAction
from governance.drift import FeatureDrift, dataset_drifted, drift_share
from governance.promotion import PRODUCTION_ALIAS, PromotionStatus, fold_requests
from governance.quality import QualityResult
from governance.retraining import BatchHealth, RetrainPolicy, RetrainTrigger, retrain_trigger
from governance.roles import Action
from governance.tasks import health_metric
from lakehouse.records import promotion_events
from lakehouse.schemas import BATCHES, DRIFT, ESTIMATED, OUTPUT_DRIFT, PERFORMANCE, QUALITY, REALIZED, check_model_name
from pipelines.context import Context, job_run
from pipelines.jobs.alerts import AlertOutcome, alert_on_monitoring
from pipelines.jobs.calculators import calculators_for, compute_pending
from pipelines.jobs.engines import Engine, open_engine
from pipelines.jobs.retrain import RetrainResult
from pipelines.jobs.retrain import retrain as run_retrain
from pipelines.reads.batches import BATCH_ORDER
from pipelines.reads.governed import alias_holder
from pipelines.reads.monitoring import feature_drifts, quality_results
from pipelines.reads.versions import is_foreign, latest_recipe, version_recipe

SYSTEM_ACTOR = "mlgov-monitor"


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
    estimated: Mapping[str, float] = field(default_factory=dict)
    quality_alerts: tuple[QualityResult, ...] = ()
    # the model's output against the first batch its version scored (see calculators.OutputDriftCalculator)
    output_drift: FeatureDrift | None = None


@dataclass(frozen=True)
class MonitorReport:
    model: str
    batches: tuple[BatchReport, ...]
    computed_drift: int
    computed_performance: int
    trigger: RetrainTrigger | None = None
    retrained: RetrainResult | None = None
    task: str = ""  # what the model predicts: its metrics and output are this task's
    alerts: AlertOutcome = field(default_factory=AlertOutcome)  # what the alert rules fired, and its delivery


def monitor(
    ctx: Context, *, model: str, actor: str | None = None, retrain: bool = False, engine: Engine | None = None
) -> MonitorReport:
    """Compute what is missing for `model`'s batches and report them; with `retrain` (and an
    actor allowed to train), a firing retraining policy trains a candidate and opens a request.
    Drift and quality compute on `engine` (default: the one the settings name)."""
    check_model_name(model)
    engine = engine or open_engine(ctx)
    with job_run(ctx, job="monitor", actor=actor or SYSTEM_ACTOR, model=model, workers=engine) as run:
        if actor is not None:
            run.authorize(Action.MONITOR, object_type="model", object_id=model)
        ctx.registry.require_model(model)
        batches = ctx.store.scan(BATCHES).filter(pl.col("model") == model).sort(BATCH_ORDER).collect()
        computed = compute_pending(run, calculators_for(ctx, model, engine), batches)
        if any(computed.values()):
            run.audit(
                action=AuditAction.MONITOR,
                object_type="model",
                object_id=model,
                details={f"{name}_batches": count for name, count in computed.items()},
            )
        reports = _reports(ctx, model=model, batches=batches)
        alerts = alert_on_monitoring(run, model=model, batches=reports)
        trigger = _retrain_trigger(ctx, model=model, reports=reports)
        retrained = None
        # a model trained outside mlgov is retrained where it was trained: the trigger is reported, nothing more
        if (
            retrain
            and trigger is not None
            and actor is not None
            and not _has_open_request(ctx, model=model)
            and not _trained_elsewhere(ctx, model=model)
        ):
            retrained = run_retrain(ctx, model=model, actor=actor, trigger=trigger)
        return MonitorReport(
            model=model,
            batches=reports,
            computed_drift=computed["drift"],
            computed_performance=computed["performance"],
            trigger=trigger,
            retrained=retrained,
            task=latest_recipe(ctx, model).task.value if batches.height else "",
            alerts=alerts,
        )


def _trained_elsewhere(ctx: Context, *, model: str) -> bool:
    champion = alias_holder(ctx, model, PRODUCTION_ALIAS)
    return champion is not None and is_foreign(version_recipe(ctx, model, champion))


def _has_open_request(ctx: Context, *, model: str) -> bool:
    requests = fold_requests(promotion_events(ctx.ledger, model=model)).values()
    return any(r.status is PromotionStatus.PENDING for r in requests)


def _retrain_trigger(ctx: Context, *, model: str, reports: tuple[BatchReport, ...]) -> RetrainTrigger | None:
    """The retraining policy over the batches the current champion scored."""
    champion = alias_holder(ctx, model, PRODUCTION_ALIAS)
    if champion is None:
        return None
    info = ctx.registry.version(model, champion)
    metric = health_metric(version_recipe(ctx, model, champion).task)
    health = [
        BatchHealth(
            batch_id=r.batch_id,
            model_version=r.model_version,
            drift_share=r.drift_share if r.drift else None,
            quality_alerts=len(r.quality_alerts),
            realized=r.performance.get(metric.name),
            estimated=r.estimated.get(metric.name),
        )
        for r in reports
        if r.model_version == champion
    ]
    return retrain_trigger(health, policy=RetrainPolicy(), metric=metric, baseline=info.metrics.get(metric.name))


def _by_batch(frame: pl.DataFrame) -> dict[str, pl.DataFrame]:
    return {str(key[0]): part for key, part in frame.partition_by("batch_id", as_dict=True).items()}


def _latest_metrics(rows: pl.DataFrame | None) -> tuple[int, dict[str, float]]:
    """(labelled rows, metrics) of the latest computation: recomputed as labels grow, so the
    most-labelled computation is the latest."""
    if rows is None or rows.height == 0:
        return 0, {}
    latest = rows.filter(pl.col("labelled_rows") == rows["labelled_rows"].max()).unique("metric", keep="last")
    return int(latest["labelled_rows"][0]), dict(zip(latest["metric"], latest["value"], strict=True))


def _reports(ctx: Context, *, model: str, batches: pl.DataFrame) -> tuple[BatchReport, ...]:
    drift = _by_batch(ctx.store.scan(DRIFT).filter(pl.col("model") == model).collect())
    outputs = _by_batch(ctx.store.scan(OUTPUT_DRIFT).filter(pl.col("model") == model).collect())
    performance = ctx.store.scan(PERFORMANCE).filter(pl.col("model") == model).sort("computed_at").collect()
    realized = _by_batch(performance.filter(pl.col("kind") == REALIZED))
    estimated = _by_batch(performance.filter(pl.col("kind") == ESTIMATED))
    alerts = _by_batch(ctx.store.scan(QUALITY).filter((pl.col("model") == model) & ~pl.col("passed")).collect())
    reports = []
    for batch in batches.iter_rows(named=True):
        batch_id = batch["batch_id"]
        features = feature_drifts(drift.get(batch_id))
        output = feature_drifts(outputs.get(batch_id))
        labelled, metrics = _latest_metrics(realized.get(batch_id))
        share = drift_share(features)
        reports.append(
            BatchReport(
                batch_id=batch_id,
                start=batch["window_start"],
                end=batch["window_end"],
                rows=batch["rows"],
                model_version=batch["model_version"],
                scored_at=batch["scored_at"],
                drift=features,
                drift_share=share,
                drifted=dataset_drifted(share),
                labelled_rows=labelled,
                performance=metrics,
                estimated=_latest_metrics(estimated.get(batch_id))[1],
                output_drift=output[0] if output else None,
                quality_alerts=quality_results(alerts.get(batch_id, pl.DataFrame())),
            )
        )
    return tuple(reports)
