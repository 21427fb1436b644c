"""Promotion requests: the event fold, who may request or approve, quorum and the MLflow tags."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from governance.errors import PolicyViolation
from governance.promotion import (
    PRODUCTION_ALIAS,
    ApprovalPolicy,
    PromotionEvent,
    PromotionEventKind,
    PromotionRequest,
    PromotionStatus,
    approval_refusal,
    approval_tags,
    counted_approvals,
    decide_approval,
    fold_requests,
    rejection_refusal,
    request_refusal,
)
from governance.roles import AccessPolicy, GrantChange, GrantEvent, Role, fold_grants

T0 = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
MODEL, VERSION = "loan_default", "3"
REQUESTER, TRAINER = "maya", "tom"

REQUESTED, APPROVED, REJECTED, PROMOTED = (
    PromotionEventKind.REQUESTED,
    PromotionEventKind.APPROVED,
    PromotionEventKind.REJECTED,
    PromotionEventKind.PROMOTED,
)


def ev(kind, actor, *, minute=0, request_id="r1", version=VERSION, reason="looks good"):
    return PromotionEvent(
        request_id=request_id,
        kind=kind,
        model=MODEL,
        version=version,
        actor=actor,
        at=T0 + timedelta(minutes=minute),
        reason=reason,
        trainer=TRAINER,
    )


def requested(request_id="r1", version=VERSION):
    return ev(REQUESTED, REQUESTER, request_id=request_id, version=version, reason="better AUC")


def request_after(*events):
    """The state of request r1 after its REQUESTED event and then `events`."""
    return fold_requests([requested(), *events])["r1"]


ACCESS = AccessPolicy(
    {
        REQUESTER: frozenset({Role.MAKER, Role.REVIEWER}),
        TRAINER: frozenset({Role.MAKER, Role.REVIEWER}),
        "rita": frozenset({Role.REVIEWER}),
        "raj": frozenset({Role.REVIEWER, Role.AUDITOR}),
        "rosa": frozenset({Role.REVIEWER}),
        "ana": frozenset({Role.ANALYST}),
        "ada": frozenset({Role.ADMIN}),
        "boss": frozenset({Role.ADMIN, Role.REVIEWER}),
    }
)
TWO = ApprovalPolicy(required_approvals=2)


# --- fold_requests ----------------------------------------------------------------------------


def test_a_requested_event_opens_a_pending_request():
    request = fold_requests([requested()])["r1"]
    assert request.status is PromotionStatus.PENDING
    assert (request.model, request.version, request.alias) == (MODEL, VERSION, PRODUCTION_ALIAS)
    assert (request.requester, request.trainer, request.reason) == (REQUESTER, TRAINER, "better AUC")
    assert request.requested_at == T0
    assert request.approvals == ()
    assert request.rejection is None
    assert request.decided_at is None


def test_approvals_accumulate_in_order_without_deciding():
    request = request_after(ev(APPROVED, "rita", minute=1), ev(APPROVED, "raj", minute=2, reason="ok"))
    assert request.approvers == ("rita", "raj")
    assert [v.at for v in request.approvals] == [T0 + timedelta(minutes=1), T0 + timedelta(minutes=2)]
    assert request.approvals[1].reason == "ok"
    assert request.status is PromotionStatus.PENDING
    assert request.decided_at is None


def test_promoted_event_decides_the_request():
    request = request_after(
        ev(APPROVED, "rita", minute=1), ev(APPROVED, "raj", minute=2), ev(PROMOTED, "raj", minute=2)
    )
    assert request.status is PromotionStatus.PROMOTED
    assert request.decided_at == T0 + timedelta(minutes=2)
    assert request.approvers == ("rita", "raj")


def test_rejected_event_records_the_rejection():
    request = request_after(ev(APPROVED, "rita", minute=1), ev(REJECTED, "raj", minute=5, reason="leaks target"))
    assert request.status is PromotionStatus.REJECTED
    assert request.rejection is not None
    assert (request.rejection.actor, request.rejection.reason) == ("raj", "leaks target")
    assert request.decided_at == T0 + timedelta(minutes=5)
    assert request.approvers == ("rita",)


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


@pytest.mark.parametrize("kind", [APPROVED, REJECTED, PROMOTED])
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
        pytest.param([_open()], None, "already has a pending request r1", id="duplicate-pending"),
        pytest.param([_open(request_id="r7")], "2", "already has a pending request r7", id="duplicate-names-its-id"),
        pytest.param([], None, None, id="first-request-no-champion"),
        pytest.param([], "2", None, id="another-version-is-champion"),
        pytest.param([_open(version="4")], "2", None, id="pending-is-for-another-version"),
        pytest.param([_open(ev(REJECTED, "rita"))], "2", None, id="earlier-request-was-rejected"),
        pytest.param([_open(ev(PROMOTED, "rita"))], "2", None, id="earlier-request-promoted-then-replaced"),
    ],
)
def test_request_refusal(open_requests, current_version, expected):
    refusal = request_refusal(
        model=MODEL, version=VERSION, requester=REQUESTER, open_requests=open_requests, current_version=current_version
    )
    if expected is None:
        assert refusal is None
    else:
        assert refusal is not None
        assert expected in refusal


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
    assert (
        request_refusal(model=MODEL, version=VERSION, requester=REQUESTER, open_requests=[other], current_version="2")
        is None
    )


# --- approval_refusal / rejection_refusal -----------------------------------------------------

PENDING = request_after()
APPROVED_BY_RITA = request_after(ev(APPROVED, "rita"))
REJECTED_REQ = request_after(ev(REJECTED, "raj"))
PROMOTED_REQ = request_after(ev(APPROVED, "rita"), ev(APPROVED, "raj"), ev(PROMOTED, "raj"))


@pytest.mark.parametrize(
    ("request_", "actor", "why"),
    [
        pytest.param(PENDING, REQUESTER, "requested this promotion", id="requester"),
        pytest.param(PENDING, TRAINER, "trained loan_default version 3", id="trainer"),
        pytest.param(PENDING, "ana", "does not hold the reviewer role", id="non-reviewer"),
        pytest.param(PENDING, "ada", "does not hold the reviewer role", id="plain-admin"),
        pytest.param(PENDING, "mallory", "does not hold the reviewer role", id="unknown-user"),
        pytest.param(PENDING, "boss", "is an admin", id="admin-who-is-also-reviewer"),
        pytest.param(APPROVED_BY_RITA, "rita", "has already approved request r1", id="already-approved"),
        pytest.param(REJECTED_REQ, "rita", "is rejected, not pending", id="rejected"),
        pytest.param(PROMOTED_REQ, "rosa", "is promoted, not pending", id="promoted"),
    ],
)
def test_approval_refusal_says_why(request_, actor, why):
    refusal = approval_refusal(request_, actor=actor, access=ACCESS)
    assert refusal is not None
    assert why in refusal
    assert actor in refusal or request_.request_id in refusal


@pytest.mark.parametrize(
    ("request_", "actor"),
    [
        pytest.param(PENDING, "rita", id="first-approval"),
        pytest.param(APPROVED_BY_RITA, "raj", id="second-distinct-approval"),
    ],
)
def test_approval_refusal_lets_an_eligible_reviewer_approve(request_, actor):
    assert approval_refusal(request_, actor=actor, access=ACCESS) is None


@pytest.mark.parametrize(
    ("actor", "request_", "allowed"),
    [
        ("rita", PENDING, True),
        ("rita", APPROVED_BY_RITA, True),  # an approver may still change their mind and reject
        (REQUESTER, PENDING, False),
        (TRAINER, PENDING, False),
        ("boss", PENDING, False),
        ("ana", PENDING, False),
        ("rita", REJECTED_REQ, False),
        ("rita", PROMOTED_REQ, False),
    ],
)
def test_rejection_refusal_follows_the_reviewer_rules(actor, request_, allowed):
    assert (rejection_refusal(request_, actor=actor, access=ACCESS) is None) is allowed


# --- decide_approval, quorum and revocation ---------------------------------------------------


def test_two_distinct_approvals_are_needed_to_promote():
    first = decide_approval(PENDING, actor="rita", access=ACCESS, policy=TWO)
    assert first.promote is False
    assert first.approvals == ("rita",)
    assert first.required == 2

    second = decide_approval(APPROVED_BY_RITA, actor="raj", access=ACCESS, policy=TWO)
    assert second.promote is True
    assert second.approvals == ("rita", "raj")


def test_one_approval_promotes_when_one_is_required():
    outcome = decide_approval(PENDING, actor="rita", access=ACCESS, policy=ApprovalPolicy(required_approvals=1))
    assert outcome.promote is True
    assert outcome.approvals == ("rita",)


def test_the_same_reviewer_twice_is_a_policy_violation():
    with pytest.raises(PolicyViolation, match="rita has already approved request r1"):
        decide_approval(APPROVED_BY_RITA, actor="rita", access=ACCESS, policy=ApprovalPolicy(required_approvals=1))


@pytest.mark.parametrize("actor", [REQUESTER, TRAINER, "ana", "boss", "mallory"])
def test_decide_approval_raises_the_refusal(actor):
    refusal = approval_refusal(PENDING, actor=actor, access=ACCESS)
    assert refusal is not None
    with pytest.raises(PolicyViolation) as caught:
        decide_approval(PENDING, actor=actor, access=ACCESS, policy=TWO)
    assert str(caught.value) == refusal


def test_approval_policy_needs_at_least_one_approval():
    with pytest.raises(ValueError, match="at least 1"):
        ApprovalPolicy(required_approvals=0)


def _access_with(**changes):
    grants = dict(ACCESS.grants)
    grants.update({user: frozenset(roles) for user, roles in changes.items()})
    return AccessPolicy({u: r for u, r in grants.items() if r})


def test_an_approver_whose_reviewer_role_was_revoked_no_longer_counts():
    revoked = _access_with(rita=set())
    assert counted_approvals(APPROVED_BY_RITA, access=ACCESS) == ("rita",)
    assert counted_approvals(APPROVED_BY_RITA, access=revoked) == ()

    outcome = decide_approval(APPROVED_BY_RITA, actor="raj", access=revoked, policy=TWO)
    assert outcome.approvals == ("raj",)
    assert outcome.promote is False

    after_raj = request_after(ev(APPROVED, "rita"), ev(APPROVED, "raj"))
    third = decide_approval(after_raj, actor="rosa", access=revoked, policy=TWO)
    assert third.approvals == ("raj", "rosa")
    assert third.promote is True


def test_an_approver_who_became_admin_no_longer_counts():
    promoted_to_admin = _access_with(rita={Role.REVIEWER, Role.ADMIN})
    assert counted_approvals(APPROVED_BY_RITA, access=promoted_to_admin) == ()
    assert decide_approval(APPROVED_BY_RITA, actor="raj", access=promoted_to_admin, policy=TWO).promote is False


def test_counted_approvals_ignores_ineligible_and_duplicate_votes_already_in_the_log():
    # Votes written by some earlier, laxer code path must not count now.
    request = request_after(
        ev(APPROVED, "rita"),
        ev(APPROVED, "rita"),
        ev(APPROVED, REQUESTER),
        ev(APPROVED, TRAINER),
        ev(APPROVED, "boss"),
        ev(APPROVED, "ana"),
        ev(APPROVED, "raj"),
    )
    assert counted_approvals(request, access=ACCESS) == ("rita", "raj")
    assert counted_approvals(request, access=ACCESS, extra_approver="rosa") == ("rita", "raj", "rosa")


# --- approval_tags ----------------------------------------------------------------------------


def test_approval_tags_describe_the_counted_state():
    tags = approval_tags(APPROVED_BY_RITA, access=ACCESS, policy=TWO)
    assert tags == {
        "mlgov.request_id": "r1",
        "mlgov.approval_status": "pending",
        "mlgov.approvals": "1/2",
        "mlgov.approved_by": "rita",
        "mlgov.requested_by": REQUESTER,
    }


def test_approval_tags_of_a_promoted_request():
    tags = approval_tags(PROMOTED_REQ, access=ACCESS, policy=TWO)
    assert tags["mlgov.approval_status"] == "promoted"
    assert tags["mlgov.approvals"] == "2/2"
    assert tags["mlgov.approved_by"] == "rita,raj"


def test_approval_tags_drop_revoked_approvers():
    tags = approval_tags(PROMOTED_REQ, access=_access_with(raj={Role.AUDITOR}), policy=ApprovalPolicy(3))
    assert tags["mlgov.approvals"] == "1/3"
    assert tags["mlgov.approved_by"] == "rita"


def test_approval_tags_with_no_approvals():
    tags = approval_tags(PENDING, access=ACCESS, policy=TWO)
    assert tags["mlgov.approvals"] == "0/2"
    assert tags["mlgov.approved_by"] == ""


# --- property: quorum is never reached by ineligible or repeated approvals --------------------

POOL = (REQUESTER, TRAINER, "u1", "u2", "u3", "u4")
# Biased towards plain reviewers so that quorums are actually reached; the rest covers every way
# of being ineligible (no reviewer role, admin, requester or trainer) plus unrelated extra roles.
role_sets = st.one_of(
    st.just(frozenset({Role.REVIEWER})),
    st.sampled_from([frozenset({Role.REVIEWER, Role.AUDITOR}), frozenset({Role.REVIEWER, Role.MAKER})]),
    st.frozensets(st.sampled_from(list(Role)), max_size=3),
)


def eligible(access, user):
    """An independent statement of who may count towards the quorum."""
    roles = access.roles_of(user)
    return Role.REVIEWER in roles and Role.ADMIN not in roles and user not in (REQUESTER, TRAINER)


def assert_quorum_is_sound(approvers, *, access, required):
    quorum = {a for a in approvers if eligible(access, a)}
    assert len(quorum) >= required, f"promoted with {sorted(quorum)} eligible of {approvers}, need {required}"


@settings(max_examples=200, deadline=None, database=None)
@given(
    roles=st.fixed_dictionaries(dict.fromkeys(POOL, role_sets)),
    required=st.integers(min_value=1, max_value=3),
    attempts=st.lists(st.sampled_from(POOL), max_size=12),
)
def test_promotion_needs_a_quorum_of_distinct_eligible_reviewers(roles, required, attempts):
    access = AccessPolicy({u: r for u, r in roles.items() if r})
    policy = ApprovalPolicy(required_approvals=required)
    events = [requested()]
    refused_before_approving: set[str] = set()
    promotions = 0

    for minute, actor in enumerate(attempts, start=1):
        request = fold_requests(events)["r1"]
        may_approve = (
            request.status is PromotionStatus.PENDING and eligible(access, actor) and actor not in request.approvers
        )
        try:
            outcome = decide_approval(request, actor=actor, access=access, policy=policy)
        except PolicyViolation:
            assert not may_approve, f"{actor} is an eligible reviewer but was refused"
            if actor not in request.approvers:
                refused_before_approving.add(actor)
            continue
        assert may_approve, f"{actor} was allowed to approve but should not be"
        events.append(ev(APPROVED, actor, minute=minute))
        if outcome.promote:
            approvers = fold_requests(events)["r1"].approvers
            assert_quorum_is_sound(approvers, access=access, required=required)
            events.append(ev(PROMOTED, actor, minute=minute))
            promotions += 1

    final = fold_requests(events)["r1"]
    assert promotions <= 1
    assert len(set(final.approvers)) == len(final.approvers), "an approver was counted twice"
    assert not refused_before_approving & set(final.approvers)
    assert all(eligible(access, a) for a in final.approvers)
    # Liveness: once enough eligible reviewers approved, the request was promoted.
    assert (final.status is PromotionStatus.PROMOTED) == (len(final.approvers) >= required)


# Requester and trainer can never count, so role changes target the other users.
ROLE_CHANGE = st.tuples(
    st.sampled_from(POOL[2:]), st.sampled_from([Role.REVIEWER, Role.ADMIN]), st.sampled_from(GrantChange)
)
APPROVE = st.tuples(st.just("approve"), st.sampled_from(POOL))
STEP = st.one_of(APPROVE, APPROVE, APPROVE, st.tuples(st.just("access"), ROLE_CHANGE))  # 3:1 approve attempts


ALL_REVIEWERS = {REQUESTER: frozenset({Role.MAKER}), TRAINER: frozenset({Role.MAKER})} | dict.fromkeys(
    POOL[2:], frozenset({Role.REVIEWER})
)


@settings(max_examples=200, deadline=None, database=None)
@given(
    initial=st.fixed_dictionaries(dict.fromkeys(POOL, role_sets)),
    required=st.integers(min_value=1, max_value=3),
    steps=st.lists(STEP, min_size=4, max_size=20),
)
# The cases that matter most, always run: an approver loses eligibility before the quorum is reached.
@example(
    initial=ALL_REVIEWERS,
    required=2,
    steps=[("approve", "u1"), ("access", ("u1", Role.REVIEWER, GrantChange.REVOKE)), ("approve", "u2")],
)
@example(
    initial=ALL_REVIEWERS,
    required=3,
    steps=[
        ("approve", "u1"),
        ("approve", "u2"),
        ("access", ("u2", Role.ADMIN, GrantChange.GRANT)),
        ("approve", "u3"),
        ("approve", "u4"),
    ],
)
def test_promotion_counts_only_approvers_still_eligible_when_roles_change(initial, required, steps):
    grants = [GrantEvent(user, role, GrantChange.GRANT) for user, roles in initial.items() for role in roles]
    policy = ApprovalPolicy(required_approvals=required)
    events = [requested()]

    for minute, (kind, arg) in enumerate(steps, start=1):
        if kind == "access":
            user, role, change = arg
            grants.append(GrantEvent(user, role, change))
            continue
        access = fold_grants(grants)
        request = fold_requests(events)["r1"]
        try:
            outcome = decide_approval(request, actor=arg, access=access, policy=policy)
        except PolicyViolation:
            continue
        assert eligible(access, arg)
        events.append(ev(APPROVED, arg, minute=minute))
        if outcome.promote:
            assert_quorum_is_sound(fold_requests(events)["r1"].approvers, access=access, required=required)
            events.append(ev(PROMOTED, arg, minute=minute))
            assert fold_requests(events)["r1"].status is PromotionStatus.PROMOTED
