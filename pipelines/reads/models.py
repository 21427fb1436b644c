"""The registry as the Models page shows it: a model's versions with their metrics and tags, links
to their runs in the MLflow UI, and the champion alias's history. Reads only."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import polars as pl

from governance.aliases import AliasInterval, MoveKind, rollback_target
from governance.errors import NotFoundError, PermissionDenied
from governance.promotion import PRODUCTION_ALIAS, SHADOW_ALIAS
from governance.roles import Action, authorize
from governance.tasks import Task
from lakehouse.records import access_policy, alias_moves
from lakehouse.registry import ModelVersionInfo
from lakehouse.schemas import UTC_TS
from pipelines.context import Context
from pipelines.reads.governed import alias_holder, risk_tier
from pipelines.reads.monitoring import model_task
from pipelines.reads.overview import latest_activity
from pipelines.reads.promotions import alias_history, approved_champions
from pipelines.reads.task_metrics import order_metrics

# Version tags worth a column of their own; every tag is listed in the version's details.
_TAG_COLUMNS = {
    "mlgov.trainer": "trainer",
    "mlgov.algorithm": "algorithm",
    "mlgov.train_table": "train_table",
    "mlgov.train_table_version": "train_table_version",
    "mlgov.approval_status": "approval_status",
    "mlgov.approvals": "approvals",
}
# Counts logged next to the metrics; they describe the data, not the model's quality.
_NOT_METRICS = frozenset({"train_rows", "holdout_rows"})


@dataclass(frozen=True)
class ModelDetail:
    model: str
    champion: str | None
    challenger: str | None
    risk_tier: str
    versions: tuple[ModelVersionInfo, ...]
    run_links: Mapping[str, str]  # run id -> its page in the MLflow UI; empty when no UI is configured
    timeline: pl.DataFrame  # alias_timeline_frame of the champion alias
    latest_activity: datetime | None  # the lakehouse's own "now" (pipelines.reads.overview.latest_activity)
    task: Task | None = None  # None: no version of it was registered through mlgov


def run_url(ui: str, *, experiment_id: str, run_id: str) -> str:
    """The address of a run in the MLflow UI at `ui`."""
    return f"{ui}/#/experiments/{experiment_id}/runs/{run_id}"


def model_detail(ctx: Context, model: str) -> ModelDetail:
    """Everything the Models page shows for `model`, read in a handful of registry calls."""
    ctx.registry.require_model(model)
    versions = tuple(ctx.registry.versions(model))
    links: dict[str, str] = {}
    ui = ctx.settings.mlflow_ui_url
    if ui:
        experiments = ctx.registry.experiment_ids(v.run_id for v in versions)
        links = {run: run_url(ui, experiment_id=exp, run_id=run) for run, exp in experiments.items()}
    return ModelDetail(
        model=model,
        champion=alias_holder(ctx, model, PRODUCTION_ALIAS),
        challenger=alias_holder(ctx, model, SHADOW_ALIAS),
        risk_tier=risk_tier(ctx, model).value,
        versions=versions,
        run_links=links,
        timeline=alias_timeline_frame(alias_history(ctx, model=model)),
        latest_activity=latest_activity(ctx),
        task=_task(ctx, model),
    )


def _task(ctx: Context, model: str) -> Task | None:
    try:
        return model_task(ctx, model)
    except NotFoundError:
        return None


def rollback_refusal(ctx: Context, *, actor: str, model: str | None = None) -> str | None:
    """Why `actor` may not roll `model`'s champion back now, or None; judged as `rollback` judges it
    (their roles; and, given a model, whether an earlier approved champion exists to return to)."""
    try:
        authorize(access_policy(ctx.ledger), user=actor, action=Action.ROLLBACK)
    except PermissionDenied as refusal:
        return str(refusal)
    if model is None:
        return None
    moves = alias_moves(ctx.ledger, model=model)
    approved = approved_champions(ctx, model, moves)
    if rollback_target(moves, alias=PRODUCTION_ALIAS, approved=approved) is None:
        return f"{model} has no earlier approved {PRODUCTION_ALIAS} version to roll back to"
    return None


def versions_frame(versions: Sequence[ModelVersionInfo], *, run_links: Mapping[str, str]) -> pl.DataFrame:
    """One row per version, newest first: aliases, how it was made, its approval state, metrics, run link."""
    metric_names = sorted({m for v in versions for m in v.metrics if m not in _NOT_METRICS})
    rows = [
        {
            "version": v.version,
            "created_at": v.created_at,
            "aliases": ", ".join(sorted(v.aliases)),
            **{column: v.tags.get(tag, "") for tag, column in _TAG_COLUMNS.items()},
            **{m: v.metrics.get(m) for m in metric_names},
            "run_id": v.run_id,
            "run_link": run_links.get(v.run_id),
        }
        for v in sorted(versions, key=lambda v: int(v.version), reverse=True)
    ]
    schema = pl.Schema(
        {
            "version": pl.String(),
            "created_at": UTC_TS,
            "aliases": pl.String(),
            **{column: pl.String() for column in _TAG_COLUMNS.values()},
            **{metric: pl.Float64() for metric in metric_names},
            "run_id": pl.String(),
            "run_link": pl.String(),
        }
    )
    return pl.DataFrame(rows, schema=schema)


def metric_columns(frame: pl.DataFrame, *, task: Task | None = None) -> list[str]:
    """The metric columns of a `versions_frame`: the task's gate metric first, then in the task's order
    (`pipelines.reads.task_metrics.order_metrics`)."""
    fixed = {"version", "created_at", "aliases", "run_id", "run_link", *_TAG_COLUMNS.values()}
    return order_metrics((c for c in frame.columns if c not in fixed), task=task)


def tags_frame(version: ModelVersionInfo) -> pl.DataFrame:
    """A version's tags and parameters as name/value text, sorted by name."""
    rows = [{"kind": "tag", "name": k, "value": v} for k, v in sorted(version.tags.items())]
    rows += [{"kind": "param", "name": k, "value": v} for k, v in sorted(version.params.items())]
    return pl.DataFrame(rows, schema={"kind": pl.String, "name": pl.String, "value": pl.String})


ALIAS_TIMELINE_SCHEMA = pl.Schema(
    {
        "version": pl.String(),
        "start": UTC_TS,
        "end": UTC_TS,
        "kind": pl.String(),
        "break_glass": pl.Boolean(),
        "rolled_back": pl.Boolean(),
        "actor": pl.String(),
        "reason": pl.String(),
        "request_id": pl.String(),
    }
)


def alias_timeline_frame(intervals: Sequence[AliasInterval]) -> pl.DataFrame:
    """The intervals of an alias history, oldest first; `end` is null for the current holder."""
    return pl.DataFrame(
        [
            {
                "version": i.version,
                "start": i.start,
                "end": i.end,
                "kind": i.kind.value,
                "break_glass": i.kind is MoveKind.BREAK_GLASS,
                "rolled_back": i.kind is MoveKind.ROLLED_BACK,
                "actor": i.actor,
                "reason": i.reason,
                "request_id": i.request_id,
            }
            for i in intervals
        ],
        schema=ALIAS_TIMELINE_SCHEMA,
    )


MIN_OPEN_INTERVAL = timedelta(days=1)


def timeline_until(timeline: pl.DataFrame, *, now: datetime | None) -> datetime | None:
    """Where the current holder's open interval is drawn to: `now` (the lakehouse's latest activity),
    but at least MIN_OPEN_INTERVAL past the last move so it stays visible. None without moves."""
    last = timeline["start"].max() if timeline.height else None
    if not isinstance(last, datetime):
        return None
    return max(now or last, last + MIN_OPEN_INTERVAL)
