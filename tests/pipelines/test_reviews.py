"""The review read model: the queue, what an actor may do, and the evidence as tables."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from governance.promotion import PromotionStatus
from pipelines.reads.promotions import PromotionResult
from pipelines.reads.reviews import (
    approval_outcome,
    approvals_frame,
    drift_features,
    metrics_comparison,
    model_card_table,
    quality_table,
    queue_frame,
    rejection_outcome,
    review_permissions,
    review_queue,
    shadow_frame,
)
from tests.conftest import MAKER, REVIEWER_A, REVIEWER_B, Seeded, context_for

EVIDENCE = {
    "candidate": {"version": "2", "metrics": {"roc_auc": 0.81, "brier": 0.10, "accuracy": 0.9, "f1": 0.4}},
    "champion": {"version": "1", "metrics": {"roc_auc": 0.83, "brier": 0.12, "accuracy": 0.9}},
}
GATE = {"metric": "roc_auc", "candidate": 0.81, "champion": 0.83, "max_drop": 0.01, "passed": False}


def test_the_queue_lists_every_request_with_its_approvers(seeded: Seeded) -> None:
    (queued,) = review_queue(context_for(seeded.home))

    assert queued.request_id == seeded.request_id
    assert queued.status is PromotionStatus.PROMOTED
    assert not queued.open
    assert sorted(queued.approvers) == sorted((REVIEWER_A, REVIEWER_B))  # both approved at the same instant
    assert queued.required == 2
    approvals, approved_by = queue_frame([queued]).select("approvals", "approved_by").row(0)
    assert (approvals, sorted(approved_by.split(", "))) == ("2/2", ["raj", "rita"])


def test_nobody_may_act_on_a_decided_request(seeded: Seeded) -> None:
    permissions = review_permissions(context_for(seeded.home), request_id=seeded.request_id, actor=REVIEWER_A)

    refusal = f"request {seeded.request_id} is promoted, not open for review"
    assert (permissions.approve_refusal, permissions.reject_refusal) == (refusal, refusal)


def test_candidate_and_champion_side_by_side_gate_first() -> None:
    frame = metrics_comparison(EVIDENCE, gates=[GATE])

    assert frame["metric"].to_list() == ["roc_auc", "accuracy", "f1", "brier"]
    roc = frame.row(0, named=True)
    assert roc["difference"] == pytest.approx(-0.02)
    assert roc["gate"] == "FAILED"
    f1 = frame.filter(frame["metric"] == "f1").row(0, named=True)
    assert (f1["champion"], f1["difference"], f1["gate"]) == (None, None, "")


def test_without_a_champion_only_the_candidate_is_shown() -> None:
    frame = metrics_comparison({**EVIDENCE, "champion": None})

    assert frame["champion"].null_count() == frame.height == 4


def test_drifted_features_come_first() -> None:
    drift = {
        "features": [
            {"feature": "b", "method": "K-S", "statistic": 0.5, "threshold": 0.05, "drifted": False, "extra": 1},
            {"feature": "a", "method": "K-S", "statistic": 0.01, "threshold": 0.05, "drifted": True},
        ]
    }

    assert drift_features(drift)["feature"].to_list() == ["a", "b"]
    wasserstein = {**drift["features"][0], "method": "Wasserstein distance (normed)"}
    assert drift_features({"features": [wasserstein]})["method"].to_list() == ["Wasserstein (normed)"]
    assert drift_features({}).is_empty()


def test_quality_and_model_card_tables() -> None:
    quality = quality_table({"missing_share": {"x": 0.0, "y": 0.2}, "constant_features": ["x"]})
    assert quality.rows() == [("x", 0.0, True), ("y", 0.2, False)]

    card = model_card_table(
        {
            "purpose": "scores **loans**",
            "owner": MAKER,
            "features": {"numeric": ["income"], "categorical": ["purpose"]},
            "training_data": {
                "table": "raw/loans@0",
                "rows": 1500,
                "span": {"from": "2026-04-06 00:28:29.904167+00:00", "to": "2026-05-31 23:05:51+00:00"},
            },
        }
    )
    values = dict(card.rows())
    assert values["purpose"] == "scores **loans**"
    assert values["training data"] == "raw/loans@0 (1500 rows)"
    assert values["training span"] == "2026-04-06 to 2026-05-31"


def test_shadow_batches_as_a_table() -> None:
    comparison = [
        {
            "champion_batch": "b1",
            "challenger_batch": "b2",
            "champion_version": "1",
            "challenger_version": "2",
            "rows": 400,
            "disagreement_rate": 0.05,
            "score_ks": 0.1,
            "champion_realized": {"roc_auc": 0.8, "accuracy": 0.9},
            "challenger_realized": {},
        }
    ]

    frame = shadow_frame(comparison)

    assert frame.row(0) == ("1", "2", "b1", 400, 0.05, 0.1, 0.8, None)
    assert shadow_frame([]).is_empty()


def test_approvals_are_timestamps() -> None:
    frame = approvals_frame([{"actor": "rita", "at": "2026-06-01T10:00:00+00:00", "reason": "ok", "counts": True}])

    assert frame.row(0) == ("rita", datetime(2026, 6, 1, 10, tzinfo=UTC), "ok", True, None)


def result(*, moved: bool, blocked: tuple[str, ...] = ()) -> PromotionResult:
    return PromotionResult(
        request_id="pr-1",
        model="loan_default",
        version="2",
        status=PromotionStatus.PROMOTED if moved else PromotionStatus.PENDING,
        approvals=("rita",) if not moved else ("rita", "raj"),
        required=2,
        alias_moved=moved,
        blocked_by=blocked,
    )


def test_outcomes_say_whether_the_alias_moved_and_why_not() -> None:
    assert (
        approval_outcome(result(moved=True)) == "Approved (2/2 approvals): loan_default version 2 is now the champion."
    )
    assert approval_outcome(result(moved=True), alias="challenger").endswith("version 2 is now the challenger.")
    waiting = approval_outcome(result(moved=False, blocked=("1 of 2 approvals",)))
    assert waiting == "Approved (1/2 approvals). The alias has not moved: 1 of 2 approvals."
    assert "will not be promoted" in rejection_outcome(result(moved=False))
