"""mlgov registry and mlgov policy: MLflow as a mirror of the governed record, and the approval policy."""

from __future__ import annotations

import sys
from dataclasses import asdict

import click

from pipelines.cli.support import EXIT_REFUSED, actor_option, emit, json_option, load_context, reason_option


@click.group()
def registry() -> None:
    """Compare MLflow's aliases and mlgov.* tags with the governed record, and repair them."""


@registry.command("check")
@json_option
def registry_check(as_json: bool) -> None:
    """List every alias and tag where MLflow differs from the governed record (exit 1 if any)."""
    from pipelines.jobs.registry import check_registry

    result = check_registry(load_context())
    lines = [d.describe() for d in result.divergences] or ["MLflow agrees with the governed record"]
    emit(result.document(), as_json=as_json, lines=lines)
    if not result.ok:
        sys.exit(EXIT_REFUSED)


@registry.command("reconcile")
@actor_option
@json_option
def registry_reconcile(actor: str, as_json: bool) -> None:
    """Restore MLflow's aliases and mlgov.* tags from the governed record (admins only)."""
    from pipelines.jobs.registry import reconcile_registry

    result = reconcile_registry(load_context(), actor=actor)
    restored = len(result.divergences)
    emit(
        {"restored": restored, "divergences": result.document()["divergences"]},
        as_json=as_json,
        lines=[f"restored {restored} aliases and tags from the governed record"],
    )


@click.group()
def policy() -> None:
    """The approval policy: how many distinct reviewers each risk tier needs."""


@policy.command("show")
@json_option
def policy_show(as_json: bool) -> None:
    """The approvals each risk tier needs, as the governed record says."""
    from pipelines.jobs.models import approval_policy_document

    document = approval_policy_document(load_context())
    emit(document, as_json=as_json, lines=[f"{tier}: {n} approvals" for tier, n in document.items()])


@policy.command("set")
@click.option("--tier", type=click.Choice(["low", "medium", "high"]), required=True)
@click.option("--approvals", type=int, required=True, help="Distinct eligible reviewers a promotion needs.")
@actor_option
@reason_option
@json_option
def policy_set(tier: str, approvals: int, actor: str, reason: str, as_json: bool) -> None:
    """Set how many approvals promotions of TIER models need (admins only; audited)."""
    from pipelines.jobs.models import set_approval_policy

    result = set_approval_policy(load_context(), tier=tier, approvals=approvals, actor=actor, reason=reason)
    emit(
        asdict(result),
        as_json=as_json,
        lines=[f"{result.tier} risk: {result.approvals} approvals (was {result.previous})"],
    )
