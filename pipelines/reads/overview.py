"""The overview read model, shared by the CLI and the app: one summary per registered model, and the
drift history of a model's batches. Reads only; every verdict comes from `governance`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

import polars as pl

from governance.drift import FeatureDrift, dataset_drifted, drift_share
from governance.promotion import PRODUCTION_ALIAS, SHADOW_ALIAS, PromotionStatus, fold_requests
from governance.zombies import zombie_reason
from lakehouse.records import promotion_events
from lakehouse.schemas import ALIASES, BATCHES, DRIFT, LABELS, PERFORMANCE, PROMOTIONS, QUALITY, UTC_TS
from pipelines.context import Context
from pipelines.reads.batches import BATCH_ORDER
from pipelines.reads.governed import alias_holders, model_settings, tier_of


class DriftStatus(StrEnum):
    DRIFTED = "drifted"
    STABLE = "stable"
    NOT_MONITORED = "not monitored"


@dataclass(frozen=True)
class ModelSummary:
    name: str
    champion_version: str | None
    latest_version: str | None
    versions: int
    pending_requests: int
    last_scored_at: datetime | None
    batches: int
    latest_batch_id: str | None
    latest_drift_share: float | None
    latest_drifted: bool | None
    risk_tier: str = "medium"
    challenger_version: str | None = None
    last_monitored_at: datetime | None = None
    zombie_reason: str | None = None  # why it is in production but unattended (governance.zombies)

    @property
    def zombie(self) -> bool:
        return self.zombie_reason is not None

    @property
    def drift_status(self) -> DriftStatus:
        """The verdict on the latest batch; 'not monitored' when it has no drift computed yet."""
        if self.latest_drifted is None:
            return DriftStatus.NOT_MONITORED
        return DriftStatus.DRIFTED if self.latest_drifted else DriftStatus.STABLE


@dataclass(frozen=True)
class OverviewTotals:
    models: int
    in_production: int
    pending_requests: int
    drifted_latest_batches: int


DRIFT_HISTORY_SCHEMA = pl.Schema(
    {
        "batch_id": pl.String(),
        "scored_at": UTC_TS,
        "window_start": UTC_TS,
        "window_end": UTC_TS,
        "model_version": pl.String(),
        "drift_share": pl.Float64(),
        "drifted": pl.Boolean(),
    }
)

# Scoring is stamped by a clock that may be fixed (tests, demo): the data window breaks ties.


def _ordered_batches(ctx: Context, *, model: str | None = None) -> pl.DataFrame:
    frame = ctx.store.scan(BATCHES)
    if model is not None:
        frame = frame.filter(pl.col("model") == model)
    columns = ["batch_id", "model", "model_version", "role", "scored_at", "window_start", "window_end"]
    return frame.select(columns).sort(BATCH_ORDER, nulls_last=True).collect()


def _served(batches: pl.DataFrame) -> pl.DataFrame:
    """The batches production scored: a challenger's shadow batches say nothing of what is served (a batch
    written before roles were recorded was production's)."""
    return batches.filter(pl.col("role").fill_null(PRODUCTION_ALIAS) == PRODUCTION_ALIAS)


def _batch_verdicts(
    ctx: Context, *, model: str | None = None, batch_ids: Sequence[str] | None = None
) -> dict[str, tuple[float, bool]]:
    """Each monitored batch's drift share and dataset verdict, as `governance.drift` decides them."""
    frame = ctx.store.scan(DRIFT)
    if model is not None:
        frame = frame.filter(pl.col("model") == model)
    if batch_ids is not None:
        frame = frame.filter(pl.col("batch_id").is_in(list(batch_ids)))
    rows = frame.select("batch_id", "feature", "method", "statistic", "threshold", "drifted").collect()
    verdicts: dict[str, tuple[float, bool]] = {}
    for (batch_id,), group in rows.partition_by("batch_id", as_dict=True).items():
        features = [FeatureDrift(**row) for row in group.drop("batch_id").iter_rows(named=True)]
        share = drift_share(features)
        verdicts[str(batch_id)] = (share, dataset_drifted(share))
    return verdicts


def _last_monitored(ctx: Context) -> dict[str, datetime]:
    """When each model's drift or realized performance was last computed."""
    frames = [
        ctx.store.scan(table).select("model", pl.col("computed_at").alias("at")).collect()
        for table in (DRIFT, PERFORMANCE)
    ]
    latest = pl.concat(frames).group_by("model").agg(pl.col("at").max())
    return {row["model"]: row["at"] for row in latest.iter_rows(named=True)}


_ACTIVITY = {BATCHES: "scored_at", DRIFT: "computed_at", PERFORMANCE: "computed_at", QUALITY: "computed_at"}
_ACTIVITY |= {LABELS: "arrived_at", PROMOTIONS: "at", ALIASES: "at"}


def latest_activity(ctx: Context) -> datetime | None:
    """The lakehouse's latest scoring, monitoring, label or promotion event: its own "now".

    Sign-ins and account changes do not count: they say nothing about the models' upkeep.
    """
    stamps = [ctx.store.scan(table).select(pl.col(stamp).max()).collect().item() for table, stamp in _ACTIVITY.items()]
    found = [stamp for stamp in stamps if stamp is not None]
    return max(found) if found else None


def model_overview(ctx: Context, *, now: datetime) -> list[ModelSummary]:
    """One summary per registered model, by name: versions, champion, pending requests, latest batch,
    risk tier, challenger, and whether it is a zombie at `now`.

    `now` is the caller's clock (the wall clock in the app and the jobs), not the lakehouse's latest
    activity: otherwise any approval anywhere would make every idle champion a zombie at once.
    """
    registered = sorted(ctx.registry.models(), key=lambda m: m.name)
    if not registered:
        return []
    pending: dict[str, int] = {}
    for request in fold_requests(promotion_events(ctx.ledger)).values():
        if request.status is PromotionStatus.PENDING:
            pending[request.model] = pending.get(request.model, 0) + 1
    batches = _ordered_batches(ctx)
    latest_batches = _served(batches).group_by("model").agg(pl.col("batch_id").last())["batch_id"].to_list()
    verdicts = _batch_verdicts(ctx, batch_ids=latest_batches)
    monitored = _last_monitored(ctx)
    version_counts = ctx.registry.version_counts()
    holders, settings = alias_holders(ctx), model_settings(ctx)
    summaries = []
    for model in registered:
        own = batches.filter(pl.col("model") == model.name)
        served = _served(own)
        latest = served.row(-1, named=True) if served.height else None
        verdict = verdicts.get(latest["batch_id"]) if latest else None
        held = holders.get(model.name, {})
        champion = held.get(PRODUCTION_ALIAS)
        last_scored = latest["scored_at"] if latest else None
        zombie = zombie_reason(
            in_production=champion is not None,
            last_scored=last_scored,
            last_monitored=monitored.get(model.name),
            now=now,
        )
        summaries.append(
            ModelSummary(
                name=model.name,
                champion_version=champion,
                latest_version=model.latest_version,
                versions=version_counts.get(model.name, 0),
                pending_requests=pending.get(model.name, 0),
                last_scored_at=latest["scored_at"] if latest else None,
                batches=own.height,
                latest_batch_id=latest["batch_id"] if latest else None,
                latest_drift_share=verdict[0] if verdict else None,
                latest_drifted=verdict[1] if verdict else None,
                risk_tier=tier_of(settings.get(model.name, {})).value,
                challenger_version=held.get(SHADOW_ALIAS),
                last_monitored_at=monitored.get(model.name),
                zombie_reason=zombie,
            )
        )
    return summaries


def overview_totals(summaries: Sequence[ModelSummary]) -> OverviewTotals:
    return OverviewTotals(
        models=len(summaries),
        in_production=sum(s.champion_version is not None for s in summaries),
        pending_requests=sum(s.pending_requests for s in summaries),
        drifted_latest_batches=sum(s.latest_drifted is True for s in summaries),
    )


def overview_frame(summaries: Sequence[ModelSummary]) -> pl.DataFrame:
    """The summaries as a table, with the drift status in words."""
    return pl.DataFrame(
        [{**s.__dict__, "drift_status": s.drift_status.value, "zombie": s.zombie} for s in summaries],
        schema={
            "name": pl.String,
            "champion_version": pl.String,
            "latest_version": pl.String,
            "versions": pl.Int64,
            "pending_requests": pl.Int64,
            "last_scored_at": UTC_TS,
            "batches": pl.Int64,
            "latest_batch_id": pl.String,
            "latest_drift_share": pl.Float64,
            "latest_drifted": pl.Boolean,
            "drift_status": pl.String,
            "risk_tier": pl.String,
            "challenger_version": pl.String,
            "last_monitored_at": UTC_TS,
            "zombie": pl.Boolean,
            "zombie_reason": pl.String,
        },
    )


def drift_history(ctx: Context, model: str) -> pl.DataFrame:
    """One row per batch of `model` with drift computed, oldest first (columns: DRIFT_HISTORY_SCHEMA)."""
    verdicts = _batch_verdicts(ctx, model=model)
    rows = [
        {
            "batch_id": batch["batch_id"],
            "scored_at": batch["scored_at"],
            "window_start": batch["window_start"],
            "window_end": batch["window_end"],
            "model_version": batch["model_version"],
            "drift_share": verdicts[batch["batch_id"]][0],
            "drifted": verdicts[batch["batch_id"]][1],
        }
        for batch in _ordered_batches(ctx, model=model).iter_rows(named=True)
        if batch["batch_id"] in verdicts
    ]
    return pl.DataFrame(rows, schema=DRIFT_HISTORY_SCHEMA)
