"""What the promotion records say: a request as folded from its events, the context a review of it is
judged in, its full document (evidence, approvals, verdict), a model's risk tier and alias history.
Reads only; the commands that change these are in `pipelines.jobs.promote`."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from governance.aliases import AliasInterval, AliasMove, MoveKind, holder_at, timeline
from governance.errors import NotFoundError
from governance.promotion import (
    PRODUCTION_ALIAS,
    PolicyVerdict,
    PromotionRequest,
    PromotionStatus,
    ReviewContext,
    approval_expires_at,
    fold_requests,
    metric_gates,
    policy_verdict,
    request_standing,
    superseding,
    vote_counts,
)
from governance.roles import AccessPolicy
from governance.tasks import Task, gate_metric
from lakehouse.records import (
    access_policy,
    alias_moves,
    promotion_events,
    request_evidence,
)
from pipelines.context import Context
from pipelines.reads.evidence import current_subject
from pipelines.reads.governed import governed_policy


@dataclass(frozen=True)
class PromotionResult:
    request_id: str
    model: str
    version: str
    status: PromotionStatus
    approvals: tuple[str, ...]
    required: int
    alias_moved: bool = False
    blocked_by: tuple[str, ...] = ()


def find_request(ctx: Context, request_id: str, *, version: int | None = None) -> PromotionRequest:
    request = fold_requests(promotion_events(ctx.ledger, version=version)).get(request_id)
    if request is None:
        raise NotFoundError(f"promotion request {request_id!r} does not exist")
    return request


def subject_now(ctx: Context, request: PromotionRequest) -> str:
    """The digest of the request's subject as it is now (its artifact re-hashed): outside any lock."""
    stored = request_evidence(ctx.ledger, request_id=request.request_id)
    if stored is None:
        raise NotFoundError(f"request {request.request_id} has no evidence attached")
    return current_subject(ctx, model=request.model, version=request.version, evaluation_digest=stored[1]).digest()


def review_context(
    ctx: Context,
    request: PromotionRequest,
    *,
    access: AccessPolicy,
    now: datetime,
    subject_hash: str | None = None,
    version: int | None = None,
) -> ReviewContext:
    """What a review of `request` is judged against: the policy on the chain (at audit `version`), the
    subject as it is now (`subject_hash`, computed when not given), and the gates of its evidence."""
    stored = request_evidence(ctx.ledger, request_id=request.request_id)
    if stored is None:
        raise NotFoundError(f"request {request.request_id} has no evidence attached")
    payload = json.loads(stored[0])
    policy = governed_policy(ctx, request.model, alias=request.alias, version=version)
    subject = subject_hash if subject_hash is not None else subject_now(ctx, request)
    champion = payload.get("champion") or {}
    task = Task(payload["candidate"].get("task", Task.BINARY.value))  # evidence before tasks: binary
    gates = metric_gates(
        candidate=payload["candidate"]["metrics"],
        champion=champion.get("metrics"),
        policy=policy,
        metric=gate_metric(task),
    )
    superseded_by = superseding(
        request, fold_requests(promotion_events(ctx.ledger, model=request.model, version=version)).values()
    )
    return ReviewContext(
        access=access, policy=policy, subject_hash=subject, now=now, gates=gates, superseded_by=superseded_by
    )


def judged_review(ctx: Context, request: PromotionRequest, *, access: AccessPolicy | None = None) -> ReviewContext:
    """What `request` is judged against wherever it is shown. An open request is judged as of now. A
    decided one as it was decided: at its decision time, with each approver's roles as recorded in
    their approval, on the subject it was filed on."""
    if request.open or request.decided_at is None:
        return review_context(ctx, request, access=access or access_policy(ctx.ledger), now=ctx.clock())
    then = review_context(ctx, request, access=AccessPolicy(), now=request.decided_at)
    recorded = AccessPolicy({vote.actor: vote.roles for vote in request.approvals})
    return replace(then, access=recorded, subject_hash=request.decided_subject_hash or request.subject_hash)


def show_request(ctx: Context, *, request_id: str) -> dict[str, Any]:
    """The request, its evidence, each approval (whether it counts, when it expires), its standing
    (state, whether final, why) and the verdict, judged as `judged_review` says."""
    request = find_request(ctx, request_id)
    review = judged_review(ctx, request)
    verdict = policy_verdict(request, review=review)
    standing = request_standing(request, review=review)
    stored = request_evidence(ctx.ledger, request_id=request_id)
    return {
        "request": {
            "request_id": request.request_id,
            "model": request.model,
            "version": request.version,
            "alias": request.alias,
            "status": request.status.value,
            "requester": request.requester,
            "trainer": request.trainer,
            "reason": request.reason,
            "requested_at": request.requested_at.isoformat(),
            "break_glass": request.break_glass,
            "risk_tier": review.policy.tier.value,
        },
        "evidence": json.loads(stored[0]) if stored else None,
        "approvals": [
            {
                "actor": v.actor,
                "at": v.at.isoformat(),
                "reason": v.reason,
                "counts": vote_counts(v, request=request, review=review),
                "expires_at": approval_expires_at(v, policy=review.policy).isoformat(),
                "expired": approval_expires_at(v, policy=review.policy) < review.now,
            }
            for v in request.approvals
        ],
        "standing": {
            "state": standing.state.value,
            "final": standing.final,
            "explanation": standing.explanation,
            "approvals": f"{len(standing.counted)}/{standing.required}",
        },
        "rejection": None
        if request.rejection is None
        else {
            "actor": request.rejection.actor,
            "at": request.rejection.at.isoformat(),
            "reason": request.rejection.reason,
        },
        "withdrawal": None
        if request.withdrawal is None
        else {
            "actor": request.withdrawal.actor,
            "at": request.withdrawal.at.isoformat(),
            "reason": request.withdrawal.reason,
        },
        "policy": verdict_document(verdict),
    }


def verdict_document(verdict: PolicyVerdict) -> dict[str, Any]:
    return {
        "promotable": verdict.promotable,
        "required": verdict.required,
        "counted": list(verdict.counted),
        "subject_changed": verdict.subject_changed,
        "gates": [{**g.__dict__, "passed": g.passed} for g in verdict.gates],
        "blocked_by": list(verdict.reasons),
    }


def alias_history(
    ctx: Context, *, model: str, at: datetime | None = None, alias: str = PRODUCTION_ALIAS
) -> list[AliasInterval]:
    """Every interval a version held the champion alias, or only the one in force at `at`."""
    ctx.registry.require_model(model)
    moves = alias_moves(ctx.ledger, model=model)
    if at is None:
        return timeline(moves, alias=alias)
    held = holder_at(moves, alias=alias, at=at)
    return [held] if held else []


def promotion_result(
    request: PromotionRequest, verdict: PolicyVerdict, *, alias_moved: bool = False
) -> PromotionResult:
    return PromotionResult(
        request_id=request.request_id,
        model=request.model,
        version=request.version,
        status=request.status,
        approvals=verdict.counted,
        required=verdict.required,
        alias_moved=alias_moved,
        blocked_by=verdict.reasons,
    )


def approved_champions(
    ctx: Context, model: str, moves: Sequence[AliasMove], *, version: int | None = None
) -> frozenset[str]:
    """The versions whose move to champion met the policy (break-glass ones once reviewed after the fact)."""
    requests = fold_requests(promotion_events(ctx.ledger, model=model, version=version))
    return frozenset(
        m.version
        for m in moves
        if m.alias == PRODUCTION_ALIAS
        and (
            m.kind is MoveKind.PROMOTED
            or (m.kind is MoveKind.BREAK_GLASS and requests[m.request_id].status is PromotionStatus.PROMOTED)
        )
    )
