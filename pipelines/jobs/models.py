"""A model's own policy (its risk tier, stated purpose and fixed data-quality limits) and the approvals
each tier needs: admins change them, on the audit chain, and nothing else (no MLflow tag, no
environment variable) does."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from governance.audit.actions import AuditAction
from governance.errors import InputError
from governance.promotion import RiskTier, parse_tier
from governance.quality import parse_quality_limit
from governance.roles import Action
from lakehouse.records import PolicyScope, policy_frame
from lakehouse.schemas import POLICIES
from pipelines.context import Change, Context, job_run
from pipelines.jobs.promote import require_reason
from pipelines.jobs.registry import mirror_model
from pipelines.reads.governed import PURPOSE_TAG, TIER_TAG, approval_policy
from pipelines.reads.segments import slicing_settings
from pipelines.reads.versions import latest_recipe

MAX_APPROVALS = 10


def set_model_policy(
    ctx: Context,
    *,
    model: str,
    actor: str,
    tier: str | None = None,
    purpose: str | None = None,
    quality: Sequence[str] = (),
    segments: Sequence[str] = (),
    protected: Sequence[str] = (),
    reason: str = "",
) -> dict[str, str]:
    """Classify a model's risk tier, state its purpose and fix data-quality limits per check and column
        (`CHECK:COLUMN=MAX`, which monitoring then holds that column to instead of the derived or default
        threshold), the columns its batches are sliced by (`--segment`) and its protected attributes
    (`--protected`); admins only, audited. Returns the settings as the mirrored MLflow tags name them (tier,
        purpose) and as the policy names them (`quality:<check>:<column>`)."""
    with job_run(ctx, job="model_set", actor=actor, model=model) as run:
        run.authorize(Action.SET_RISK_TIER, object_type="model", object_id=model)
        ctx.registry.require_model(model)
        settings: dict[str, str] = {}
        if tier is not None:
            settings["risk_tier"] = parse_tier(tier).value
        if purpose is not None:
            settings["purpose"] = purpose.strip()
        if quality:
            columns = frozenset(latest_recipe(ctx, model).spec.columns)
            limits = [parse_quality_limit(text, columns=columns) for text in quality]
            settings |= {limit.setting: f"{limit.limit:g}" for limit in limits}
        if segments or protected:
            settings |= slicing_settings(ctx, model, segments=segments, protected=protected)
        if not settings:
            raise InputError("nothing to set: pass --tier, --purpose, --quality, --segment and/or --protected")
        tags = {_shown(name): value for name, value in settings.items()}
        rows = policy_frame(
            scope=PolicyScope.MODEL,
            subject=model,
            settings=settings,
            actor=actor,
            reason=reason,
            at=run.now(),
            run_id=run.run_id,
        )
        change = Change(
            action=AuditAction.SET_MODEL_POLICY,
            object_type="model",
            object_id=model,
            reason=reason,
            details=tags,
            rows={POLICIES: rows},
        )
        run.govern(lambda _version: [change])
        mirror_model(ctx, model)
    return tags


def _shown(setting: str) -> str:
    return {"risk_tier": TIER_TAG, "purpose": PURPOSE_TAG}.get(setting, setting)


@dataclass(frozen=True)
class ApprovalPolicyResult:
    tier: str
    approvals: int
    previous: int


def set_approval_policy(ctx: Context, *, tier: str, approvals: int, actor: str, reason: str) -> ApprovalPolicyResult:
    """Set how many distinct reviewers a promotion of a model of `tier` needs (admins only; audited)."""
    parsed = parse_tier(tier)
    if not 1 <= approvals <= MAX_APPROVALS:
        raise InputError(f"--approvals {approvals}: expected a whole number from 1 to {MAX_APPROVALS}")
    require_reason(reason)
    with job_run(ctx, job="policy_set", actor=actor) as run:
        run.authorize(Action.MANAGE_ACCESS, object_type="policy", object_id=parsed.value)
        previous = approval_policy(ctx)[parsed]
        rows = policy_frame(
            scope=PolicyScope.TIER,
            subject=parsed.value,
            settings={"approvals": str(approvals)},
            actor=actor,
            reason=reason.strip(),
            at=run.now(),
            run_id=run.run_id,
        )
        change = Change(
            action=AuditAction.SET_APPROVAL_POLICY,
            object_type="policy",
            object_id=f"approvals/{parsed.value}",
            reason=reason.strip(),
            details={"tier": parsed.value, "approvals": str(approvals), "previous": str(previous)},
            rows={POLICIES: rows},
        )
        run.govern(lambda _version: [change])
    return ApprovalPolicyResult(tier=parsed.value, approvals=approvals, previous=previous)


def approval_policy_document(ctx: Context) -> dict[str, int]:
    policy = approval_policy(ctx)
    return {tier.value: policy[tier] for tier in RiskTier}
