"""When monitoring must turn into a retraining run. Pure: batch health is passed in, oldest first.

A model is retrained when its drift share stays above a level for several consecutive batches,
when a batch raises a data-quality alert, or when its realized (or, without labels, estimated)
health metric (its task's, e.g. ROC AUC) is more than a margin worse than on the version's holdout. The decision
never promotes anything: it opens a request that goes through review like any other.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from governance.tasks import TaskMetric


class TriggerKind(StrEnum):
    DRIFT = "drift"
    QUALITY = "quality"
    PERFORMANCE = "performance"


@dataclass(frozen=True)
class RetrainPolicy:
    drift_share: float = 0.5  # a batch counts as drifted above this share of drifted features
    consecutive_batches: int = 2
    max_metric_drop: float = 0.05  # a share of the holdout's value where the metric is relative (RMSE)
    on_quality_alert: bool = True


@dataclass(frozen=True)
class BatchHealth:
    batch_id: str
    model_version: str
    drift_share: float | None  # None: drift not computed
    quality_alerts: int
    realized: float | None  # the task's health metric, measured against labels
    estimated: float | None  # ... or estimated without them


@dataclass(frozen=True)
class RetrainTrigger:
    kind: TriggerKind
    reason: str
    batch_ids: tuple[str, ...]


def retrain_trigger(
    batches: Sequence[BatchHealth], *, policy: RetrainPolicy, metric: TaskMetric, baseline: float | None
) -> RetrainTrigger | None:
    """The first reason, if any, the champion's recent batches call for retraining."""
    recent = list(batches)
    streak = []
    for batch in reversed(recent):
        if batch.drift_share is None or batch.drift_share <= policy.drift_share:
            break
        streak.append(batch)
    if len(streak) >= policy.consecutive_batches:
        ids = tuple(b.batch_id for b in reversed(streak))
        return RetrainTrigger(
            TriggerKind.DRIFT,
            f"drift share above {policy.drift_share:.0%} in the last {len(streak)} consecutive batches",
            ids,
        )
    if recent and policy.on_quality_alert and recent[-1].quality_alerts:
        last = recent[-1]
        return RetrainTrigger(
            TriggerKind.QUALITY, f"{last.quality_alerts} data-quality alerts in batch {last.batch_id}", (last.batch_id,)
        )
    if recent and baseline is not None:
        last = recent[-1]
        observed, source = (last.realized, "realized") if last.realized is not None else (last.estimated, "estimated")
        if observed is not None and metric.falls_short(observed, of=baseline, by_more_than=policy.max_metric_drop):
            direction = "below" if metric.higher_is_better else "above"
            return RetrainTrigger(
                TriggerKind.PERFORMANCE,
                f"{source} {metric.label} {observed:.3f} is more than {metric.margin(policy.max_metric_drop)} "
                f"{direction} the holdout's {baseline:.3f}",
                (last.batch_id,),
            )
    return None
