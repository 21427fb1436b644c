"""The governed record's answers to "who holds this alias", "what tier is this model", "how many
approvals does a tier need": read from the audit chain (`lakehouse.ledger`), at its latest version or
at a given one, never from MLflow's aliases and tags (which only mirror them)."""

from __future__ import annotations

from collections.abc import Mapping

from governance.promotion import RiskTier, TierPolicy, alias_policy, default_approvals, tier_policy
from lakehouse.records import PolicyScope, policy_settings
from lakehouse.schemas import ALIASES
from pipelines.context import Context

TIER_TAG = "mlgov.risk_tier"  # MLflow's mirror of the model's risk tier (the chain holds the truth)
PURPOSE_TAG = "mlgov.purpose"  # ... and of its stated purpose


def model_settings(ctx: Context, *, version: int | None = None) -> dict[str, dict[str, str]]:
    """Every model's policy settings on the chain (risk_tier, purpose), by model."""
    return policy_settings(ctx.ledger, scope=PolicyScope.MODEL, version=version)


def risk_tier(ctx: Context, model: str, *, version: int | None = None) -> RiskTier:
    """The model's risk tier on the chain; a model nobody classified is treated as medium risk."""
    return tier_of(model_settings(ctx, version=version).get(model, {}))


def tier_of(settings: Mapping[str, str]) -> RiskTier:
    return RiskTier(settings.get("risk_tier", RiskTier.MEDIUM.value))


def approval_policy(ctx: Context, *, version: int | None = None) -> dict[RiskTier, int]:
    """The approvals each risk tier needs, as the chain's approval policy says (defaults where unset)."""
    recorded = policy_settings(ctx.ledger, scope=PolicyScope.TIER, version=version)
    defaults = default_approvals()
    return {tier: int(recorded.get(tier.value, {}).get("approvals", defaults[tier])) for tier in RiskTier}


def governed_policy(ctx: Context, model: str, *, alias: str, version: int | None = None) -> TierPolicy:
    """What moving `alias` of `model` needs, from the chain: its tier, and the approvals that tier needs."""
    tier = tier_policy(risk_tier(ctx, model, version=version), approvals=approval_policy(ctx, version=version))
    return alias_policy(tier, alias=alias)


def alias_holders(ctx: Context, *, version: int | None = None) -> dict[str, dict[str, str]]:
    """Which version holds each alias of each model, as the chain's alias moves say."""
    holders: dict[str, dict[str, str]] = {}
    for row in ctx.ledger.table(ALIASES, version=version).select("model", "alias", "version").iter_rows():
        holders.setdefault(row[0], {})[row[1]] = row[2]  # chain order: the latest move wins
    return holders


def alias_holder(ctx: Context, model: str, alias: str, *, version: int | None = None) -> str | None:
    """The version holding `alias` of `model` on the governed record (None: none yet)."""
    return alias_holders(ctx, version=version).get(model, {}).get(alias)
