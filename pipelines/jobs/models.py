"""A model's own policy: its risk tier and stated purpose (admins only; audited)."""

from __future__ import annotations

from governance.audit.actions import AuditAction
from governance.errors import InputError
from governance.promotion import parse_tier
from governance.roles import Action
from pipelines.context import Context, job_run
from pipelines.reads.evidence import PURPOSE_TAG
from pipelines.reads.promotions import TIER_TAG


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
        run.audit(action=AuditAction.SET_MODEL_POLICY, object_type="model", object_id=model, details=changes)
    return changes
