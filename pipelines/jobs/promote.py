"""Promotion requests, reviews, break-glass promotions and rollbacks.

The alias in MLflow moves only when governance.promotion says the policy is met (or an admin
forces it, which is flagged and reviewed after the fact), and every move is recorded in
governance/aliases so its history can be answered for any instant.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from governance.aliases import AliasMove, MoveKind, rollback_target
from governance.audit.actions import AuditAction, AuditOutcome
from governance.errors import InputError, PolicyViolation
from governance.promotion import (
    PRODUCTION_ALIAS,
    PromotionEvent,
    PromotionEventKind,
    PromotionRequest,
    PromotionStatus,
    approval_tags,
    decide_approval,
    fold_requests,
    parse_alias,
    policy_verdict,
    rejection_refusal,
    request_refusal,
)
from governance.roles import Action
from lakehouse.records import (
    alias_move_frame,
    alias_moves,
    evidence_frame,
    promotion_events,
    promotion_frame,
)
from lakehouse.schemas import ALIASES, EVIDENCE, PROMOTIONS
from pipelines.context import Context, JobRun, job_run
from pipelines.reads.evidence import compute_evidence, current_subject
from pipelines.reads.promotions import PromotionResult, find_request, promotion_result, review_context
from pipelines.reads.versions import version_recipe

MIN_BREAK_GLASS_JUSTIFICATION = 20


def _require_reason(reason: str) -> str:
    if not reason.strip():
        raise InputError("a reason is required: pass --reason TEXT")
    return reason.strip()


def _refuse(run: JobRun, action: Action, object_id: str, refusal: str) -> PolicyViolation:
    run.audit(
        action=action,
        object_type="promotion_request",
        object_id=object_id,
        outcome=AuditOutcome.REFUSED,
        reason=refusal,
    )
    return PolicyViolation(refusal)


def _event(
    request: PromotionRequest, kind: PromotionEventKind, *, run: JobRun, reason: str, at: datetime, **extra: Any
) -> PromotionEvent:
    return PromotionEvent(
        request_id=request.request_id,
        kind=kind,
        model=request.model,
        version=request.version,
        actor=run.actor,
        at=at,
        reason=reason,
        alias=request.alias,
        trainer=request.trainer,
        **extra,
    )


def _move_alias(run: JobRun, move: AliasMove) -> None:
    """Move the MLflow alias and record the move; if recording fails, put the alias back."""
    registry = run.ctx.registry
    registry.set_alias(move.model, move.alias, move.version)
    try:
        run.append(ALIASES, alias_move_frame(move, run_id=run.run_id))
    except Exception:
        if move.previous:
            registry.set_alias(move.model, move.alias, move.previous)
        raise


def _open_request(
    run: JobRun,
    *,
    model: str,
    version: str,
    reason: str,
    at: datetime,
    trigger: dict[str, Any] | None = None,
    alias: str = PRODUCTION_ALIAS,
) -> tuple[PromotionRequest, PromotionEvent, str]:
    """A new request with its evidence attached (not yet written)."""
    ctx = run.ctx
    trainer = version_recipe(ctx.registry.version(model, version)).trainer
    evidence = compute_evidence(ctx, model=model, version=version, trigger=trigger)
    subject = current_subject(ctx, model=model, version=version, evaluation_digest=evidence.digest)
    event = PromotionEvent(
        request_id=f"pr-{uuid.uuid4().hex[:10]}",
        kind=PromotionEventKind.REQUESTED,
        model=model,
        version=version,
        actor=run.actor,
        at=at,
        reason=reason,
        alias=alias,
        trainer=trainer,
        subject_hash=subject.digest(),
    )
    run.append(
        EVIDENCE,
        evidence_frame(
            request_id=event.request_id,
            model=model,
            version=version,
            payload=evidence.text,
            digest=evidence.digest,
            at=at,
            run_id=run.run_id,
        ),
    )
    return fold_requests([event])[event.request_id], event, subject.digest()


def request_promotion(
    ctx: Context,
    *,
    model: str,
    version: str,
    reason: str,
    actor: str,
    trigger: dict[str, Any] | None = None,
    alias: str = PRODUCTION_ALIAS,
) -> PromotionResult:
    """Put `version` up for review for `alias` (champion, or challenger: shadow scoring);
    `trigger` (what monitoring saw) joins the evidence when given."""
    reason = _require_reason(reason)
    alias = parse_alias(alias)
    with job_run(ctx, job="promote_request", actor=actor, model=model) as run:
        access = run.authorize(Action.REQUEST_PROMOTION, object_type="model_version", object_id=f"{model}/{version}")
        ctx.registry.version(model, version)
        requests = list(fold_requests(promotion_events(ctx.store, model=model)).values())
        current = ctx.registry.alias_version(model, alias)
        refusal = request_refusal(
            model=model,
            version=version,
            open_requests=requests,
            current_version=current,
            alias=alias,
            champion=ctx.registry.alias_version(model, PRODUCTION_ALIAS),
        )
        if refusal:
            raise _refuse(run, Action.REQUEST_PROMOTION, f"{model}/{version}", refusal)
        now = run.now()
        request, event, _ = _open_request(
            run, model=model, version=version, reason=reason, at=now, trigger=trigger, alias=alias
        )
        run.append(PROMOTIONS, promotion_frame([event], run_id=run.run_id))
        verdict = policy_verdict(request, review=review_context(ctx, request, access=access, now=now))
        ctx.registry.set_version_tags(model, version, approval_tags(request, verdict=verdict))
        run.audit(
            action=AuditAction.REQUEST_PROMOTION,
            object_type="promotion_request",
            object_id=request.request_id,
            reason=reason,
            details={"model": model, "version": version, "alias": alias, "current": current or ""},
        )
    return promotion_result(request, verdict)


def approve(ctx: Context, *, request_id: str, reason: str, actor: str) -> PromotionResult:
    reason = _require_reason(reason)
    with job_run(ctx, job="promote_approve", actor=actor) as run:
        access = run.authorize(Action.APPROVE, object_type="promotion_request", object_id=request_id)
        request = find_request(ctx, request_id)
        run.model = request.model
        now = run.now()
        review = review_context(ctx, request, access=access, now=now)
        try:
            verdict = decide_approval(request, actor=actor, review=review)
        except PolicyViolation as refusal:
            raise _refuse(run, Action.APPROVE, request_id, str(refusal)) from None
        vote = _event(
            request,
            PromotionEventKind.APPROVED,
            run=run,
            reason=reason,
            at=now,
            subject_hash=review.subject_hash,
            actor_roles=access.roles_of(actor),
        )
        events = [vote]
        quorum_without_gates = len(verdict.counted) >= verdict.required and not verdict.subject_changed
        promote = request.status is PromotionStatus.PENDING and verdict.promotable
        reviewed = request.status is PromotionStatus.BREAK_GLASS and quorum_without_gates
        if promote:
            previous = ctx.registry.alias_version(request.model, request.alias)
            move = AliasMove(
                model=request.model,
                alias=request.alias,
                version=request.version,
                previous=previous,
                kind=MoveKind.PROMOTED,
                request_id=request_id,
                actor=actor,
                reason=f"approved by {', '.join(verdict.counted)}",
                at=now,
            )
            _move_alias(run, move)
            events.append(
                _event(
                    request,
                    PromotionEventKind.PROMOTED,
                    run=run,
                    reason="policy met",
                    at=now,
                    subject_hash=review.subject_hash,
                )
            )
        if reviewed:
            events.append(
                _event(
                    request,
                    PromotionEventKind.REVIEWED,
                    run=run,
                    reason="after-the-fact review met",
                    at=now,
                    subject_hash=review.subject_hash,
                )
            )
        run.append(PROMOTIONS, promotion_frame(events, run_id=run.run_id))
        after = find_request(ctx, request_id)
        ctx.registry.set_version_tags(request.model, request.version, approval_tags(after, verdict=verdict))
        run.audit(
            action=AuditAction.APPROVE,
            object_type="promotion_request",
            object_id=request_id,
            reason=reason,
            details={"model": request.model, "version": request.version, "approvals": list(verdict.counted)},
        )
        if promote:
            run.audit(
                action=AuditAction.PROMOTE,
                object_type="model_version",
                object_id=f"{request.model}/{request.version}",
                reason=f"request {request_id}: {len(verdict.counted)} of {verdict.required} approvals",
                details={"alias": request.alias, "previous": move.previous or "", "approved_by": list(verdict.counted)},
            )
    return promotion_result(after, verdict, alias_moved=promote)


def reject(ctx: Context, *, request_id: str, reason: str, actor: str) -> PromotionResult:
    reason = _require_reason(reason)
    with job_run(ctx, job="promote_reject", actor=actor) as run:
        access = run.authorize(Action.REJECT, object_type="promotion_request", object_id=request_id)
        request = find_request(ctx, request_id)
        run.model = request.model
        now = run.now()
        review = review_context(ctx, request, access=access, now=now)
        refusal = rejection_refusal(request, actor=actor, review=review)
        if refusal:
            raise _refuse(run, Action.REJECT, request_id, refusal)
        event = _event(
            request, PromotionEventKind.REJECTED, run=run, reason=reason, at=now, actor_roles=access.roles_of(actor)
        )
        run.append(PROMOTIONS, promotion_frame([event], run_id=run.run_id))
        after = find_request(ctx, request_id)
        verdict = policy_verdict(after, review=review)
        ctx.registry.set_version_tags(request.model, request.version, approval_tags(after, verdict=verdict))
        run.audit(
            action=AuditAction.REJECT,
            object_type="promotion_request",
            object_id=request_id,
            reason=reason,
            details={"model": request.model, "version": request.version, "after_break_glass": request.break_glass},
        )
    return promotion_result(after, verdict)


def force_promotion(ctx: Context, *, model: str, version: str, reason: str, actor: str) -> PromotionResult:
    """Break-glass: an admin moves the alias now; the request stays open for review after the fact."""
    reason = _require_reason(reason)
    with job_run(ctx, job="promote_force", actor=actor, model=model) as run:
        access = run.authorize(Action.FORCE_PROMOTION, object_type="model_version", object_id=f"{model}/{version}")
        if len(reason) < MIN_BREAK_GLASS_JUSTIFICATION:
            raise InputError(
                "a break-glass promotion needs a written justification "
                f"of at least {MIN_BREAK_GLASS_JUSTIFICATION} characters"
            )
        ctx.registry.version(model, version)
        previous = ctx.registry.alias_version(model, PRODUCTION_ALIAS)
        if previous == version:
            raise PolicyViolation(f"{model} version {version} already holds the {PRODUCTION_ALIAS} alias")
        now = run.now()
        request, requested, subject_hash = _open_request(run, model=model, version=version, reason=reason, at=now)
        move = AliasMove(
            model=model,
            alias=PRODUCTION_ALIAS,
            version=version,
            previous=previous,
            kind=MoveKind.BREAK_GLASS,
            request_id=request.request_id,
            actor=actor,
            reason=reason,
            at=now,
        )
        _move_alias(run, move)
        forced = _event(request, PromotionEventKind.FORCED, run=run, reason=reason, at=now, subject_hash=subject_hash)
        run.append(PROMOTIONS, promotion_frame([requested, forced], run_id=run.run_id))
        after = find_request(ctx, request.request_id)
        verdict = policy_verdict(after, review=review_context(ctx, after, access=access, now=now))
        ctx.registry.set_version_tags(model, version, approval_tags(after, verdict=verdict))
        run.audit(
            action=AuditAction.BREAK_GLASS_PROMOTION,
            object_type="model_version",
            object_id=f"{model}/{version}",
            reason=reason,
            details={"break_glass": "true", "request_id": request.request_id, "previous": previous or ""},
        )
    return promotion_result(after, verdict, alias_moved=True)


def rollback(ctx: Context, *, model: str, reason: str, actor: str) -> AliasMove:
    """Return the champion alias to the previous version that passed review, in one step."""
    reason = _require_reason(reason)
    with job_run(ctx, job="promote_rollback", actor=actor, model=model) as run:
        run.authorize(Action.ROLLBACK, object_type="model", object_id=model)
        moves = alias_moves(ctx.store, model=model)
        requests = fold_requests(promotion_events(ctx.store, model=model))
        champion_moves = [m for m in moves if m.alias == PRODUCTION_ALIAS]  # a challenger's review is lighter
        approved = frozenset(
            m.version
            for m in champion_moves
            if m.kind is MoveKind.PROMOTED
            or (m.kind is MoveKind.BREAK_GLASS and requests[m.request_id].status is PromotionStatus.PROMOTED)
        )
        target = rollback_target(moves, alias=PRODUCTION_ALIAS, approved=approved)
        if target is None:
            raise PolicyViolation(f"{model} has no earlier approved {PRODUCTION_ALIAS} version to roll back to")
        current = ctx.registry.alias_version(model, PRODUCTION_ALIAS)
        move = AliasMove(
            model=model,
            alias=PRODUCTION_ALIAS,
            version=target,
            previous=current,
            kind=MoveKind.ROLLED_BACK,
            request_id="",
            actor=actor,
            reason=reason,
            at=run.now(),
        )
        _move_alias(run, move)
        ctx.registry.set_version_tags(model, target, {"mlgov.rolled_back_from": current or ""})
        run.audit(
            action=AuditAction.ROLLBACK,
            object_type="model_version",
            object_id=f"{model}/{target}",
            reason=reason,
            details={"alias": PRODUCTION_ALIAS, "from": current or "", "to": target},
        )
    return move
