"""Promotion requests, reviews, break-glass promotions and rollbacks.

The alias in MLflow moves only when governance.promotion says the policy is met (or an admin
forces it, which is flagged and reviewed after the fact), and every move is recorded in
governance/aliases so its history can be answered for any instant.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from governance.aliases import AliasInterval, AliasMove, MoveKind, holder_at, rollback_target, timeline
from governance.errors import InputError, NotFoundError, PolicyViolation
from governance.promotion import (
    PRODUCTION_ALIAS,
    PolicyVerdict,
    PromotionEvent,
    PromotionEventKind,
    PromotionRequest,
    PromotionStatus,
    ReviewContext,
    RiskTier,
    alias_policy,
    approval_tags,
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
)
from governance.roles import AccessPolicy, Action
from lakehouse.records import (
    access_policy,
    alias_move_frame,
    alias_moves,
    evidence_frame,
    promotion_events,
    promotion_frame,
    request_evidence,
)
from lakehouse.schemas import ALIASES, EVIDENCE, PROMOTIONS
from pipelines.context import Context, JobRun, job_run
from pipelines.jobs.train import version_recipe
from pipelines.reads.evidence import PURPOSE_TAG, compute_evidence, current_subject

TIER_TAG = "mlgov.risk_tier"
MIN_BREAK_GLASS_JUSTIFICATION = 20


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


def risk_tier(ctx: Context, model: str) -> RiskTier:
    """The model's risk tier; a model nobody classified is treated as medium risk."""
    return tier_from_tags(ctx.registry.model_tags(model))


def tier_from_tags(tags: Mapping[str, str]) -> RiskTier:
    """The risk tier a registered model's tags give it (medium when unclassified)."""
    return RiskTier(tags.get(TIER_TAG, RiskTier.MEDIUM.value))


def _require_reason(reason: str) -> str:
    if not reason.strip():
        raise InputError("a reason is required: pass --reason TEXT")
    return reason.strip()


def find_request(ctx: Context, request_id: str) -> PromotionRequest:
    request = fold_requests(promotion_events(ctx.store)).get(request_id)
    if request is None:
        raise NotFoundError(f"promotion request {request_id!r} does not exist")
    return request


def review_context(ctx: Context, request: PromotionRequest, *, access: AccessPolicy, now: datetime) -> ReviewContext:
    """What a review of `request` is judged against right now: policy, subject and gates."""
    stored = request_evidence(ctx.store, request_id=request.request_id)
    if stored is None:
        raise NotFoundError(f"request {request.request_id} has no evidence attached")
    payload, evaluation_digest = json.loads(stored[0]), stored[1]
    tier = tier_policy(risk_tier(ctx, request.model), medium_approvals=ctx.settings.required_approvals)
    policy = alias_policy(tier, alias=request.alias)
    subject = current_subject(ctx, model=request.model, version=request.version, evaluation_digest=evaluation_digest)
    champion = payload.get("champion") or {}
    gates = metric_gates(candidate=payload["candidate"]["metrics"], champion=champion.get("metrics"), policy=policy)
    return ReviewContext(access=access, policy=policy, subject_hash=subject.digest(), now=now, gates=gates)


def _refuse(run: JobRun, action: Action, object_id: str, refusal: str) -> PolicyViolation:
    run.audit(
        action=action.value, object_type="promotion_request", object_id=object_id, outcome="refused", reason=refusal
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
            action="request_promotion",
            object_type="promotion_request",
            object_id=request.request_id,
            reason=reason,
            details={"model": model, "version": version, "alias": alias, "current": current or ""},
        )
    return _result(request, verdict)


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
            action="approve",
            object_type="promotion_request",
            object_id=request_id,
            reason=reason,
            details={"model": request.model, "version": request.version, "approvals": list(verdict.counted)},
        )
        if promote:
            run.audit(
                action="promote",
                object_type="model_version",
                object_id=f"{request.model}/{request.version}",
                reason=f"request {request_id}: {len(verdict.counted)} of {verdict.required} approvals",
                details={"alias": request.alias, "previous": move.previous or "", "approved_by": list(verdict.counted)},
            )
    return _result(after, verdict, alias_moved=promote)


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
            action="reject",
            object_type="promotion_request",
            object_id=request_id,
            reason=reason,
            details={"model": request.model, "version": request.version, "after_break_glass": request.break_glass},
        )
    return _result(after, verdict)


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
            action="break_glass_promotion",
            object_type="model_version",
            object_id=f"{model}/{version}",
            reason=reason,
            details={"break_glass": "true", "request_id": request.request_id, "previous": previous or ""},
        )
    return _result(after, verdict, alias_moved=True)


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
            action="rollback",
            object_type="model_version",
            object_id=f"{model}/{target}",
            reason=reason,
            details={"alias": PRODUCTION_ALIAS, "from": current or "", "to": target},
        )
    return move


def set_model_policy(
    ctx: Context, *, model: str, actor: str, tier: str | None = None, purpose: str | None = None
) -> dict[str, str]:
    """Classify a model's risk tier and state its purpose (admins only; audited)."""
    with job_run(ctx, job="model_set", actor=actor, model=model) as run:
        run.authorize(Action.SET_RISK_TIER, object_type="model", object_id=model)
        ctx.registry.require_model(model)
        changes: dict[str, str] = {}
        if tier is not None:
            changes[TIER_TAG] = parse_tier(tier).value
        if purpose is not None:
            changes[PURPOSE_TAG] = purpose.strip()
        if not changes:
            raise InputError("nothing to set: pass --tier and/or --purpose")
        for key, value in changes.items():
            ctx.registry.set_model_tag(model, key, value)
        run.audit(action="set_model_policy", object_type="model", object_id=model, details=changes)
    return changes


def show_request(ctx: Context, *, request_id: str) -> dict[str, Any]:
    """The request, its evidence, each approval (and whether it counts), and the verdict.

    An open request is judged as of now. A decided one is judged as it was decided: at its decision
    time, with each approver's roles as recorded in their approval, on the subject it was filed on.
    """
    request = find_request(ctx, request_id)
    if request.open or request.decided_at is None:
        review = review_context(ctx, request, access=access_policy(ctx.store), now=ctx.clock())
    else:
        then = review_context(ctx, request, access=AccessPolicy(), now=request.decided_at)
        recorded = AccessPolicy({vote.actor: vote.roles for vote in request.approvals})
        review = replace(then, access=recorded, subject_hash=request.decided_subject_hash or request.subject_hash)
    verdict = policy_verdict(request, review=review)
    stored = request_evidence(ctx.store, request_id=request_id)
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
            }
            for v in request.approvals
        ],
        "rejection": None
        if request.rejection is None
        else {
            "actor": request.rejection.actor,
            "at": request.rejection.at.isoformat(),
            "reason": request.rejection.reason,
        },
        "policy": _verdict_document(verdict),
    }


def _verdict_document(verdict: PolicyVerdict) -> dict[str, Any]:
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
    moves = alias_moves(ctx.store, model=model)
    if at is None:
        return timeline(moves, alias=alias)
    held = holder_at(moves, alias=alias, at=at)
    return [held] if held else []


def _result(request: PromotionRequest, verdict: PolicyVerdict, *, alias_moved: bool = False) -> PromotionResult:
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
