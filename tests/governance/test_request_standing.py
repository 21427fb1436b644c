"""Every request ends in a final state, and the buttons follow it: `request_standing`, `superseding`
and the refusals an approval meets once nothing it adds can move the alias."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from governance.promotion import (
    PromotionEventKind,
    RequestState,
    approval_expires_at,
    approval_refusal,
    fold_requests,
    rejection_refusal,
    request_standing,
    superseding,
)
from tests.governance.test_promotion import (
    APPROVED,
    FAILED_GATE,
    MEDIUM,
    PASSED_GATE,
    PROMOTED,
    REJECTED,
    T0,
    ev,
    request_after,
    requested,
    review,
)

WITHDRAWN = PromotionEventKind.WITHDRAWN
FORCED = PromotionEventKind.FORCED


@pytest.mark.parametrize(
    ("events", "gates", "state", "final", "counted"),
    [
        ((), (), RequestState.AWAITING_APPROVALS, False, ()),
        ((ev(APPROVED, "rita"),), (FAILED_GATE,), RequestState.AWAITING_APPROVALS, False, ("rita",)),
        ((ev(APPROVED, "rita"), ev(APPROVED, "raj")), (FAILED_GATE,), RequestState.BLOCKED, True, ("rita", "raj")),
        (
            (ev(APPROVED, "rita"), ev(APPROVED, "raj"), ev(PROMOTED, "raj")),
            (PASSED_GATE,),
            RequestState.PROMOTED,
            True,
            ("rita", "raj"),
        ),
        ((ev(REJECTED, "rita"),), (), RequestState.REJECTED, True, ()),
        ((ev(WITHDRAWN, "maya"),), (), RequestState.WITHDRAWN, True, ()),
        ((ev(FORCED, "ada"),), (), RequestState.AWAITING_REVIEW, False, ()),
    ],
)
def test_each_request_has_one_standing(events, gates, state, final, counted) -> None:
    standing = request_standing(request_after(*events), review=review(gates=gates))

    assert (standing.state, standing.final, standing.counted, standing.required) == (state, final, counted, 2)


def test_a_gate_failed_request_with_its_quorum_refuses_more_approvals_and_says_what_to_do() -> None:
    request = request_after(ev(APPROVED, "rita"), ev(APPROVED, "raj"))
    judged = review(gates=(FAILED_GATE,))

    expected = (
        "gate failed: roc_auc 0.7000 is more than 0.01 below the champion's 0.8000 on the same holdout: "
        "reject it, or ask for a new version"
    )
    assert request_standing(request, review=judged).explanation == expected
    assert approval_refusal(request, actor="rosa", review=judged) == expected
    assert rejection_refusal(request, actor="rosa", review=judged) is None  # the way out stays open
    assert approval_refusal(request, actor="rosa", review=review(gates=(PASSED_GATE,))) is None


def test_a_newer_request_for_the_same_model_and_alias_supersedes_a_pending_one() -> None:
    requests = fold_requests(
        [
            requested("r1"),
            dataclasses.replace(requested("r2", version="4"), at=T0 + timedelta(hours=1)),
            dataclasses.replace(requested("r3", version="5"), at=T0 + timedelta(hours=2)),
            ev(WITHDRAWN, "maya", request_id="r3", minute=150),
        ]
    )
    older, newer = requests["r1"], requests["r2"]

    assert superseding(older, requests.values()) == "r2"  # r3 was withdrawn: it supersedes nothing
    assert superseding(newer, requests.values()) is None
    judged = dataclasses.replace(review(), superseded_by="r2")
    standing = request_standing(older, review=judged)
    assert (standing.state, standing.final) == (RequestState.SUPERSEDED, True)
    assert approval_refusal(older, actor="rita", review=judged) == (
        "superseded by request r2 for the same model and alias: reject it"
    )


def test_an_approval_expires_after_the_tiers_time_limit() -> None:
    request = request_after(ev(APPROVED, "rita", minute=0))
    (vote,) = request.approvals

    assert approval_expires_at(vote, policy=MEDIUM) == T0 + timedelta(days=14)
    later = review(minute=14 * 24 * 60 + 1)
    assert request_standing(request, review=later).counted == ()
