"""The retraining policy as a table: batch health in (oldest first), the trigger that fires out."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from governance.retraining import BatchHealth, RetrainPolicy, TriggerKind, retrain_trigger
from governance.tasks import ROC_AUC

POLICY = RetrainPolicy()  # drift share above 0.5 in 2 consecutive batches; AUC drop over 0.05
BASELINE = 0.80


def health(
    drift: float | None = 0.1,
    *,
    alerts: int = 0,
    realized: float | None = None,
    estimated: float | None = None,
) -> tuple[float | None, int, float | None, float | None]:
    return (drift, alerts, realized, estimated)


def batches(*rows: tuple[float | None, int, float | None, float | None]) -> list[BatchHealth]:
    return [
        BatchHealth(
            batch_id=f"b{i}",
            model_version="1",
            drift_share=drift,
            quality_alerts=alerts,
            realized=realized,
            estimated=estimated,
        )
        for i, (drift, alerts, realized, estimated) in enumerate(rows)
    ]


@dataclass(frozen=True)
class Case:
    name: str
    rows: tuple[tuple[float | None, int, float | None, float | None], ...]
    kind: TriggerKind | None
    batch_ids: tuple[str, ...] = ()
    policy: RetrainPolicy = POLICY
    baseline: float | None = BASELINE


CASES = [
    Case("empty", (), None),
    Case("empty without a baseline", (), None, baseline=None),
    Case("healthy", (health(), health(0.2, realized=0.81, estimated=0.80)), None),
    # drift: strictly above the share, in the last N batches in a row
    Case("exactly N drifted batches", (health(0.6), health(0.7)), TriggerKind.DRIFT, ("b0", "b1")),
    Case("N drifted after a calm one", (health(0.1), health(0.6), health(0.9)), TriggerKind.DRIFT, ("b1", "b2")),
    Case(
        "a longer streak reports all of it",
        (health(0.6), health(0.7), health(0.8)),
        TriggerKind.DRIFT,
        ("b0", "b1", "b2"),
    ),
    Case("N-1 drifted batches", (health(0.1), health(0.6)), None),
    Case("a single drifted batch", (health(1.0),), None),
    Case("a streak interrupted by a calm batch", (health(0.6), health(0.2), health(0.7)), None),
    Case("a streak that ended", (health(0.6), health(0.7), health(0.2)), None),
    Case("no drift computed breaks the streak", (health(0.6), health(None), health(0.7)), None),
    Case("the last batch without drift", (health(0.6), health(0.7), health(None)), None),
    Case("a share at the level is not drifted", (health(0.5), health(0.5)), None),
    Case(
        "three in a row when the policy asks for three",
        (health(0.6), health(0.7), health(0.8)),
        TriggerKind.DRIFT,
        ("b0", "b1", "b2"),
        policy=RetrainPolicy(consecutive_batches=3),
    ),
    Case(
        "two when the policy asks for three",
        (health(0.6), health(0.7)),
        None,
        policy=RetrainPolicy(consecutive_batches=3),
    ),
    Case(
        "a lower drift level",
        (health(0.3), health(0.35)),
        TriggerKind.DRIFT,
        ("b0", "b1"),
        policy=RetrainPolicy(drift_share=0.25),
    ),
    # quality: an alert in the latest batch
    Case("a quality alert in the last batch", (health(), health(alerts=1)), TriggerKind.QUALITY, ("b1",)),
    Case("a quality alert in an earlier batch only", (health(alerts=3), health()), None),
    Case(
        "quality alerts ignored when the policy says so",
        (health(), health(alerts=4)),
        None,
        policy=RetrainPolicy(on_quality_alert=False),
    ),
    # performance: the latest batch's realized AUC, else its estimate, against the holdout's
    Case("a realized drop over the margin", (health(), health(realized=0.70)), TriggerKind.PERFORMANCE, ("b1",)),
    Case("a realized drop within the margin", (health(), health(realized=0.76)), None),
    Case("a realized gain", (health(), health(realized=0.95)), None),
    Case(
        "the estimate when no labels arrived",
        (health(), health(estimated=0.70)),
        TriggerKind.PERFORMANCE,
        ("b1",),
    ),
    Case("an estimate within the margin", (health(), health(estimated=0.76)), None),
    Case("realized wins over a bad estimate", (health(), health(realized=0.79, estimated=0.60)), None),
    Case(
        "realized wins over a good estimate",
        (health(), health(realized=0.60, estimated=0.79)),
        TriggerKind.PERFORMANCE,
        ("b1",),
    ),
    Case("only the latest batch's performance counts", (health(realized=0.60), health(realized=0.79)), None),
    Case("no performance known", (health(), health()), None),
    Case("no baseline to compare with", (health(), health(realized=0.10)), None, baseline=None),
    Case(
        "a wider margin",
        (health(), health(realized=0.70)),
        None,
        policy=RetrainPolicy(max_metric_drop=0.15),
    ),
    # precedence: drift, then quality, then performance
    Case(
        "drift before quality and performance",
        (health(0.9), health(0.9, alerts=2, realized=0.5)),
        TriggerKind.DRIFT,
        ("b0", "b1"),
    ),
    Case("quality before performance", (health(), health(alerts=2, realized=0.5)), TriggerKind.QUALITY, ("b1",)),
    Case(
        "quality when the drift streak is too short",
        (health(0.1), health(0.9, alerts=1)),
        TriggerKind.QUALITY,
        ("b1",),
    ),
    Case(
        "performance when the drift streak is too short",
        (health(0.1), health(0.9, estimated=0.6)),
        TriggerKind.PERFORMANCE,
        ("b1",),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_retrain_trigger(case: Case) -> None:
    trigger = retrain_trigger(batches(*case.rows), policy=case.policy, metric=ROC_AUC, baseline=case.baseline)
    if case.kind is None:
        assert trigger is None
    else:
        assert trigger is not None
        assert (trigger.kind, trigger.batch_ids) == (case.kind, case.batch_ids)
        assert trigger.reason


def test_the_reasons_say_what_was_seen() -> None:
    drift = retrain_trigger(
        batches(health(0.6), health(0.7), health(0.8)), policy=POLICY, metric=ROC_AUC, baseline=None
    )
    assert drift is not None
    assert "50%" in drift.reason
    assert "3 consecutive" in drift.reason

    quality = retrain_trigger(batches(health(alerts=3)), policy=POLICY, metric=ROC_AUC, baseline=None)
    assert quality is not None
    assert "3 data-quality alerts" in quality.reason
    assert "b0" in quality.reason

    realized = retrain_trigger(
        batches(health(realized=0.70, estimated=0.9)), policy=POLICY, metric=ROC_AUC, baseline=BASELINE
    )
    assert realized is not None
    assert realized.reason.startswith("realized ROC AUC 0.700")
    assert "0.800" in realized.reason

    estimated = retrain_trigger(batches(health(estimated=0.65)), policy=POLICY, metric=ROC_AUC, baseline=BASELINE)
    assert estimated is not None
    assert estimated.reason.startswith("estimated ROC AUC 0.650")
