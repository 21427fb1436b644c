"""Promotion requests as a pure state machine over append-only events.

A request is never stored as mutable state: it is the fold of its events. Whether an actor may
approve or reject, and whether the quorum is met, is decided here and nowhere else.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from governance.errors import PolicyViolation
from governance.roles import AccessPolicy, Role

PRODUCTION_ALIAS = "champion"


class PromotionStatus(StrEnum):
    PENDING = "pending"
    PROMOTED = "promoted"
    REJECTED = "rejected"


class PromotionEventKind(StrEnum):
    REQUESTED = "requested"
    APPROVED = "approved"
    REJECTED = "rejected"
    PROMOTED = "promoted"


@dataclass(frozen=True)
class ApprovalPolicy:
    """How many distinct eligible reviewers must approve before the alias moves."""

    required_approvals: int = 2

    def __post_init__(self) -> None:
        if self.required_approvals < 1:
            raise ValueError("required_approvals must be at least 1")


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


@dataclass(frozen=True)
class Vote:
    actor: str
    at: datetime
    reason: str


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
    approvals: tuple[Vote, ...] = ()
    rejection: Vote | None = None
    decided_at: datetime | None = None

    @property
    def approvers(self) -> tuple[str, ...]:
        return tuple(v.actor for v in self.approvals)


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
        )
    if request is None:
        raise ValueError(f"event {event.kind} for request {event.request_id} has no request")
    vote = Vote(actor=event.actor, at=event.at, reason=event.reason)
    match event.kind:
        case PromotionEventKind.APPROVED:
            return replace(request, approvals=(*request.approvals, vote))
        case PromotionEventKind.REJECTED:
            return replace(request, status=PromotionStatus.REJECTED, rejection=vote, decided_at=event.at)
        case PromotionEventKind.PROMOTED:
            return replace(request, status=PromotionStatus.PROMOTED, decided_at=event.at)
    raise ValueError(f"unknown event kind {event.kind}")


def fold_requests(events: Iterable[PromotionEvent]) -> dict[str, PromotionRequest]:
    """Every request's current state, from its events in the order they were written."""
    requests: dict[str, PromotionRequest] = {}
    for event in events:
        requests[event.request_id] = _apply(requests.get(event.request_id), event)
    return requests


def request_refusal(
    *, model: str, version: str, requester: str, open_requests: Sequence[PromotionRequest], current_version: str | None
) -> str | None:
    """Why `requester` may not ask to promote this version now, or None if they may."""
    if current_version == version:
        return f"{model} version {version} already holds the {PRODUCTION_ALIAS} alias"
    for request in open_requests:
        if request.model == model and request.version == version and request.status is PromotionStatus.PENDING:
            return f"{model} version {version} already has a pending request {request.request_id}"
    return None


def _reviewer_refusal(request: PromotionRequest, *, actor: str, access: AccessPolicy) -> str | None:
    roles = access.roles_of(actor)
    if request.status is not PromotionStatus.PENDING:
        return f"request {request.request_id} is {request.status.value}, not pending"
    if Role.REVIEWER not in roles:
        return f"{actor} does not hold the reviewer role"
    if Role.ADMIN in roles:
        return f"{actor} is an admin and admins may not approve or reject promotions"
    if actor == request.requester:
        return f"{actor} requested this promotion and may not review it"
    if actor == request.trainer:
        return f"{actor} trained {request.model} version {request.version} and may not review it"
    return None


def approval_refusal(request: PromotionRequest, *, actor: str, access: AccessPolicy) -> str | None:
    """Why `actor` may not approve `request`, or None if they may."""
    refusal = _reviewer_refusal(request, actor=actor, access=access)
    if refusal is None and actor in request.approvers:
        return f"{actor} has already approved request {request.request_id}"
    return refusal


def rejection_refusal(request: PromotionRequest, *, actor: str, access: AccessPolicy) -> str | None:
    """Why `actor` may not reject `request`, or None if they may."""
    return _reviewer_refusal(request, actor=actor, access=access)


def counted_approvals(
    request: PromotionRequest, *, access: AccessPolicy, extra_approver: str | None = None
) -> tuple[str, ...]:
    """Distinct approvers whose approval still counts under the current access policy."""
    approvers = (*request.approvers, extra_approver) if extra_approver else request.approvers
    counted: list[str] = []
    for approver in approvers:
        roles = access.roles_of(approver)
        eligible = (
            Role.REVIEWER in roles and Role.ADMIN not in roles and approver not in (request.requester, request.trainer)
        )
        if eligible and approver not in counted:
            counted.append(approver)
    return tuple(counted)


@dataclass(frozen=True)
class ApprovalOutcome:
    approvals: tuple[str, ...]
    required: int
    promote: bool


def decide_approval(
    request: PromotionRequest, *, actor: str, access: AccessPolicy, policy: ApprovalPolicy
) -> ApprovalOutcome:
    """The outcome of `actor` approving `request`; raises PolicyViolation when refused."""
    refusal = approval_refusal(request, actor=actor, access=access)
    if refusal is not None:
        raise PolicyViolation(refusal)
    counted = counted_approvals(request, access=access, extra_approver=actor)
    return ApprovalOutcome(
        approvals=counted, required=policy.required_approvals, promote=len(counted) >= policy.required_approvals
    )


def approval_tags(request: PromotionRequest, *, access: AccessPolicy, policy: ApprovalPolicy) -> Mapping[str, str]:
    """The approval state as MLflow model-version tags, so the MLflow UI shows it too."""
    counted = counted_approvals(request, access=access)
    return {
        "mlgov.request_id": request.request_id,
        "mlgov.approval_status": request.status.value,
        "mlgov.approvals": f"{len(counted)}/{policy.required_approvals}",
        "mlgov.approved_by": ",".join(counted),
        "mlgov.requested_by": request.requester,
    }
