"""mlgov promote / history / model: requests, reviews, break-glass, rollback, alias history and model policy."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

import click

from pipelines.cli.support import actor_option, emit, json_option, load_context, parse_instant, reason_option


def _promotion_document(result: Any, *, keys: Sequence[str]) -> dict[str, Any]:
    document = {
        "request_id": result.request_id,
        "status": result.status.value,
        "model": result.model,
        "version": result.version,
        "approvals": len(result.approvals),
        "approved_by": list(result.approvals),
        "required": result.required,
        "alias_moved": result.alias_moved,
        "blocked_by": list(result.blocked_by),
    }
    return {k: document[k] for k in keys}


@click.group()
def promote() -> None:
    """Request, approve, reject and withdraw promotions to the champion alias; break-glass; rollback."""


@promote.command("request")
@click.argument("model")
@click.argument("version")
@click.option(
    "--alias",
    type=click.Choice(["champion", "challenger"]),
    default="champion",
    show_default=True,
    help="champion serves; challenger is scored in shadow beside it.",
)
@actor_option
@reason_option
@json_option
def promote_request(model: str, version: str, alias: str, actor: str, reason: str, as_json: bool) -> None:
    """Ask reviewers to promote MODEL VERSION; the platform attaches the evidence."""
    from pipelines.jobs.promote import request_promotion

    ctx = load_context()
    result = request_promotion(ctx, model=model, version=version, reason=reason, actor=actor, alias=alias)
    document = _promotion_document(result, keys=["request_id", "status", "model", "version", "required"])
    line = f"request {result.request_id}: {model} version {version} awaits {result.required} approvals"
    emit(document, as_json=as_json, lines=[line])


@promote.command("approve")
@click.argument("request_id")
@actor_option
@reason_option
@json_option
def promote_approve(request_id: str, actor: str, reason: str, as_json: bool) -> None:
    """Approve an open request; the alias moves once the policy is met."""
    from pipelines.jobs.promote import approve

    result = approve(load_context(), request_id=request_id, reason=reason, actor=actor)
    keys = [
        "request_id",
        "status",
        "approvals",
        "approved_by",
        "required",
        "model",
        "version",
        "alias_moved",
        "blocked_by",
    ]
    if result.alias_moved:
        count = f"{len(result.approvals)}/{result.required}"
        line = f"{result.model} version {result.version} is now champion ({count} approvals)"
    else:
        line = f"approved: {len(result.approvals)}/{result.required} approvals on {request_id}"
        line += "".join(f"\n  waiting: {reason}" for reason in result.blocked_by)
    emit(_promotion_document(result, keys=keys), as_json=as_json, lines=[line])


@promote.command("reject")
@click.argument("request_id")
@actor_option
@reason_option
@json_option
def promote_reject(request_id: str, actor: str, reason: str, as_json: bool) -> None:
    """Reject an open request."""
    from pipelines.jobs.promote import reject

    result = reject(load_context(), request_id=request_id, reason=reason, actor=actor)
    document = _promotion_document(result, keys=["request_id", "status", "model", "version"])
    emit(document, as_json=as_json, lines=[f"rejected {request_id}"])


@promote.command("withdraw")
@click.argument("request_id")
@actor_option
@reason_option
@json_option
def promote_withdraw(request_id: str, actor: str, reason: str, as_json: bool) -> None:
    """Withdraw your own pending request (its requester only)."""
    from pipelines.jobs.promote import withdraw

    result = withdraw(load_context(), request_id=request_id, reason=reason, actor=actor)
    document = _promotion_document(result, keys=["request_id", "status", "model", "version"])
    emit(document, as_json=as_json, lines=[f"withdrew {request_id}"])


@promote.command("force")
@click.argument("model")
@click.argument("version")
@actor_option
@reason_option
@json_option
def promote_force(model: str, version: str, actor: str, reason: str, as_json: bool) -> None:
    """Break-glass (admins): move the alias now; flagged, and reviewed after the fact."""
    from pipelines.jobs.promote import force_promotion

    result = force_promotion(load_context(), model=model, version=version, reason=reason, actor=actor)
    document = _promotion_document(result, keys=["request_id", "status", "model", "version", "required"])
    line = f"BREAK-GLASS: {model} version {version} is champion; review {result.request_id} is open"
    emit({**document, "break_glass": True}, as_json=as_json, lines=[line])


@promote.command("rollback")
@click.argument("model")
@actor_option
@reason_option
@json_option
def promote_rollback(model: str, actor: str, reason: str, as_json: bool) -> None:
    """Return the champion alias to the previous approved version."""
    from pipelines.jobs.promote import rollback

    move = rollback(load_context(), model=model, reason=reason, actor=actor)
    document = {"model": model, "alias": move.alias, "version": move.version, "previous": move.previous}
    emit(document, as_json=as_json, lines=[f"{model}: champion rolled back from v{move.previous} to v{move.version}"])


@promote.command("show")
@click.argument("request_id")
@json_option
def promote_show(request_id: str, as_json: bool) -> None:
    """A request with its evidence, approvals and the policy verdict."""
    from pipelines.context import to_json
    from pipelines.reads.promotions import show_request

    document = show_request(load_context(), request_id=request_id)
    request, policy = document["request"], document["policy"]
    lines = [
        f"{request['request_id']}: {request['model']} v{request['version']} -> {request['alias']} "
        f"[{request['status']}{', BREAK-GLASS' if request['break_glass'] else ''}] risk {request['risk_tier']}",
        f"approvals counted: {len(policy['counted'])}/{policy['required']} ({', '.join(policy['counted']) or 'none'})",
        *(f"  blocked: {reason}" for reason in policy["blocked_by"]),
        f"evidence: {to_json(document['evidence'])[:400]}",
    ]
    emit(document, as_json=as_json, lines=lines)


@click.command()
@click.argument("model")
@click.option("--alias", type=click.Choice(["champion", "challenger"]), default="champion", show_default=True)
@click.option("--at", "at_text", help="Only the version that held the alias at this instant (ISO; UTC if no zone).")
@json_option
def history(model: str, alias: str, at_text: str | None, as_json: bool) -> None:
    """Which version held the alias, and when (MLflow keeps only the current one)."""
    from pipelines.reads.promotions import alias_history

    intervals = alias_history(load_context(), model=model, at=parse_instant(at_text, "--at"), alias=alias)
    rows = [
        {
            **asdict(i),
            "start": i.start.isoformat(),
            "end": i.end.isoformat() if i.end else None,
            "kind": i.kind.value,
            "break_glass": i.kind.value == "break_glass",
        }
        for i in intervals
    ]
    lines = [f"v{r['version']} {r['start']} -> {r['end'] or 'now'} ({r['kind']} by {r['actor']})" for r in rows]
    emit(
        {"model": model, "alias": alias, "at": at_text, "intervals": rows},
        as_json=as_json,
        lines=lines or ["(none)"],
    )


@click.group()
def model() -> None:
    """Registered-model settings: risk tier, purpose, fixed data-quality limits, segments and protected attributes."""


@model.command("set")
@click.argument("name")
@click.option("--tier", type=click.Choice(["low", "medium", "high"]), help="Risk tier: approvals 1/2/3, gates, expiry.")
@click.option("--purpose", help="What the model is for, shown on its model card.")
@click.option(
    "--quality",
    "quality",
    multiple=True,
    metavar="CHECK:COLUMN=MAX",
    help="Fix a data-quality limit instead of the derived or default one, e.g. missing_share:income=0.2 "
    "(checks: missing_share, out_of_range, unseen; MAX a share from 0 to 1). Repeatable.",
)
@click.option(
    "--segment",
    "segments",
    multiple=True,
    metavar="COLUMN[:BUCKETS]",
    help="Slice monitoring by a column: its values (at most 50), or BUCKETS quantile buckets of a numeric one, "
    "e.g. region or age:4. Repeatable.",
)
@click.option(
    "--protected",
    multiple=True,
    metavar="COLUMN[=REFERENCE]",
    help="A protected attribute judged for fairness per batch, against REFERENCE (default: its largest group). "
    "Repeatable.",
)
@click.option("--reason", default="", help="Why, recorded on the audit trail.")
@actor_option
@json_option
def model_set(
    name: str,
    tier: str | None,
    purpose: str | None,
    quality: tuple[str, ...],
    segments: tuple[str, ...],
    protected: tuple[str, ...],
    reason: str,
    actor: str,
    as_json: bool,
) -> None:
    """Set NAME's risk tier, purpose, data-quality limits, segments and protected attributes (admins only)."""
    from pipelines.jobs.models import set_model_policy

    changes = set_model_policy(
        load_context(),
        model=name,
        actor=actor,
        tier=tier,
        purpose=purpose,
        quality=quality,
        segments=segments,
        protected=protected,
        reason=reason,
    )
    emit(
        {"model": name, **changes},
        as_json=as_json,
        lines=[f"{name}: " + ", ".join(f"{k}={v}" for k, v in changes.items())],
    )
