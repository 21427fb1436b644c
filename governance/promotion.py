"""Promotion requests as a pure state machine over append-only events.

A request is never stored as mutable state: it is the fold of its events. Whether an actor may
approve or reject, whether the approvals given still count, and whether the alias may move are
decided here and nowhere else.

An approval counts only while everything it was given against still holds: the same subject (the
model artifact, its training data version and the evaluation it was judged on), the approver's
same roles, and a fresh enough approval for the model's risk tier. When any of these changes the
approval stops counting and the request is open again until reviewers approve anew.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from governance.audit.canonical import canonical_json
from governance.errors import PolicyViolation
from governance.roles import AccessPolicy, Action, Role, permitted_actions
from governance.tasks import TaskMetric, falls_short, margin_text

PRODUCTION_ALIAS = "champion"
# A break-glass promotion is justified in words an auditor can judge, not "urgent".
MIN_BREAK_GLASS_JUSTIFICATION = 20
SHADOW_ALIAS = "challenger"  # scored beside the champion on every batch, never served
ALIASES = (PRODUCTION_ALIAS, SHADOW_ALIAS)


class RiskTier(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


@dataclass(frozen=True)
class TierPolicy:
    """What a promotion of a model of this tier needs."""

    tier: RiskTier
    required_approvals: int
    max_metric_drop: float  # how much worse than the champion the gate metric may be
    approval_ttl: timedelta  # approvals older than this no longer count

    def __post_init__(self) -> None:
        if self.required_approvals < 1:
            raise ValueError("required_approvals must be at least 1")


def default_approvals(*, medium: int = 2) -> dict[RiskTier, int]:
    """The approvals each tier needs by default: one fewer than medium for low, one more for high."""
    return {RiskTier.LOW: max(1, medium - 1), RiskTier.MEDIUM: medium, RiskTier.HIGH: medium + 1}


def tier_policy(
    tier: RiskTier, *, medium_approvals: int = 2, approvals: Mapping[RiskTier, int] | None = None
) -> TierPolicy:
    """The policy of a tier. The approvals it needs come from `approvals` (the approval policy on the
    record) when given, else from the default scale anchored at `medium_approvals`."""
    required = (approvals or default_approvals(medium=medium_approvals))[tier]
    match tier:
        case RiskTier.LOW:
            return TierPolicy(tier, required, 0.02, timedelta(days=30))
        case RiskTier.MEDIUM:
            return TierPolicy(tier, required, 0.01, timedelta(days=14))
        case RiskTier.HIGH:
            return TierPolicy(tier, required, 0.0, timedelta(days=7))
    raise ValueError(f"unknown risk tier {tier!r}")


def alias_policy(policy: TierPolicy, *, alias: str) -> TierPolicy:
    """The policy for moving `alias`: the tier's for production; a shadow serves nothing, so one
    eligible reviewer suffices and no metric gate applies (its evidence is what shadow is for)."""
    if alias == SHADOW_ALIAS:
        return replace(policy, required_approvals=1, max_metric_drop=float("inf"))
    return policy


def parse_alias(text: str) -> str:
    if text not in ALIASES:
        raise PolicyViolation(f"unknown alias {text!r}: expected {' or '.join(ALIASES)}")
    return text


def parse_tier(text: str) -> RiskTier:
    try:
        return RiskTier(text.strip().lower())
    except ValueError:
        raise PolicyViolation(f"unknown risk tier {text!r}: expected low, medium or high") from None


@dataclass(frozen=True)
class Subject:
    """What exactly is being promoted; approvals are bound to its digest."""

    model: str
    version: str
    artifact_digest: str
    train_table: str
    train_table_version: int
    evaluation_digest: str

    def digest(self) -> str:
        fields = {**self.__dict__, "train_table_version": str(self.train_table_version)}
        return hashlib.sha256(canonical_json(fields).encode("utf-8")).hexdigest()


class PromotionStatus(StrEnum):
    PENDING = "pending"
    PROMOTED = "promoted"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"  # the requester took it back before it was decided
    BREAK_GLASS = "break_glass"  # forced by an admin; the after-the-fact review is still open


class PromotionEventKind(StrEnum):
    REQUESTED = "requested"
    APPROVED = "approved"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"
    PROMOTED = "promoted"
    FORCED = "forced"
    REVIEWED = "reviewed"


@dataclass(frozen=True)
class PromotionEvent:
    request_id: str
    kind: PromotionEventKind
    model: str
    version: str
    actor: str
    at: datetime
    reason: str
    alias: str = PRODUCTION_ALIAS
    trainer: str = ""
    subject_hash: str = ""
    actor_roles: frozenset[Role] = frozenset()


@dataclass(frozen=True)
class Vote:
    actor: str
    at: datetime
    reason: str
    subject_hash: str = ""
    roles: frozenset[Role] = frozenset()


@dataclass(frozen=True)
class PromotionRequest:
    request_id: str
    model: str
    version: str
    alias: str
    requester: str
    trainer: str
    reason: str
    requested_at: datetime
    status: PromotionStatus
    subject_hash: str = ""
    approvals: tuple[Vote, ...] = ()
    rejection: Vote | None = None
    withdrawal: Vote | None = None
    decided_at: datetime | None = None
    break_glass: bool = False
    decided_subject_hash: str = ""  # the subject the decision was taken on (it may have changed)

    @property
    def approvers(self) -> tuple[str, ...]:
        return tuple(v.actor for v in self.approvals)

    @property
    def open(self) -> bool:
        """Still collecting approvals: before promotion, or after a break-glass promotion."""
        return self.status in (PromotionStatus.PENDING, PromotionStatus.BREAK_GLASS)


def _apply(request: PromotionRequest | None, event: PromotionEvent) -> PromotionRequest:
    if event.kind is PromotionEventKind.REQUESTED:
        return PromotionRequest(
            request_id=event.request_id,
            model=event.model,
            version=event.version,
            alias=event.alias,
            requester=event.actor,
            trainer=event.trainer,
            reason=event.reason,
            requested_at=event.at,
            status=PromotionStatus.PENDING,
            subject_hash=event.subject_hash,
        )
    if request is None:
        raise ValueError(f"event {event.kind} for request {event.request_id} has no request")
    vote = Vote(
        actor=event.actor, at=event.at, reason=event.reason, subject_hash=event.subject_hash, roles=event.actor_roles
    )
    match event.kind:
        case PromotionEventKind.APPROVED:
            return replace(request, approvals=(*request.approvals, vote))
        case PromotionEventKind.REJECTED:
            return replace(request, status=PromotionStatus.REJECTED, rejection=vote, decided_at=event.at)
        case PromotionEventKind.WITHDRAWN:
            return replace(request, status=PromotionStatus.WITHDRAWN, withdrawal=vote, decided_at=event.at)
        case PromotionEventKind.PROMOTED | PromotionEventKind.REVIEWED:
            return replace(
                request, status=PromotionStatus.PROMOTED, decided_at=event.at, decided_subject_hash=event.subject_hash
            )
        case PromotionEventKind.FORCED:
            return replace(
                request,
                status=PromotionStatus.BREAK_GLASS,
                decided_at=event.at,
                break_glass=True,
                decided_subject_hash=event.subject_hash,
            )
    raise ValueError(f"unknown event kind {event.kind}")


def fold_requests(events: Iterable[PromotionEvent]) -> dict[str, PromotionRequest]:
    """Every request's current state, from its events in the order they happened."""
    requests: dict[str, PromotionRequest] = {}
    for event in events:
        requests[event.request_id] = _apply(requests.get(event.request_id), event)
    return requests


def request_refusal(
    *,
    model: str,
    version: str,
    open_requests: Sequence[PromotionRequest],
    current_version: str | None,
    alias: str = PRODUCTION_ALIAS,
    champion: str | None = None,
) -> str | None:
    """Why this version may not be put forward for `alias` now, or None if it may."""
    if current_version == version:
        return f"{model} version {version} already holds the {alias} alias"
    if alias == SHADOW_ALIAS and champion == version:
        return f"{model} version {version} is the champion; a challenger must be another version"
    for request in open_requests:
        pending = request.status is PromotionStatus.PENDING
        if pending and request.model == model and request.version == version and request.alias == alias:
            return f"{model} version {version} already has a pending {alias} request {request.request_id}"
    return None


@dataclass(frozen=True)
class ReviewContext:
    """Everything beyond the request that a review decision depends on, read at decision time."""

    access: AccessPolicy
    policy: TierPolicy
    subject_hash: str  # the subject as it is now
    now: datetime
    gates: tuple[GateResult, ...] = ()
    superseded_by: str | None = None  # a newer request for the same model and alias (see `superseding`)


def _eligible(request: PromotionRequest, actor: str, access: AccessPolicy) -> str | None:
    roles = access.roles_of(actor)
    if Role.REVIEWER not in roles:
        return f"{actor} does not hold the reviewer role"
    if Role.ADMIN in roles:
        return f"{actor} is an admin and admins may not approve or reject promotions"
    if actor == request.requester:
        return f"{actor} requested this promotion and may not review it"
    if actor == request.trainer:
        return f"{actor} trained {request.model} version {request.version} and may not review it"
    return None


def vote_counts(vote: Vote, *, request: PromotionRequest, review: ReviewContext) -> bool:
    """Whether an approval still counts: eligible voter, same subject, same roles, not stale."""
    return (
        _eligible(request, vote.actor, review.access) is None
        and vote.subject_hash == review.subject_hash
        and vote.roles == review.access.roles_of(vote.actor)
        and review.now - vote.at <= review.policy.approval_ttl
    )


def counted_approvals(request: PromotionRequest, *, review: ReviewContext) -> tuple[str, ...]:
    """Distinct approvers whose approval still counts now."""
    counted: list[str] = []
    for vote in request.approvals:
        if vote.actor not in counted and vote_counts(vote, request=request, review=review):
            counted.append(vote.actor)
    return tuple(counted)


def approval_refusal(request: PromotionRequest, *, actor: str, review: ReviewContext) -> str | None:
    """Why `actor` may not approve `request` now, or None if they may."""
    if not request.open:
        return f"request {request.request_id} is {request.status.value}, not open for review"
    refusal = _eligible(request, actor, review.access)
    if refusal is None and actor in counted_approvals(request, review=review):
        return f"{actor} has already approved request {request.request_id}"
    if refusal is None and request.status is PromotionStatus.PENDING:
        return _dead_end(request, review=review)
    return refusal


def _dead_end(request: PromotionRequest, *, review: ReviewContext) -> str | None:
    """Why no approval can move the alias for a pending request any more, or None while one can."""
    if review.superseded_by is not None:
        return f"superseded by request {review.superseded_by} for the same model and alias: reject it"
    failed = [gate for gate in review.gates if not gate.passed]
    if failed and len(counted_approvals(request, review=review)) >= review.policy.required_approvals:
        return f"gate failed: {_gate_failure(failed[0])}: reject it, or ask for a new version"
    return None


def _gate_failure(gate: GateResult) -> str:
    direction = "below" if gate.higher_is_better else "above"
    return (
        f"{gate.metric} {gate.candidate:.4f} is more than {gate.margin} {direction} "
        f"the champion's {gate.champion:.4f} on the same holdout"
    )


def superseding(request: PromotionRequest, requests: Iterable[PromotionRequest]) -> str | None:
    """The newest request for the same model and alias filed after `request` and not withdrawn or
    rejected, when `request` is still pending: that one is what reviewers decide now."""
    if request.status is not PromotionStatus.PENDING:
        return None
    newer = [
        other
        for other in requests
        if other.model == request.model
        and other.alias == request.alias
        and other.requested_at > request.requested_at
        and other.status not in (PromotionStatus.WITHDRAWN, PromotionStatus.REJECTED)
    ]
    return max(newer, key=lambda other: other.requested_at).request_id if newer else None


class RequestState(StrEnum):
    AWAITING_APPROVALS = "awaiting approvals"
    BLOCKED = "blocked by a failed gate"
    SUPERSEDED = "superseded"
    AWAITING_REVIEW = "break-glass, awaiting review"
    PROMOTED = "approved and promoted"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"


@dataclass(frozen=True)
class RequestStanding:
    """Where a request stands, as every page and command shows it: its state, whether anything is left
    to decide, why, and its approvals counted once (`counted` of `required`)."""

    state: RequestState
    final: bool  # nothing moves the alias any more: only a reject (blocked, superseded) or nothing is left
    explanation: str
    counted: tuple[str, ...]
    required: int


def request_standing(request: PromotionRequest, *, review: ReviewContext) -> RequestStanding:
    """The standing of `request` judged against `review` (for a decided request: as it was decided)."""
    counted = counted_approvals(request, review=review)
    required = review.policy.required_approvals

    def standing(state: RequestState, explanation: str, *, final: bool) -> RequestStanding:
        return RequestStanding(state=state, final=final, explanation=explanation, counted=counted, required=required)

    match request.status:
        case PromotionStatus.PROMOTED:
            return standing(
                RequestState.PROMOTED, f"{request.model} version {request.version} was promoted", final=True
            )
        case PromotionStatus.REJECTED:
            by = request.rejection.actor if request.rejection else "a reviewer"
            return standing(RequestState.REJECTED, f"rejected by {by}", final=True)
        case PromotionStatus.WITHDRAWN:
            by = request.withdrawal.actor if request.withdrawal else request.requester
            return standing(RequestState.WITHDRAWN, f"withdrawn by {by}", final=True)
        case PromotionStatus.BREAK_GLASS:
            return standing(
                RequestState.AWAITING_REVIEW,
                "promoted by break-glass: reviewers approve or reject it after the fact",
                final=False,
            )
    dead_end = _dead_end(request, review=review)
    if dead_end is not None:
        state = RequestState.SUPERSEDED if review.superseded_by is not None else RequestState.BLOCKED
        return standing(state, dead_end, final=True)
    return standing(RequestState.AWAITING_APPROVALS, f"{len(counted)} of {required} approvals", final=False)


def approval_expires_at(vote: Vote, *, policy: TierPolicy) -> datetime:
    """When an approval stops counting under the tier's time limit."""
    return vote.at + policy.approval_ttl


def rejection_refusal(request: PromotionRequest, *, actor: str, review: ReviewContext) -> str | None:
    """Why `actor` may not reject `request` now, or None if they may."""
    if not request.open:
        return f"request {request.request_id} is {request.status.value}, not open for review"
    return _eligible(request, actor, review.access)


def withdrawal_refusal(request: PromotionRequest, *, actor: str, access: AccessPolicy) -> str | None:
    """Why `actor` may not withdraw `request` now, or None if they may: only its requester, while they
    may still request promotions, and only while it is pending (a break-glass promotion has already
    moved the alias: it can only be reviewed)."""
    if Action.WITHDRAW_PROMOTION not in permitted_actions(access.roles_of(actor)):
        return f"{actor} does not hold the maker role"
    if actor != request.requester:
        return f"only {request.requester}, who requested it, may withdraw request {request.request_id}"
    if request.status is not PromotionStatus.PENDING:
        return f"request {request.request_id} is {request.status.value.replace('_', '-')}, not pending"
    return None


def awaits_review_by(request: PromotionRequest, *, actor: str, access: AccessPolicy) -> bool:
    """Whether `request` is waiting for `actor`: open, `actor` may review it (a reviewer, neither its
    requester nor its trainer, not an admin), and has not approved it yet. An approval that stopped
    counting (expired, or given on an earlier subject) still takes it off the list: the request's
    page says it no longer counts."""
    return request.open and _eligible(request, actor, access) is None and actor not in request.approvers


@dataclass(frozen=True)
class GateResult:
    metric: str
    candidate: float
    champion: float
    max_drop: float  # how much worse than the champion the candidate may be
    higher_is_better: bool = True
    relative: bool = False  # max_drop is a share of the champion's value

    @property
    def passed(self) -> bool:
        return not falls_short(
            self.candidate,
            of=self.champion,
            by_more_than=self.max_drop,
            higher_is_better=self.higher_is_better,
            relative=self.relative,
        )

    @property
    def margin(self) -> str:
        """How much worse the candidate may be, as a person reads it: 0.01, or 1% where relative."""
        return margin_text(self.max_drop, relative=self.relative)


def metric_gates(
    *,
    candidate: Mapping[str, float],
    champion: Mapping[str, float] | None,
    policy: TierPolicy,
    metric: TaskMetric,
) -> tuple[GateResult, ...]:
    """The gates a candidate must pass against the champion on the same holdout (none without one)."""
    if champion is None or metric.name not in champion or metric.name not in candidate:
        return ()
    return (
        GateResult(
            metric.name,
            candidate[metric.name],
            champion[metric.name],
            policy.max_metric_drop,
            higher_is_better=metric.higher_is_better,
            relative=metric.relative,
        ),
    )


@dataclass(frozen=True)
class PolicyVerdict:
    required: int
    counted: tuple[str, ...]
    gates: tuple[GateResult, ...]
    subject_changed: bool  # since the request was filed; earlier approvals no longer count
    reasons: tuple[str, ...]  # why the alias may not move yet; empty when it may

    @property
    def promotable(self) -> bool:
        return not self.reasons


def policy_verdict(
    request: PromotionRequest, *, review: ReviewContext, extra_approver: str | None = None
) -> PolicyVerdict:
    """Whether the policy lets the alias move, counting `extra_approver` as a fresh approval."""
    counted = list(counted_approvals(request, review=review))
    if extra_approver is not None and extra_approver not in counted:
        counted.append(extra_approver)
    reasons = []
    # A changed subject reopens the request: approvals given before the change stop counting (see
    # vote_counts), and reviewers who approve the subject as it is now count again.
    subject_changed = request.subject_hash != review.subject_hash
    if len(counted) < review.policy.required_approvals:
        reasons.append(
            f"{len(counted)} of {review.policy.required_approvals} approvals from distinct eligible reviewers "
            f"({review.policy.tier.value} risk tier)"
        )
    reasons.extend(_gate_failure(gate) for gate in review.gates if not gate.passed)
    return PolicyVerdict(
        required=review.policy.required_approvals,
        counted=tuple(counted),
        gates=review.gates,
        subject_changed=subject_changed,
        reasons=tuple(reasons),
    )


def decide_approval(request: PromotionRequest, *, actor: str, review: ReviewContext) -> PolicyVerdict:
    """The verdict once `actor` approves `request`; raises PolicyViolation when refused."""
    refusal = approval_refusal(request, actor=actor, review=review)
    if refusal is not None:
        raise PolicyViolation(refusal)
    return policy_verdict(request, review=review, extra_approver=actor)


def approval_tags(request: PromotionRequest, *, verdict: PolicyVerdict) -> Mapping[str, str]:
    """The approval state as MLflow model-version tags, so the MLflow UI shows it too."""
    return {
        "mlgov.request_id": request.request_id,
        "mlgov.approval_status": request.status.value,
        "mlgov.approvals": f"{len(verdict.counted)}/{verdict.required}",
        "mlgov.approved_by": ",".join(verdict.counted),
        "mlgov.requested_by": request.requester,
        "mlgov.break_glass": "true" if request.break_glass else "false",
    }
