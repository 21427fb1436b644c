"""Promotion requests, reviews, break-glass promotions and rollbacks.

Every change is decided by governance.promotion on the governed record (the audit chain) as it is at
the moment of the commit, and recorded there in the same step: when two reviewers act at once, the
second decision is taken again on the state the first one left. An alias moves on the chain first;
MLflow's alias and tags are then set to mirror it. Should that mirror fail or be changed behind
mlgov's back, production still follows the chain (`mlgov registry check` reports the difference,
`mlgov registry reconcile` repairs it).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from governance.aliases import AliasMove, MoveKind, rollback_target, timeline
from governance.audit.actions import AuditAction
from governance.errors import InputError, PolicyViolation
from governance.promotion import (
    MIN_BREAK_GLASS_JUSTIFICATION,
    PRODUCTION_ALIAS,
    PolicyVerdict,
    PromotionEvent,
    PromotionEventKind,
    PromotionRequest,
    PromotionStatus,
    ReviewContext,
    approval_tags,
    decide_approval,
    fold_requests,
    parse_alias,
    policy_verdict,
    rejection_refusal,
    request_refusal,
    withdrawal_refusal,
)
from governance.roles import Action, authorize
from lakehouse.records import (
    access_policy,
    alias_move_frame,
    alias_moves,
    evidence_frame,
    promotion_events,
    promotion_frame,
)
from lakehouse.schemas import ALIASES, EVIDENCE, PROMOTIONS
from pipelines.context import Change, Context, JobRun, Refused, job_run
from pipelines.jobs.registry import mirror_model
from pipelines.reads.evidence import Evidence, compute_evidence, current_subject
from pipelines.reads.governed import alias_holder
from pipelines.reads.promotions import (
    PromotionResult,
    approved_champions,
    find_request,
    promotion_result,
    review_context,
    subject_now,
)
from pipelines.reads.versions import version_recipe


def require_reason(reason: str) -> str:
    if not reason.strip():
        raise InputError("a reason is required: say why, in words a reviewer or auditor will read")
    return reason.strip()


def _governed(run: JobRun, action: Action, object_id: str, decide: Any) -> None:
    """Record the changes `decide` makes; a refusal (at any attempt) is audited and raised."""
    run.govern(decide, refused=Refused(action, "promotion_request", object_id))


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


def _holder(run: JobRun, model: str, alias: str, version: int | None) -> str | None:
    return alias_holder(run.ctx, model, alias, version=version)


def _still_allowed(run: JobRun, action: Action, version: int | None) -> None:
    """The actor still holds a role that permits `action` at the moment of the commit."""
    try:
        authorize(access_policy(run.ctx.ledger, version=version), user=run.actor, action=action)
    except Exception as refusal:
        raise PolicyViolation(str(refusal)) from None


def _prepare_request(
    run: JobRun, *, model: str, version: str, reason: str, trigger: dict[str, Any] | None, alias: str
) -> tuple[PromotionEvent, Evidence]:
    """A new request and its evidence (computed outside the commit: it evaluates models)."""
    ctx = run.ctx
    trainer = version_recipe(ctx, model, version).trainer
    evidence = compute_evidence(ctx, model=model, version=version, trigger=trigger)
    subject = current_subject(ctx, model=model, version=version, evaluation_digest=evidence.digest)
    event = PromotionEvent(
        request_id=f"pr-{uuid.uuid4().hex[:10]}",
        kind=PromotionEventKind.REQUESTED,
        model=model,
        version=version,
        actor=run.actor,
        at=run.now(),
        reason=reason,
        alias=alias,
        trainer=trainer,
        subject_hash=subject.digest(),
    )
    return event, evidence


def _evidence_rows(run: JobRun, event: PromotionEvent, evidence: Evidence) -> Any:
    return evidence_frame(
        request_id=event.request_id,
        model=event.model,
        version=event.version,
        payload=evidence.text,
        digest=evidence.digest,
        at=event.at,
        run_id=run.run_id,
    )


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
    reason = require_reason(reason)
    alias = parse_alias(alias)
    with job_run(ctx, job="promote_request", actor=actor, model=model) as run:
        run.authorize(Action.REQUEST_PROMOTION, object_type="model_version", object_id=f"{model}/{version}")
        ctx.registry.version(model, version)
        event, evidence = _prepare_request(
            run, model=model, version=version, reason=reason, trigger=trigger, alias=alias
        )
        request = fold_requests([event])[event.request_id]
        current: str | None = None

        def decide(audit_version: int | None) -> list[Change]:
            nonlocal current
            _still_allowed(run, Action.REQUEST_PROMOTION, audit_version)
            current = _holder(run, model, alias, audit_version)
            refusal = request_refusal(
                model=model,
                version=version,
                open_requests=list(
                    fold_requests(promotion_events(ctx.ledger, model=model, version=audit_version)).values()
                ),
                current_version=current,
                alias=alias,
                champion=_holder(run, model, PRODUCTION_ALIAS, audit_version),
            )
            if refusal:
                raise PolicyViolation(refusal)
            return [
                Change(
                    action=AuditAction.REQUEST_PROMOTION,
                    object_type="promotion_request",
                    object_id=event.request_id,
                    reason=reason,
                    details={"model": model, "version": version, "alias": alias, "current": current or ""},
                    rows={
                        EVIDENCE: _evidence_rows(run, event, evidence),
                        PROMOTIONS: promotion_frame([event], run_id=run.run_id),
                    },
                )
            ]

        _governed(run, Action.REQUEST_PROMOTION, f"{model}/{version}", decide)
        verdict = policy_verdict(
            request,
            review=review_context(
                ctx, request, access=access_policy(ctx.ledger), now=event.at, subject_hash=event.subject_hash
            ),
        )
        mirror_model(ctx, model, version_tags={version: approval_tags(request, verdict=verdict)})
    return promotion_result(request, verdict)


def approve(ctx: Context, *, request_id: str, reason: str, actor: str) -> PromotionResult:
    reason = require_reason(reason)
    with job_run(ctx, job="promote_approve", actor=actor) as run:
        run.authorize(Action.APPROVE, object_type="promotion_request", object_id=request_id)
        subject_hash = subject_now(ctx, find_request(ctx, request_id))  # re-hashes the artifact: not under the lock
        outcome: tuple[PromotionRequest, PolicyVerdict, bool] | None = None

        def decide(audit_version: int | None) -> list[Change]:
            nonlocal outcome
            request = find_request(ctx, request_id, version=audit_version)
            run.model = request.model
            now = run.now()
            access = access_policy(ctx.ledger, version=audit_version)
            review = review_context(
                ctx, request, access=access, now=now, subject_hash=subject_hash, version=audit_version
            )
            verdict = decide_approval(request, actor=actor, review=review)
            vote = _event(
                request,
                PromotionEventKind.APPROVED,
                run=run,
                reason=reason,
                at=now,
                subject_hash=review.subject_hash,
                actor_roles=access.roles_of(actor),
            )
            quorum_without_gates = len(verdict.counted) >= verdict.required and not verdict.subject_changed
            promote = request.status is PromotionStatus.PENDING and verdict.promotable
            reviewed = request.status is PromotionStatus.BREAK_GLASS and quorum_without_gates
            changes = [
                Change(
                    action=AuditAction.APPROVE,
                    object_type="promotion_request",
                    object_id=request_id,
                    reason=reason,
                    details={"model": request.model, "version": request.version, "approvals": list(verdict.counted)},
                    rows={PROMOTIONS: promotion_frame([vote], run_id=run.run_id)},
                )
            ]
            if promote:
                changes.append(_promotion_change(run, request, verdict, review, version=audit_version, at=now))
            if reviewed:
                event = _event(
                    request,
                    PromotionEventKind.REVIEWED,
                    run=run,
                    reason="after-the-fact review met",
                    at=now,
                    subject_hash=review.subject_hash,
                )
                changes[0] = Change(
                    **{**changes[0].__dict__, "rows": {PROMOTIONS: promotion_frame([vote, event], run_id=run.run_id)}}
                )
            after = fold_requests([*promotion_events(ctx.ledger, model=request.model, version=audit_version), vote])
            outcome = (after[request_id], verdict, promote)
            return changes

        _governed(run, Action.APPROVE, request_id, decide)
        assert outcome is not None
        request, verdict, promoted = outcome
        after = find_request(ctx, request_id)
        mirror_model(ctx, request.model, version_tags={request.version: approval_tags(after, verdict=verdict)})
    return promotion_result(after, verdict, alias_moved=promoted)


def _promotion_change(
    run: JobRun,
    request: PromotionRequest,
    verdict: PolicyVerdict,
    review: ReviewContext,
    *,
    version: int | None,
    at: datetime,
) -> Change:
    """The alias moves to the request's version because the policy is met."""
    previous = _holder(run, request.model, request.alias, version)
    move = AliasMove(
        model=request.model,
        alias=request.alias,
        version=request.version,
        previous=previous,
        kind=MoveKind.PROMOTED,
        request_id=request.request_id,
        actor=run.actor,
        reason=f"approved by {', '.join(verdict.counted)}",
        at=at,
    )
    promoted = _event(
        request, PromotionEventKind.PROMOTED, run=run, reason="policy met", at=at, subject_hash=review.subject_hash
    )
    return Change(
        action=AuditAction.PROMOTE,
        object_type="model_version",
        object_id=f"{request.model}/{request.version}",
        reason=f"request {request.request_id}: {len(verdict.counted)} of {verdict.required} approvals",
        details={"alias": request.alias, "previous": previous or "", "approved_by": list(verdict.counted)},
        rows={
            PROMOTIONS: promotion_frame([promoted], run_id=run.run_id),
            ALIASES: alias_move_frame(move, run_id=run.run_id),
        },
    )


def reject(ctx: Context, *, request_id: str, reason: str, actor: str) -> PromotionResult:
    reason = require_reason(reason)
    with job_run(ctx, job="promote_reject", actor=actor) as run:
        run.authorize(Action.REJECT, object_type="promotion_request", object_id=request_id)
        subject_hash = subject_now(ctx, find_request(ctx, request_id))
        outcome: tuple[PromotionRequest, ReviewContext] | None = None

        def decide(audit_version: int | None) -> list[Change]:
            nonlocal outcome
            request = find_request(ctx, request_id, version=audit_version)
            run.model = request.model
            now = run.now()
            access = access_policy(ctx.ledger, version=audit_version)
            review = review_context(
                ctx, request, access=access, now=now, subject_hash=subject_hash, version=audit_version
            )
            refusal = rejection_refusal(request, actor=actor, review=review)
            if refusal:
                raise PolicyViolation(refusal)
            event = _event(
                request, PromotionEventKind.REJECTED, run=run, reason=reason, at=now, actor_roles=access.roles_of(actor)
            )
            outcome = (request, review)
            return [
                Change(
                    action=AuditAction.REJECT,
                    object_type="promotion_request",
                    object_id=request_id,
                    reason=reason,
                    details={
                        "model": request.model,
                        "version": request.version,
                        "after_break_glass": request.break_glass,
                    },
                    rows={PROMOTIONS: promotion_frame([event], run_id=run.run_id)},
                )
            ]

        _governed(run, Action.REJECT, request_id, decide)
        assert outcome is not None
        request, review = outcome
        after = find_request(ctx, request_id)
        verdict = policy_verdict(after, review=review)
        mirror_model(ctx, request.model, version_tags={request.version: approval_tags(after, verdict=verdict)})
    return promotion_result(after, verdict)


def withdraw(ctx: Context, *, request_id: str, reason: str, actor: str) -> PromotionResult:
    """The requester takes back their pending request; its final state is "withdrawn"."""
    reason = require_reason(reason)
    with job_run(ctx, job="promote_withdraw", actor=actor) as run:
        run.authorize(Action.WITHDRAW_PROMOTION, object_type="promotion_request", object_id=request_id)

        def decide(audit_version: int | None) -> list[Change]:
            request = find_request(ctx, request_id, version=audit_version)
            run.model = request.model
            access = access_policy(ctx.ledger, version=audit_version)
            refusal = withdrawal_refusal(request, actor=actor, access=access)
            if refusal:
                raise PolicyViolation(refusal)
            event = _event(
                request,
                PromotionEventKind.WITHDRAWN,
                run=run,
                reason=reason,
                at=run.now(),
                actor_roles=access.roles_of(actor),
            )
            return [
                Change(
                    action=AuditAction.WITHDRAW_PROMOTION,
                    object_type="promotion_request",
                    object_id=request_id,
                    reason=reason,
                    details={"model": request.model, "version": request.version, "alias": request.alias},
                    rows={PROMOTIONS: promotion_frame([event], run_id=run.run_id)},
                )
            ]

        _governed(run, Action.WITHDRAW_PROMOTION, request_id, decide)
        after = find_request(ctx, request_id)
        review = review_context(
            ctx, after, access=access_policy(ctx.ledger), now=run.now(), subject_hash=after.subject_hash
        )
        verdict = policy_verdict(after, review=review)
        mirror_model(ctx, after.model, version_tags={after.version: approval_tags(after, verdict=verdict)})
    return promotion_result(after, verdict)


def force_promotion(ctx: Context, *, model: str, version: str, reason: str, actor: str) -> PromotionResult:
    """Break-glass: an admin moves the alias now; the request stays open for review after the fact."""
    reason = require_reason(reason)
    with job_run(ctx, job="promote_force", actor=actor, model=model) as run:
        run.authorize(Action.FORCE_PROMOTION, object_type="model_version", object_id=f"{model}/{version}")
        if len(reason) < MIN_BREAK_GLASS_JUSTIFICATION:
            raise InputError(
                "a break-glass promotion needs a written justification "
                f"of at least {MIN_BREAK_GLASS_JUSTIFICATION} characters"
            )
        ctx.registry.version(model, version)
        if _holder(run, model, PRODUCTION_ALIAS, None) == version:
            raise PolicyViolation(f"{model} version {version} already holds the {PRODUCTION_ALIAS} alias")
        requested, evidence = _prepare_request(
            run, model=model, version=version, reason=reason, trigger=None, alias=PRODUCTION_ALIAS
        )
        request = fold_requests([requested])[requested.request_id]

        def decide(audit_version: int | None) -> list[Change]:
            _still_allowed(run, Action.FORCE_PROMOTION, audit_version)
            previous = _holder(run, model, PRODUCTION_ALIAS, audit_version)
            if previous == version:
                raise PolicyViolation(f"{model} version {version} already holds the {PRODUCTION_ALIAS} alias")
            now = requested.at
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
            forced = _event(
                request, PromotionEventKind.FORCED, run=run, reason=reason, at=now, subject_hash=requested.subject_hash
            )
            return [
                Change(
                    action=AuditAction.BREAK_GLASS_PROMOTION,
                    object_type="model_version",
                    object_id=f"{model}/{version}",
                    reason=reason,
                    details={"break_glass": "true", "request_id": request.request_id, "previous": previous or ""},
                    rows={
                        EVIDENCE: _evidence_rows(run, requested, evidence),
                        PROMOTIONS: promotion_frame([requested, forced], run_id=run.run_id),
                        ALIASES: alias_move_frame(move, run_id=run.run_id),
                    },
                )
            ]

        run.govern(decide, refused=Refused(Action.FORCE_PROMOTION, "model_version", f"{model}/{version}"))
        after = find_request(ctx, request.request_id)
        verdict = policy_verdict(
            after,
            review=review_context(
                ctx, after, access=access_policy(ctx.ledger), now=requested.at, subject_hash=requested.subject_hash
            ),
        )
        mirror_model(ctx, model, version_tags={version: approval_tags(after, verdict=verdict)})
    return promotion_result(after, verdict, alias_moved=True)


def rollback(ctx: Context, *, model: str, reason: str, actor: str) -> AliasMove:
    """Return the champion alias to the previous version that passed review, in one step."""
    reason = require_reason(reason)
    with job_run(ctx, job="promote_rollback", actor=actor, model=model) as run:
        run.authorize(Action.ROLLBACK, object_type="model", object_id=model)
        ctx.registry.require_model(model)
        decided: list[AliasMove] = []

        def decide(audit_version: int | None) -> list[Change]:
            _still_allowed(run, Action.ROLLBACK, audit_version)
            moves = alias_moves(ctx.ledger, model=model, version=audit_version)
            target = rollback_target(
                moves, alias=PRODUCTION_ALIAS, approved=approved_champions(ctx, model, moves, version=audit_version)
            )
            if target is None:
                raise PolicyViolation(f"{model} has no earlier approved {PRODUCTION_ALIAS} version to roll back to")
            held = timeline(moves, alias=PRODUCTION_ALIAS)
            current = held[-1].version if held else None
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
            decided[:] = [move]
            return [
                Change(
                    action=AuditAction.ROLLBACK,
                    object_type="model_version",
                    object_id=f"{model}/{target}",
                    reason=reason,
                    details={"alias": PRODUCTION_ALIAS, "from": current or "", "to": target},
                    rows={ALIASES: alias_move_frame(move, run_id=run.run_id)},
                )
            ]

        run.govern(decide, refused=Refused(Action.ROLLBACK, "model", model))
        move = decided[0]
        mirror_model(ctx, model, version_tags={move.version: {"mlgov.rolled_back_from": move.previous or ""}})
    return move
