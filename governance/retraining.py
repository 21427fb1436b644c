"""When monitoring must turn into a retraining run. Pure: batch health is passed in, oldest first.

A model is retrained when its drift share stays above a level for several consecutive batches,
when a batch raises a data-quality alert, or when its realized (or, without labels, estimated)
ROC AUC falls more than a margin below what the version achieved on its holdout. The decision
never promotes anything: it opens a request that goes through review like any other.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum


class TriggerKind(StrEnum):
    DRIFT = "drift"
    QUALITY = "quality"
    PERFORMANCE = "performance"


@dataclass(frozen=True)
class RetrainPolicy:
    drift_share: float = 0.5  # a batch counts as drifted above this share of drifted features
    consecutive_batches: int = 2
    max_auc_drop: float = 0.05
    on_quality_alert: bool = True


@dataclass(frozen=True)
class BatchHealth:
    batch_id: str
    model_version: str
    drift_share: float | None  # None: drift not computed
    quality_alerts: int
    realized_auc: float | None
    estimated_auc: float | None


@dataclass(frozen=True)
class RetrainTrigger:
    kind: TriggerKind
    reason: str
    batch_ids: tuple[str, ...]


def retrain_trigger(
    batches: Sequence[BatchHealth], *, policy: RetrainPolicy, baseline_auc: float | None
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
    if recent and baseline_auc is not None:
        last = recent[-1]
        observed, source = (
            (last.realized_auc, "realized") if last.realized_auc is not None else (last.estimated_auc, "estimated")
        )
        if observed is not None and observed < baseline_auc - policy.max_auc_drop:
            return RetrainTrigger(
                TriggerKind.PERFORMANCE,
                f"{source} ROC AUC {observed:.3f} is more than {policy.max_auc_drop:.2f} "
                f"below the holdout's {baseline_auc:.3f}",
                (last.batch_id,),
            )
    return None
