"""Promotion requests, approvals and rejections; the champion alias moves only when policy says so."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from governance.errors import InputError, NotFoundError, PolicyViolation
from governance.promotion import (
    PRODUCTION_ALIAS,
    ApprovalPolicy,
    PromotionEvent,
    PromotionEventKind,
    PromotionRequest,
    PromotionStatus,
    approval_tags,
    decide_approval,
    fold_requests,
    rejection_refusal,
    request_refusal,
)
from governance.roles import AccessPolicy, Action
from lakehouse.records import promotion_events, promotion_frame
from lakehouse.schemas import PROMOTIONS
from pipelines.context import Context, JobRun, job_run
from pipelines.train import version_recipe


@dataclass(frozen=True)
class PromotionResult:
    request_id: str
    model: str
    version: str
    status: PromotionStatus
    approvals: tuple[str, ...]
    required: int
    alias_moved: bool = False


def approval_policy(ctx: Context) -> ApprovalPolicy:
    return ApprovalPolicy(required_approvals=ctx.settings.required_approvals)


def _require_reason(reason: str) -> str:
    if not reason.strip():
        raise InputError("a reason is required: pass --reason TEXT")
    return reason.strip()


def find_request(ctx: Context, request_id: str) -> PromotionRequest:
    request = fold_requests(promotion_events(ctx.store)).get(request_id)
    if request is None:
        raise NotFoundError(f"promotion request {request_id!r} does not exist")
    return request


def _refuse(run: JobRun, action: Action, object_id: str, refusal: str) -> PolicyViolation:
    run.audit(
        action=action.value, object_type="promotion_request", object_id=object_id, outcome="refused", reason=refusal
    )
    return PolicyViolation(refusal)


def request_promotion(ctx: Context, *, model: str, version: str, reason: str, actor: str) -> PromotionResult:
    reason = _require_reason(reason)
    with job_run(ctx, job="promote_request", actor=actor, model=model) as run:
        run.authorize(Action.REQUEST_PROMOTION, object_type="model_version", object_id=f"{model}/{version}")
        trainer = version_recipe(ctx.registry.version(model, version)).trainer
        requests = list(fold_requests(promotion_events(ctx.store, model=model)).values())
        current = ctx.registry.alias_version(model, PRODUCTION_ALIAS)
        refusal = request_refusal(
            model=model, version=version, requester=actor, open_requests=requests, current_version=current
        )
        if refusal:
            raise _refuse(run, Action.REQUEST_PROMOTION, f"{model}/{version}", refusal)
        event = PromotionEvent(
            request_id=f"pr-{uuid.uuid4().hex[:10]}",
            kind=PromotionEventKind.REQUESTED,
            model=model,
            version=version,
            actor=actor,
            at=run.now(),
            reason=reason,
            trainer=trainer,
        )
        run.append(PROMOTIONS, promotion_frame([event], run_id=run.run_id))
        request = fold_requests([event])[event.request_id]
        policy = approval_policy(ctx)
        ctx.registry.set_version_tags(model, version, approval_tags(request, access=AccessPolicy(), policy=policy))
        run.audit(
            action="request_promotion",
            object_type="promotion_request",
            object_id=event.request_id,
            reason=reason,
            details={"model": model, "version": version, "alias": PRODUCTION_ALIAS, "current": current or ""},
        )
    return PromotionResult(
        request_id=event.request_id,
        model=model,
        version=version,
        status=PromotionStatus.PENDING,
        approvals=(),
        required=policy.required_approvals,
    )


def approve(ctx: Context, *, request_id: str, reason: str, actor: str) -> PromotionResult:
    reason = _require_reason(reason)
    with job_run(ctx, job="promote_approve", actor=actor) as run:
        access = run.authorize(Action.APPROVE, object_type="promotion_request", object_id=request_id)
        request = find_request(ctx, request_id)
        run.model = request.model
        policy = approval_policy(ctx)
        try:
            outcome = decide_approval(request, actor=actor, access=access, policy=policy)
        except PolicyViolation as refusal:
            raise _refuse(run, Action.APPROVE, request_id, str(refusal)) from None
        now = run.now()
        events = [_event(request, PromotionEventKind.APPROVED, actor=actor, reason=reason, at=now)]
        previous = ctx.registry.alias_version(request.model, request.alias)
        if outcome.promote:
            events.append(_event(request, PromotionEventKind.PROMOTED, actor=actor, reason="quorum met", at=now))
            ctx.registry.set_alias(request.model, request.alias, request.version)
        try:
            run.append(PROMOTIONS, promotion_frame(events, run_id=run.run_id))
        except Exception:
            if outcome.promote and previous is not None:
                ctx.registry.set_alias(request.model, request.alias, previous)
            raise
        after = find_request(ctx, request_id)
        ctx.registry.set_version_tags(
            request.model, request.version, approval_tags(after, access=access, policy=policy)
        )
        run.audit(
            action="approve",
            object_type="promotion_request",
            object_id=request_id,
            reason=reason,
            details={"model": request.model, "version": request.version, "approvals": list(outcome.approvals)},
        )
        if outcome.promote:
            run.audit(
                action="promote",
                object_type="model_version",
                object_id=f"{request.model}/{request.version}",
                reason=f"request {request_id}: {len(outcome.approvals)} of {policy.required_approvals} approvals",
                details={"alias": request.alias, "previous": previous or "", "approved_by": list(outcome.approvals)},
            )
    return PromotionResult(
        request_id=request_id,
        model=request.model,
        version=request.version,
        status=after.status,
        approvals=outcome.approvals,
        required=policy.required_approvals,
        alias_moved=outcome.promote,
    )


def reject(ctx: Context, *, request_id: str, reason: str, actor: str) -> PromotionResult:
    reason = _require_reason(reason)
    with job_run(ctx, job="promote_reject", actor=actor) as run:
        access = run.authorize(Action.REJECT, object_type="promotion_request", object_id=request_id)
        request = find_request(ctx, request_id)
        run.model = request.model
        refusal = rejection_refusal(request, actor=actor, access=access)
        if refusal:
            raise _refuse(run, Action.REJECT, request_id, refusal)
        event = _event(request, PromotionEventKind.REJECTED, actor=actor, reason=reason, at=run.now())
        run.append(PROMOTIONS, promotion_frame([event], run_id=run.run_id))
        after = find_request(ctx, request_id)
        policy = approval_policy(ctx)
        ctx.registry.set_version_tags(
            request.model, request.version, approval_tags(after, access=access, policy=policy)
        )
        run.audit(
            action="reject",
            object_type="promotion_request",
            object_id=request_id,
            reason=reason,
            details={"model": request.model, "version": request.version},
        )
    return PromotionResult(
        request_id=request_id,
        model=request.model,
        version=request.version,
        status=after.status,
        approvals=(),
        required=policy.required_approvals,
    )


def _event(
    request: PromotionRequest, kind: PromotionEventKind, *, actor: str, reason: str, at: datetime
) -> PromotionEvent:
    return PromotionEvent(
        request_id=request.request_id,
        kind=kind,
        model=request.model,
        version=request.version,
        actor=actor,
        at=at,
        reason=reason,
        alias=request.alias,
        trainer=request.trainer,
    )
