"""Promotion requests: tiers, the subject digest, the event fold, who may review, which approvals
still count, the metric gate, the policy verdict and the MLflow tags."""

from __future__ import annotations

import dataclasses
import math
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import event, example, given, settings
from hypothesis import strategies as st

from governance.errors import PolicyViolation
from governance.promotion import (
    PRODUCTION_ALIAS,
    SHADOW_ALIAS,
    GateResult,
    PromotionEvent,
    PromotionEventKind,
    PromotionRequest,
    PromotionStatus,
    ReviewContext,
    RiskTier,
    Subject,
    TierPolicy,
    alias_policy,
    approval_refusal,
    approval_tags,
    awaits_review_by,
    counted_approvals,
    decide_approval,
    fold_requests,
    metric_gates,
    parse_alias,
    parse_tier,
    policy_verdict,
    rejection_refusal,
    request_refusal,
    tier_policy,
    vote_counts,
    withdrawal_refusal,
)
from governance.roles import AccessPolicy, GrantChange, GrantEvent, Role, fold_grants
from governance.tasks import ROC_AUC

T0 = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
MODEL, VERSION = "loan_default", "3"
REQUESTER, TRAINER = "maya", "tom"
SUBJECT, OTHER_SUBJECT = "subject-a", "subject-b"

REQUESTED, APPROVED, REJECTED, PROMOTED, FORCED, REVIEWED = (
    PromotionEventKind.REQUESTED,
    PromotionEventKind.APPROVED,
    PromotionEventKind.REJECTED,
    PromotionEventKind.PROMOTED,
    PromotionEventKind.FORCED,
    PromotionEventKind.REVIEWED,
)

ACCESS = AccessPolicy(
    {
        REQUESTER: frozenset({Role.MAKER, Role.REVIEWER}),
        TRAINER: frozenset({Role.MAKER, Role.REVIEWER}),
        "rita": frozenset({Role.REVIEWER}),
        "raj": frozenset({Role.REVIEWER, Role.AUDITOR}),
        "rosa": frozenset({Role.REVIEWER}),
        "ravi": frozenset({Role.REVIEWER}),
        "ana": frozenset({Role.ANALYST}),
        "ada": frozenset({Role.ADMIN}),
        "boss": frozenset({Role.ADMIN, Role.REVIEWER}),
    }
)
MEDIUM = tier_policy(RiskTier.MEDIUM)


def ev(kind, actor, *, minute=0, request_id="r1", version=VERSION, reason="looks good", subject=SUBJECT, roles=None):
    """An event as the pipeline writes it: votes carry the subject and the voter's roles then."""
    return PromotionEvent(
        request_id=request_id,
        kind=kind,
        model=MODEL,
        version=version,
        actor=actor,
        at=T0 + timedelta(minutes=minute),
        reason=reason,
        trainer=TRAINER,
        subject_hash=subject,
        actor_roles=ACCESS.roles_of(actor) if roles is None else frozenset(roles),
    )


def requested(request_id="r1", version=VERSION, *, subject=SUBJECT):
    return ev(REQUESTED, REQUESTER, request_id=request_id, version=version, reason="better AUC", subject=subject)


def request_after(*events):
    """The state of request r1 after its REQUESTED event and then `events`."""
    return fold_requests([requested(), *events])["r1"]


def review(*, access=ACCESS, policy=MEDIUM, subject=SUBJECT, minute=60, gates=()):
    return ReviewContext(
        access=access, policy=policy, subject_hash=subject, now=T0 + timedelta(minutes=minute), gates=gates
    )


def access_with(**changes):
    grants = dict(ACCESS.grants)
    grants.update({user: frozenset(roles) for user, roles in changes.items()})
    return AccessPolicy({u: r for u, r in grants.items() if r})


# --- tier_policy ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tier", "approvals", "max_drop", "ttl"),
    [
        (RiskTier.LOW, 1, 0.02, timedelta(days=30)),
        (RiskTier.MEDIUM, 2, 0.01, timedelta(days=14)),
        (RiskTier.HIGH, 3, 0.0, timedelta(days=7)),
    ],
)
def test_tier_policy_by_default(tier, approvals, max_drop, ttl):
    policy = tier_policy(tier)
    assert policy == TierPolicy(tier=tier, required_approvals=approvals, max_metric_drop=max_drop, approval_ttl=ttl)


@pytest.mark.parametrize(
    ("medium_approvals", "expected"),
    [
        pytest.param(1, (1, 1, 2), id="one-never-drops-low-below-one"),
        pytest.param(2, (1, 2, 3), id="default"),
        pytest.param(3, (2, 3, 4), id="stricter-setting-shifts-every-tier"),
    ],
)
def test_the_setting_anchors_the_scale_of_approvals(medium_approvals, expected):
    required = tuple(
        tier_policy(t, medium_approvals=medium_approvals).required_approvals
        for t in (RiskTier.LOW, RiskTier.MEDIUM, RiskTier.HIGH)
    )
    assert required == expected


def test_a_tier_policy_needs_at_least_one_approval():
    with pytest.raises(ValueError, match="at least 1"):
        TierPolicy(RiskTier.LOW, 0, 0.0, timedelta(days=1))


@pytest.mark.parametrize(
    ("text", "tier"), [("low", RiskTier.LOW), (" Medium ", RiskTier.MEDIUM), ("HIGH", RiskTier.HIGH)]
)
def test_parse_tier_accepts_names_in_any_case(text, tier):
    assert parse_tier(text) is tier


@pytest.mark.parametrize("text", ["critical", "", "hi"])
def test_parse_tier_refuses_unknown_names_in_one_line(text):
    with pytest.raises(PolicyViolation, match="expected low, medium or high") as caught:
        parse_tier(text)
    assert repr(text) in str(caught.value)


@pytest.mark.parametrize("tier", list(RiskTier))
def test_the_champion_alias_keeps_the_tiers_policy(tier):
    assert alias_policy(tier_policy(tier), alias=PRODUCTION_ALIAS) == tier_policy(tier)


@pytest.mark.parametrize("tier", list(RiskTier))
def test_a_challenger_needs_one_approval_and_no_gate_but_keeps_the_ttl(tier):
    policy = alias_policy(tier_policy(tier), alias=SHADOW_ALIAS)
    assert (policy.tier, policy.required_approvals, policy.approval_ttl) == (tier, 1, tier_policy(tier).approval_ttl)
    (gate,) = metric_gates(candidate={ROC_AUC.name: 0.0}, champion={ROC_AUC.name: 1.0}, policy=policy, metric=ROC_AUC)
    assert gate.passed


@pytest.mark.parametrize("alias", [PRODUCTION_ALIAS, SHADOW_ALIAS])
def test_parse_alias_accepts_the_known_aliases(alias):
    assert parse_alias(alias) == alias


@pytest.mark.parametrize("text", ["production", "Champion", ""])
def test_parse_alias_refuses_anything_else_naming_both(text):
    with pytest.raises(PolicyViolation, match="expected champion or challenger"):
        parse_alias(text)


# --- Subject.digest ---------------------------------------------------------------------------

BASE_SUBJECT = Subject(
    model=MODEL,
    version=VERSION,
    artifact_digest="a" * 64,
    train_table="raw/loans",
    train_table_version=4,
    evaluation_digest="e" * 64,
)


def test_the_subject_digest_is_a_stable_sha256_of_its_fields():
    digest = BASE_SUBJECT.digest()
    assert len(digest) == 64
    assert set(digest) <= set("0123456789abcdef")
    assert digest == dataclasses.replace(BASE_SUBJECT).digest()  # an equal subject built anew
    assert digest == BASE_SUBJECT.digest()


@pytest.mark.parametrize(
    "change",
    [
        {"model": "churn"},
        {"version": "4"},
        {"artifact_digest": "b" * 64},
        {"train_table": "raw/loans_v2"},
        {"train_table_version": 5},
        {"evaluation_digest": "f" * 64},
    ],
    ids=lambda change: next(iter(change)),
)
def test_the_subject_digest_changes_with_every_field(change):
    assert dataclasses.replace(BASE_SUBJECT, **change).digest() != BASE_SUBJECT.digest()


def test_the_subject_digest_does_not_confuse_fields_that_swap_text():
    # field boundaries are part of what is hashed: moving text from one field to the next changes it
    a = dataclasses.replace(BASE_SUBJECT, model="loan", version="_default3")
    b = dataclasses.replace(BASE_SUBJECT, model="loan_default", version="3")
    assert a.digest() != b.digest()


# --- fold_requests ----------------------------------------------------------------------------


def test_a_requested_event_opens_a_pending_request_bound_to_its_subject():
    request = fold_requests([requested()])["r1"]
    assert request.status is PromotionStatus.PENDING
    assert request.open
    assert (request.model, request.version, request.alias) == (MODEL, VERSION, PRODUCTION_ALIAS)
    assert (request.requester, request.trainer, request.reason) == (REQUESTER, TRAINER, "better AUC")
    assert request.subject_hash == SUBJECT
    assert request.requested_at == T0
    assert (request.approvals, request.rejection, request.decided_at, request.break_glass) == ((), None, None, False)


def test_approvals_keep_their_subject_and_the_roles_the_voter_held():
    request = request_after(
        ev(APPROVED, "rita", minute=1), ev(APPROVED, "raj", minute=2, reason="ok", subject=OTHER_SUBJECT)
    )
    assert request.approvers == ("rita", "raj")
    assert [v.at for v in request.approvals] == [T0 + timedelta(minutes=1), T0 + timedelta(minutes=2)]
    assert [v.subject_hash for v in request.approvals] == [SUBJECT, OTHER_SUBJECT]
    assert request.approvals[1].roles == frozenset({Role.REVIEWER, Role.AUDITOR})
    assert request.approvals[1].reason == "ok"
    assert request.status is PromotionStatus.PENDING
    assert request.subject_hash == SUBJECT  # a vote never rebinds the request


def test_promoted_event_closes_the_request():
    request = request_after(
        ev(APPROVED, "rita", minute=1), ev(APPROVED, "raj", minute=2), ev(PROMOTED, "raj", minute=2)
    )
    assert request.status is PromotionStatus.PROMOTED
    assert not request.open
    assert request.decided_at == T0 + timedelta(minutes=2)
    assert request.break_glass is False


def test_rejected_event_records_the_rejection_and_closes_the_request():
    request = request_after(ev(APPROVED, "rita", minute=1), ev(REJECTED, "raj", minute=5, reason="leaks target"))
    assert request.status is PromotionStatus.REJECTED
    assert not request.open
    assert request.rejection is not None
    assert (request.rejection.actor, request.rejection.reason) == ("raj", "leaks target")
    assert request.decided_at == T0 + timedelta(minutes=5)
    assert request.approvers == ("rita",)


def test_a_forced_promotion_stays_open_for_review_after_the_fact():
    forced = fold_requests(
        [ev(REQUESTED, "ada", reason="outage"), ev(FORCED, "ada", reason="outage"), ev(APPROVED, "rita", minute=3)]
    )["r1"]
    assert forced.status is PromotionStatus.BREAK_GLASS
    assert forced.break_glass is True
    assert forced.open
    assert forced.decided_at == T0
    assert forced.approvers == ("rita",)


def test_a_reviewed_break_glass_request_is_promoted_and_stays_flagged():
    reviewed = fold_requests(
        [
            ev(REQUESTED, "ada"),
            ev(FORCED, "ada"),
            ev(APPROVED, "rita", minute=3),
            ev(APPROVED, "raj", minute=4),
            ev(REVIEWED, "raj", minute=4),
        ]
    )["r1"]
    assert reviewed.status is PromotionStatus.PROMOTED
    assert reviewed.break_glass is True
    assert not reviewed.open
    assert reviewed.decided_at == T0 + timedelta(minutes=4)


def test_interleaved_requests_fold_independently():
    requests = fold_requests(
        [
            requested("r1", version="3"),
            requested("r2", version="4"),
            ev(APPROVED, "rita", request_id="r2"),
            ev(REJECTED, "raj", request_id="r1"),
            ev(APPROVED, "rosa", request_id="r2"),
        ]
    )
    assert set(requests) == {"r1", "r2"}
    assert requests["r1"].status is PromotionStatus.REJECTED
    assert requests["r1"].approvers == ()
    assert requests["r2"].status is PromotionStatus.PENDING
    assert requests["r2"].approvers == ("rita", "rosa")
    assert requests["r2"].version == "4"


def test_no_events_no_requests():
    assert fold_requests([]) == {}


@pytest.mark.parametrize("kind", [APPROVED, REJECTED, PROMOTED, FORCED, REVIEWED])
def test_an_event_before_its_request_is_an_error(kind):
    with pytest.raises(ValueError, match="has no request"):
        fold_requests([ev(kind, "rita")])


# --- request_refusal --------------------------------------------------------------------------


def _open(*events, request_id="r1", version=VERSION):
    return fold_requests([requested(request_id, version=version), *events])[request_id]


@pytest.mark.parametrize(
    ("open_requests", "current_version", "expected"),
    [
        pytest.param([], VERSION, "already holds the champion alias", id="already-champion"),
        pytest.param([_open()], None, "already has a pending champion request r1", id="duplicate-pending"),
        pytest.param(
            [_open(request_id="r7")], "2", "already has a pending champion request r7", id="names-the-pending-id"
        ),
        pytest.param([], None, None, id="first-request-no-champion"),
        pytest.param([], "2", None, id="another-version-is-champion"),
        pytest.param([_open(version="4")], "2", None, id="pending-is-for-another-version"),
        pytest.param([_open(ev(REJECTED, "rita"))], "2", None, id="earlier-request-was-rejected"),
        pytest.param([_open(ev(PROMOTED, "rita"))], "2", None, id="earlier-request-promoted-then-replaced"),
    ],
)
def test_request_refusal(open_requests, current_version, expected):
    refusal = request_refusal(
        model=MODEL, version=VERSION, open_requests=open_requests, current_version=current_version
    )
    if expected is None:
        assert refusal is None
    else:
        assert refusal is not None
        assert expected in refusal


@pytest.mark.parametrize(
    ("open_requests", "current", "champion", "expected"),
    [
        pytest.param([], None, VERSION, "is the champion; a challenger must be another version", id="champion"),
        pytest.param([], VERSION, "2", "already holds the challenger alias", id="already-challenger"),
        pytest.param([_open()], None, "2", None, id="a-pending-champion-request-does-not-block"),
        pytest.param([], None, "2", None, id="another-version-is-champion"),
    ],
)
def test_request_refusal_for_the_challenger(open_requests, current, champion, expected):
    refusal = request_refusal(
        model=MODEL,
        version=VERSION,
        open_requests=open_requests,
        current_version=current,
        alias=SHADOW_ALIAS,
        champion=champion,
    )
    assert refusal is None if expected is None else expected in refusal


def test_a_pending_challenger_request_does_not_block_a_champion_request():
    challenger = fold_requests([dataclasses.replace(requested(), alias=SHADOW_ALIAS)])["r1"]
    assert challenger.alias == SHADOW_ALIAS
    assert request_refusal(model=MODEL, version=VERSION, open_requests=[challenger], current_version="2") is None


def test_request_refusal_ignores_pending_requests_of_other_models():
    other = PromotionRequest(
        request_id="x1",
        model="churn",
        version=VERSION,
        alias=PRODUCTION_ALIAS,
        requester=REQUESTER,
        trainer=TRAINER,
        reason="",
        requested_at=T0,
        status=PromotionStatus.PENDING,
    )
    assert request_refusal(model=MODEL, version=VERSION, open_requests=[other], current_version="2") is None


# --- approval_refusal / rejection_refusal -----------------------------------------------------

PENDING = request_after()
APPROVED_BY_RITA = request_after(ev(APPROVED, "rita"))
REJECTED_REQ = request_after(ev(REJECTED, "raj"))
PROMOTED_REQ = request_after(ev(APPROVED, "rita"), ev(APPROVED, "raj"), ev(PROMOTED, "raj"))
BREAK_GLASS_REQ = fold_requests([ev(REQUESTED, "ada"), ev(FORCED, "ada")])["r1"]


@pytest.mark.parametrize(
    ("request_", "actor", "why"),
    [
        pytest.param(PENDING, REQUESTER, "requested this promotion", id="requester"),
        pytest.param(PENDING, TRAINER, "trained loan_default version 3", id="trainer"),
        pytest.param(PENDING, "ana", "does not hold the reviewer role", id="non-reviewer"),
        pytest.param(PENDING, "ada", "does not hold the reviewer role", id="plain-admin"),
        pytest.param(PENDING, "mallory", "does not hold the reviewer role", id="unknown-user"),
        pytest.param(PENDING, "boss", "is an admin", id="admin-who-is-also-reviewer"),
        pytest.param(APPROVED_BY_RITA, "rita", "has already approved request r1", id="already-counted"),
        pytest.param(REJECTED_REQ, "rita", "is rejected, not open for review", id="rejected"),
        pytest.param(PROMOTED_REQ, "rosa", "is promoted, not open for review", id="promoted"),
    ],
)
def test_approval_refusal_says_why(request_, actor, why):
    refusal = approval_refusal(request_, actor=actor, review=review())
    assert refusal is not None
    assert why in refusal
    assert actor in refusal or request_.request_id in refusal


@pytest.mark.parametrize(
    ("request_", "actor"),
    [
        pytest.param(PENDING, "rita", id="first-approval"),
        pytest.param(APPROVED_BY_RITA, "raj", id="second-distinct-approval"),
        pytest.param(BREAK_GLASS_REQ, "rita", id="after-the-fact-review"),
    ],
)
def test_approval_refusal_lets_an_eligible_reviewer_approve(request_, actor):
    assert approval_refusal(request_, actor=actor, review=review()) is None


def test_the_admin_who_forced_a_promotion_cannot_review_it_even_as_a_reviewer():
    refusal = approval_refusal(
        BREAK_GLASS_REQ, actor="ada", review=review(access=access_with(ada={Role.ADMIN, Role.REVIEWER}))
    )
    assert refusal is not None
    assert "is an admin" in refusal


TTL_MINUTES = MEDIUM.approval_ttl // timedelta(minutes=1)


@pytest.mark.parametrize(
    ("minute", "subject", "access"),
    [
        pytest.param(60, OTHER_SUBJECT, ACCESS, id="subject-changed"),
        pytest.param(60, SUBJECT, access_with(rita={Role.REVIEWER, Role.ANALYST}), id="roles-changed"),
        pytest.param(TTL_MINUTES + 1, SUBJECT, ACCESS, id="expired"),
    ],
)
def test_a_reviewer_whose_approval_no_longer_counts_may_approve_again(minute, subject, access):
    context = review(access=access, subject=subject, minute=minute)
    assert counted_approvals(APPROVED_BY_RITA, review=context) == ()
    assert approval_refusal(APPROVED_BY_RITA, actor="rita", review=context) is None
    again = request_after(
        ev(APPROVED, "rita"), ev(APPROVED, "rita", minute=minute, subject=subject, roles=access.roles_of("rita"))
    )
    assert [vote_counts(v, request=again, review=context) for v in again.approvals] == [False, True]
    assert counted_approvals(again, review=context) == ("rita",)  # counted once, not twice
    assert approval_refusal(again, actor="rita", review=context) == "rita has already approved request r1"


@pytest.mark.parametrize(
    ("actor", "request_", "allowed"),
    [
        ("rita", PENDING, True),
        ("rita", APPROVED_BY_RITA, True),  # an approver may still change their mind and reject
        ("rita", BREAK_GLASS_REQ, True),  # the after-the-fact review may reject a forced promotion
        (REQUESTER, PENDING, False),
        (TRAINER, PENDING, False),
        ("boss", PENDING, False),
        ("ana", PENDING, False),
        ("rita", REJECTED_REQ, False),
        ("rita", PROMOTED_REQ, False),
    ],
)
def test_rejection_refusal_follows_the_reviewer_rules(actor, request_, allowed):
    assert (rejection_refusal(request_, actor=actor, review=review()) is None) is allowed


# --- counted_approvals / vote_counts ----------------------------------------------------------


@pytest.mark.parametrize(
    ("votes", "context", "counted"),
    [
        pytest.param([ev(APPROVED, "rita"), ev(APPROVED, "raj")], review(), ("rita", "raj"), id="both-count"),
        pytest.param(
            [ev(APPROVED, "rita", subject=OTHER_SUBJECT), ev(APPROVED, "raj")], review(), ("raj",), id="other-subject"
        ),
        pytest.param(
            [ev(APPROVED, "rita"), ev(APPROVED, "raj")], review(subject=OTHER_SUBJECT), (), id="subject-changed-since"
        ),
        pytest.param(
            [ev(APPROVED, "rita"), ev(APPROVED, "raj")],
            review(access=access_with(raj={Role.REVIEWER})),
            ("rita",),
            id="a-role-was-dropped",
        ),
        pytest.param(
            [ev(APPROVED, "rita"), ev(APPROVED, "raj")],
            review(access=access_with(rita={Role.REVIEWER, Role.MAKER})),
            ("raj",),
            id="a-role-was-added",
        ),
        pytest.param(
            [ev(APPROVED, "rita", roles={Role.REVIEWER, Role.ANALYST})],
            review(),
            (),
            id="roles-then-differ-from-roles-now",
        ),
        pytest.param(
            [ev(APPROVED, "rita"), ev(APPROVED, "raj")],
            review(access=access_with(rita={Role.REVIEWER, Role.ADMIN})),
            ("raj",),
            id="became-admin",
        ),
        pytest.param(
            [ev(APPROVED, "rita"), ev(APPROVED, "raj")], review(access=access_with(rita=set())), ("raj",), id="revoked"
        ),
        pytest.param(
            [
                ev(APPROVED, "rita"),
                ev(APPROVED, "rita", minute=1),
                ev(APPROVED, REQUESTER),
                ev(APPROVED, TRAINER),
                ev(APPROVED, "boss"),
                ev(APPROVED, "ada"),
                ev(APPROVED, "ana"),
                ev(APPROVED, "raj"),
            ],
            review(),
            ("rita", "raj"),
            id="ineligible-and-duplicate-votes-in-the-log",
        ),
        pytest.param(
            [ev(APPROVED, "rita", subject=OTHER_SUBJECT), ev(APPROVED, "rita", minute=5)],
            review(),
            ("rita",),
            id="the-later-vote-on-the-current-subject-counts",
        ),
    ],
)
def test_counted_approvals(votes, context, counted):
    assert counted_approvals(request_after(*votes), review=context) == counted


def test_restoring_the_roles_a_vote_was_given_with_makes_it_count_again():
    request = APPROVED_BY_RITA
    assert counted_approvals(request, review=review(access=access_with(rita={Role.REVIEWER, Role.ANALYST}))) == ()
    assert counted_approvals(request, review=review(access=access_with(rita={Role.REVIEWER}))) == ("rita",)


@pytest.mark.parametrize("tier", list(RiskTier))
def test_an_approval_counts_up_to_exactly_the_tiers_ttl(tier):
    policy = tier_policy(tier)
    request = request_after(ev(APPROVED, "rita"))
    at = request.approvals[0].at

    def counted_at(now):
        return counted_approvals(
            request, review=ReviewContext(access=ACCESS, policy=policy, subject_hash=SUBJECT, now=now)
        )

    assert counted_at(at) == ("rita",)
    assert counted_at(at + policy.approval_ttl) == ("rita",)
    assert counted_at(at + policy.approval_ttl + timedelta(microseconds=1)) == ()


# --- metric_gates -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("candidate", "champion"),
    [
        pytest.param({ROC_AUC.name: 0.5}, None, id="no-champion"),
        pytest.param({ROC_AUC.name: 0.5}, {"accuracy": 0.9}, id="champion-without-the-metric"),
        pytest.param({"accuracy": 0.5}, {ROC_AUC.name: 0.9}, id="candidate-without-the-metric"),
    ],
)
def test_no_gate_without_a_comparable_champion(candidate, champion):
    assert metric_gates(candidate=candidate, champion=champion, policy=MEDIUM, metric=ROC_AUC) == ()


@pytest.mark.parametrize("tier", list(RiskTier))
def test_the_gate_passes_at_exactly_the_allowed_drop_and_fails_just_below(tier):
    policy = tier_policy(tier)
    champion = 0.8125
    at_limit = champion - policy.max_metric_drop
    (gate,) = metric_gates(
        candidate={ROC_AUC.name: at_limit}, champion={ROC_AUC.name: champion}, policy=policy, metric=ROC_AUC
    )
    assert gate == GateResult(ROC_AUC.name, at_limit, champion, policy.max_metric_drop)
    assert gate.passed
    (below,) = metric_gates(
        candidate={ROC_AUC.name: math.nextafter(at_limit, 0.0)},
        champion={ROC_AUC.name: champion},
        policy=policy,
        metric=ROC_AUC,
    )
    assert not below.passed


def test_a_better_candidate_passes_the_gate():
    (gate,) = metric_gates(
        candidate={ROC_AUC.name: 0.9}, champion={ROC_AUC.name: 0.8}, policy=tier_policy(RiskTier.HIGH), metric=ROC_AUC
    )
    assert gate.passed


# --- policy_verdict ---------------------------------------------------------------------------

FAILED_GATE = GateResult(ROC_AUC.name, 0.70, 0.80, 0.01)
PASSED_GATE = GateResult(ROC_AUC.name, 0.80, 0.80, 0.01)


def test_the_verdict_is_promotable_once_quorum_and_gates_hold():
    verdict = policy_verdict(
        request_after(ev(APPROVED, "rita"), ev(APPROVED, "raj")), review=review(gates=(PASSED_GATE,))
    )
    assert verdict.promotable
    assert verdict.reasons == ()
    assert (verdict.required, verdict.counted, verdict.gates, verdict.subject_changed) == (
        2,
        ("rita", "raj"),
        (PASSED_GATE,),
        False,
    )


@pytest.mark.parametrize(
    ("request_", "context", "reasons"),
    [
        pytest.param(
            PENDING, review(), ["0 of 2 approvals from distinct eligible reviewers (medium risk tier)"], id="no-votes"
        ),
        pytest.param(
            APPROVED_BY_RITA,
            review(policy=tier_policy(RiskTier.HIGH)),
            ["1 of 3 approvals from distinct eligible reviewers (high risk tier)"],
            id="high-tier",
        ),
        pytest.param(
            request_after(ev(APPROVED, "rita"), ev(APPROVED, "raj")),
            review(gates=(FAILED_GATE,)),
            ["roc_auc 0.7000 is more than 0.01 below the champion's 0.8000 on the same holdout"],
            id="gate",
        ),
        pytest.param(
            APPROVED_BY_RITA,
            review(subject=OTHER_SUBJECT, gates=(FAILED_GATE,)),
            [
                "0 of 2 approvals from distinct eligible reviewers (medium risk tier)",
                "roc_auc 0.7000 is more than 0.01 below the champion's 0.8000 on the same holdout",
            ],
            id="everything-at-once",
        ),
    ],
)
def test_the_verdict_says_every_reason_the_alias_may_not_move(request_, context, reasons):
    verdict = policy_verdict(request_, review=context)
    assert list(verdict.reasons) == reasons
    assert not verdict.promotable
    assert verdict.subject_changed is (context.subject_hash != request_.subject_hash)


def test_a_changed_subject_reopens_the_request_and_a_fresh_quorum_on_it_promotes():
    fresh = request_after(ev(APPROVED, "rita", subject=OTHER_SUBJECT), ev(APPROVED, "raj", subject=OTHER_SUBJECT))
    verdict = policy_verdict(fresh, review=review(subject=OTHER_SUBJECT))
    assert verdict.subject_changed
    assert verdict.promotable
    stale = policy_verdict(APPROVED_BY_RITA, review=review(subject=OTHER_SUBJECT))
    assert stale.counted == ()


def test_an_extra_approver_is_counted_once():
    verdict = policy_verdict(APPROVED_BY_RITA, review=review(), extra_approver="rita")
    assert verdict.counted == ("rita",)
    verdict = policy_verdict(APPROVED_BY_RITA, review=review(), extra_approver="raj")
    assert verdict.counted == ("rita", "raj")
    assert verdict.promotable


# --- decide_approval --------------------------------------------------------------------------

REVIEWERS = ("rita", "raj", "rosa", "ravi")


@pytest.mark.parametrize(("tier", "required"), [(RiskTier.LOW, 1), (RiskTier.MEDIUM, 2), (RiskTier.HIGH, 3)])
def test_each_tier_promotes_at_exactly_its_quorum(tier, required):
    context = review(policy=tier_policy(tier))
    events = []
    for i, actor in enumerate(REVIEWERS[:required], start=1):
        verdict = decide_approval(request_after(*events), actor=actor, review=context)
        assert verdict.counted == REVIEWERS[:i]
        assert verdict.required == required
        assert verdict.promotable is (i == required)
        events.append(ev(APPROVED, actor, minute=i))


@pytest.mark.parametrize("actor", [REQUESTER, TRAINER, "ana", "ada", "boss", "mallory"])
def test_decide_approval_raises_the_refusal(actor):
    refusal = approval_refusal(PENDING, actor=actor, review=review())
    assert refusal is not None
    with pytest.raises(PolicyViolation) as caught:
        decide_approval(PENDING, actor=actor, review=review())
    assert str(caught.value) == refusal


def test_the_same_reviewer_twice_is_a_policy_violation():
    with pytest.raises(PolicyViolation, match="rita has already approved request r1"):
        decide_approval(APPROVED_BY_RITA, actor="rita", review=review(policy=tier_policy(RiskTier.HIGH)))


def test_decide_approval_on_a_changed_subject_counts_the_vote_but_is_not_promotable():
    verdict = decide_approval(APPROVED_BY_RITA, actor="raj", review=review(subject=OTHER_SUBJECT))
    assert verdict.counted == ("raj",)
    assert verdict.subject_changed
    assert not verdict.promotable


# --- approval_tags ----------------------------------------------------------------------------


def test_approval_tags_describe_the_counted_state():
    tags = approval_tags(APPROVED_BY_RITA, verdict=policy_verdict(APPROVED_BY_RITA, review=review()))
    assert tags == {
        "mlgov.request_id": "r1",
        "mlgov.approval_status": "pending",
        "mlgov.approvals": "1/2",
        "mlgov.approved_by": "rita",
        "mlgov.requested_by": REQUESTER,
        "mlgov.break_glass": "false",
    }


def test_approval_tags_of_a_promoted_request_with_a_revoked_approver():
    verdict = policy_verdict(
        PROMOTED_REQ,
        review=review(access=access_with(raj={Role.AUDITOR}), policy=tier_policy(RiskTier.HIGH)),
    )
    tags = approval_tags(PROMOTED_REQ, verdict=verdict)
    assert tags["mlgov.approval_status"] == "promoted"
    assert tags["mlgov.approvals"] == "1/3"
    assert tags["mlgov.approved_by"] == "rita"


def test_approval_tags_flag_a_break_glass_request():
    tags = approval_tags(BREAK_GLASS_REQ, verdict=policy_verdict(BREAK_GLASS_REQ, review=review()))
    assert tags["mlgov.break_glass"] == "true"
    assert tags["mlgov.approval_status"] == "break_glass"
    assert tags["mlgov.requested_by"] == "ada"
    assert (tags["mlgov.approvals"], tags["mlgov.approved_by"]) == ("0/2", "")


# --- property: no promotion without a quorum of distinct eligible reviewers -------------------

POOL = (REQUESTER, TRAINER, "u1", "u2", "u3", "u4")
# Biased towards plain reviewers so that quorums are actually reached; the rest covers every way
# of being ineligible (no reviewer role, admin, requester or trainer) plus unrelated extra roles.
role_sets = st.one_of(
    st.just(frozenset({Role.REVIEWER})),
    st.sampled_from([frozenset({Role.REVIEWER, Role.AUDITOR}), frozenset({Role.REVIEWER, Role.MAKER})]),
    st.frozensets(st.sampled_from(list(Role)), max_size=3),
)
ALL_REVIEWERS = {REQUESTER: frozenset({Role.MAKER}), TRAINER: frozenset({Role.MAKER})} | dict.fromkeys(
    POOL[2:], frozenset({Role.REVIEWER})
)


def eligible(access, user):
    """An independent statement of who may count towards the quorum."""
    roles = access.roles_of(user)
    return Role.REVIEWER in roles and Role.ADMIN not in roles and user not in (REQUESTER, TRAINER)


def still_counting(request, *, access, subject, now, policy):
    """An independent statement of which approvers count: eligible now, and each vote's subject,
    roles and age still what they were when it was given."""
    return {
        v.actor
        for v in request.approvals
        if eligible(access, v.actor)
        and v.subject_hash == subject
        and v.roles == access.roles_of(v.actor)
        and now - v.at <= policy.approval_ttl
    }


# Requester and trainer can never count, so role changes target the other users.
ROLE_CHANGE = st.tuples(
    st.sampled_from(POOL[2:]), st.sampled_from([Role.REVIEWER, Role.ADMIN, Role.ANALYST]), st.sampled_from(GrantChange)
)
APPROVE = st.tuples(st.just("approve"), st.sampled_from(POOL))
STEP = st.one_of(
    APPROVE,
    APPROVE,
    APPROVE,  # 3 in 6 steps try to approve
    st.tuples(st.just("access"), ROLE_CHANGE),
    st.tuples(st.just("subject"), st.sampled_from([SUBJECT, OTHER_SUBJECT])),
    st.tuples(st.just("wait"), st.sampled_from([timedelta(hours=1), timedelta(days=8), timedelta(days=15)])),
)


@settings(max_examples=300, deadline=None, database=None)
@given(
    initial=st.fixed_dictionaries(dict.fromkeys(POOL, role_sets)),
    tier=st.sampled_from(list(RiskTier)),
    steps=st.lists(STEP, min_size=4, max_size=24),
)
# The cases that matter most, always run: an approval stops counting before the quorum is reached.
@example(
    initial=ALL_REVIEWERS,
    tier=RiskTier.MEDIUM,
    steps=[("approve", "u1"), ("access", ("u1", Role.ANALYST, GrantChange.GRANT)), ("approve", "u2")],
)
@example(
    initial=ALL_REVIEWERS,
    tier=RiskTier.HIGH,
    steps=[
        ("approve", "u1"),
        ("approve", "u2"),
        ("access", ("u2", Role.ADMIN, GrantChange.GRANT)),
        ("approve", "u3"),
        ("approve", "u4"),
    ],
)
@example(
    initial=ALL_REVIEWERS,
    tier=RiskTier.MEDIUM,
    steps=[("approve", "u1"), ("subject", OTHER_SUBJECT), ("approve", "u2"), ("approve", "u3")],
)
@example(
    initial=ALL_REVIEWERS,
    tier=RiskTier.MEDIUM,
    steps=[("approve", "u1"), ("wait", timedelta(days=15)), ("approve", "u2"), ("approve", "u1")],
)
def test_random_reviews_never_promote_without_a_quorum_under_the_context_in_force(initial, tier, steps):
    policy = tier_policy(tier)
    grants = [GrantEvent(user, role, GrantChange.GRANT) for user, roles in initial.items() for role in roles]
    events = [requested()]
    subject, now = SUBJECT, T0
    promotions = 0

    for kind, arg in steps:
        now += timedelta(minutes=1)
        if kind == "access":
            user, role, change = arg
            grants.append(GrantEvent(user, role, change))
            continue
        if kind == "subject":
            subject = arg
            continue
        if kind == "wait":
            now += arg
            continue
        access = fold_grants(grants)
        context = ReviewContext(access=access, policy=policy, subject_hash=subject, now=now)
        request = fold_requests(events)["r1"]
        before = still_counting(request, access=access, subject=subject, now=now, policy=policy)
        may_approve = request.open and eligible(access, arg) and arg not in before
        try:
            verdict = decide_approval(request, actor=arg, review=context)
        except PolicyViolation:
            assert not may_approve, f"{arg} may approve but was refused"
            continue
        assert may_approve, f"{arg} was allowed to approve but should not be"
        minute = (now - T0) // timedelta(minutes=1)
        events.append(ev(APPROVED, arg, minute=minute, subject=subject, roles=access.roles_of(arg)))
        quorum = still_counting(fold_requests(events)["r1"], access=access, subject=subject, now=now, policy=policy)
        assert set(verdict.counted) == quorum
        assert len(verdict.counted) == len(quorum), "an approver was counted twice"
        # Safety and liveness: promotable exactly when enough distinct eligible reviewers approved
        # the subject as it is now (a changed subject reopens the request; it does not block it).
        assert verdict.promotable is (len(quorum) >= policy.required_approvals)
        if verdict.promotable:
            events.append(ev(PROMOTED, arg, minute=minute))
            promotions += 1

    final = fold_requests(events)["r1"]
    event(f"promoted: {promotions == 1}")
    assert promotions <= 1
    assert (final.status is PromotionStatus.PROMOTED) is (promotions == 1)


# --- withdrawal_refusal / awaits_review_by -----------------------------------------------------

WITHDRAWN = PromotionEventKind.WITHDRAWN
WITHDRAWN_REQ = request_after(ev(APPROVED, "rita"), ev(WITHDRAWN, REQUESTER, minute=3, reason="wrong data"))


def test_a_withdrawn_request_is_closed_with_the_withdrawal():
    assert WITHDRAWN_REQ.status is PromotionStatus.WITHDRAWN
    assert not WITHDRAWN_REQ.open
    assert WITHDRAWN_REQ.withdrawal is not None
    assert (WITHDRAWN_REQ.withdrawal.actor, WITHDRAWN_REQ.withdrawal.reason) == (REQUESTER, "wrong data")
    assert WITHDRAWN_REQ.decided_at == T0 + timedelta(minutes=3)
    assert (
        approval_refusal(WITHDRAWN_REQ, actor="raj", review=review()) == "request r1 is withdrawn, not open for review"
    )


def test_a_withdrawn_request_no_longer_blocks_a_new_one():
    assert request_refusal(model=MODEL, version=VERSION, open_requests=[WITHDRAWN_REQ], current_version="2") is None


@pytest.mark.parametrize(
    ("request_", "actor", "why"),
    [
        pytest.param(PENDING, REQUESTER, None, id="requester-while-pending"),
        pytest.param(APPROVED_BY_RITA, REQUESTER, None, id="requester-after-an-approval"),
        pytest.param(PENDING, TRAINER, "only maya, who requested it, may withdraw request r1", id="another-maker"),
        pytest.param(PENDING, "rita", "rita does not hold the maker role", id="reviewer"),
        pytest.param(PENDING, "ada", "ada does not hold the maker role", id="admin"),
        pytest.param(REJECTED_REQ, REQUESTER, "request r1 is rejected, not pending", id="rejected"),
        pytest.param(PROMOTED_REQ, REQUESTER, "request r1 is promoted, not pending", id="promoted"),
        pytest.param(WITHDRAWN_REQ, REQUESTER, "request r1 is withdrawn, not pending", id="withdrawn-twice"),
    ],
)
def test_withdrawal_refusal(request_, actor, why):
    assert withdrawal_refusal(request_, actor=actor, access=ACCESS) == why


def test_a_break_glass_promotion_cannot_be_withdrawn():
    forced = fold_requests([ev(REQUESTED, REQUESTER), ev(FORCED, "ada")])["r1"]
    assert withdrawal_refusal(forced, actor=REQUESTER, access=ACCESS) == "request r1 is break-glass, not pending"


def test_a_maker_who_lost_the_role_may_not_withdraw():
    assert withdrawal_refusal(PENDING, actor=REQUESTER, access=access_with(maya={Role.REVIEWER})) == (
        "maya does not hold the maker role"
    )


@pytest.mark.parametrize(
    ("request_", "actor", "waiting"),
    [
        pytest.param(PENDING, "rita", True, id="eligible-reviewer"),
        pytest.param(APPROVED_BY_RITA, "rita", False, id="already-approved"),
        pytest.param(APPROVED_BY_RITA, "raj", True, id="another-reviewer"),
        pytest.param(PENDING, REQUESTER, False, id="own-request"),
        pytest.param(PENDING, TRAINER, False, id="trained-it"),
        pytest.param(PENDING, "boss", False, id="admin-reviewer"),
        pytest.param(PENDING, "ana", False, id="not-a-reviewer"),
        pytest.param(BREAK_GLASS_REQ, "rita", True, id="after-the-fact-review"),
        pytest.param(REJECTED_REQ, "rita", False, id="rejected"),
        pytest.param(WITHDRAWN_REQ, "raj", False, id="withdrawn"),
    ],
)
def test_awaits_review_by(request_, actor, waiting):
    assert awaits_review_by(request_, actor=actor, access=ACCESS) is waiting
