"""mlgov alerts: list alerts, keep the rules, test a channel, acknowledge, resolve and deliver."""

from __future__ import annotations

import sys

import click

from pipelines.cli.support import EXIT_REFUSED, actor_option, emit, json_option, load_context

_KINDS = (
    "drift_share, feature_drift, quality, realized_performance, estimated_performance, zombie, "
    "registry_divergence, audit_verify"
)


@click.group()
def alerts() -> None:
    """Alerts fired by monitoring and the platform, their delivery, and the rules that fire them."""


@alerts.command("list")
@click.option("--model", help="Only this model's alerts.")
@click.option("--state", "states", multiple=True, help="open, acknowledged or resolved (repeatable; default: all).")
@json_option
def alerts_list(model: str | None, states: tuple[str, ...], as_json: bool) -> None:
    """Alerts, newest first: severity, what fired, state and delivery."""
    from pipelines.reads.alerts import list_alerts, parse_state

    found = list_alerts(load_context(), model=model, states=[parse_state(s) for s in states])
    lines = [
        f"{v.alert_id} {v.severity:<8} {v.state.value:<12} {v.delivery.value:<11} "
        f"{v.model or '(platform)'}: {v.summary}"
        for v in found
    ] or ["no alerts"]
    emit({"alerts": [v.document() for v in found]}, as_json=as_json, lines=lines)


@alerts.command("rules")
@json_option
def alerts_rules(as_json: bool) -> None:
    """The rules admins set; kinds without one fire by the defaults (see the README)."""
    from pipelines.jobs.alerts import rules_document

    rules = rules_document(load_context())
    lines = [
        f"{r['model']} {r['kind']} {r['subject']}: {r['severity']}"
        + (f", threshold {r['threshold']:g}" if r["threshold"] is not None else "")
        + f", to {', '.join(r['channels']) or '(the app only)'}"  # type: ignore[arg-type]
        for r in rules
    ] or ["no rules set: the defaults apply"]
    emit({"rules": rules}, as_json=as_json, lines=lines)


@alerts.group("rule")
def alerts_rule() -> None:
    """Set or remove a rule (admins only; audited)."""


@alerts_rule.command("set")
@click.argument("model")
@click.option("--kind", required=True, help=f"What fires: {_KINDS}.")
@click.option("--subject", help="feature_drift: the feature; quality: the column (default: every one).")
@click.option("--threshold", type=float, help="From what value it fires (drift share, metric drop, zombie days).")
@click.option("--severity", help="info, warning or critical.")
@click.option("--channel", "channels", multiple=True, help="A configured channel to send it to (repeatable).")
@actor_option
@click.option("--reason", default="", help="Why, for the audit trail.")
@json_option
def alerts_rule_set(
    model: str,
    kind: str,
    subject: str | None,
    threshold: float | None,
    severity: str | None,
    channels: tuple[str, ...],
    actor: str,
    reason: str,
    as_json: bool,
) -> None:
    """Set the rule for one kind of alert on MODEL (or '*': every model)."""
    from pipelines.jobs.alerts import set_alert_rule

    change = set_alert_rule(
        load_context(),
        model=model,
        kind=kind,
        subject=subject,
        threshold=threshold,
        severity=severity,
        channels=channels,
        actor=actor,
        reason=reason,
    )
    where = ", ".join(change.channels) or "the app only"
    limit = f" from {change.threshold:g}" if change.threshold is not None else ""
    line = f"rule set: {change.kind} on {change.model} ({change.subject}){limit}, {change.severity}, to {where}"
    emit(change.document(), as_json=as_json, lines=[line])


@alerts_rule.command("remove")
@click.argument("model")
@click.option("--kind", required=True, help=f"What fires: {_KINDS}.")
@click.option("--subject", help="The feature or column the rule names (default: '*').")
@actor_option
@click.option("--reason", default="", help="Why, for the audit trail.")
@json_option
def alerts_rule_remove(model: str, kind: str, subject: str | None, actor: str, reason: str, as_json: bool) -> None:
    """Remove MODEL's rule for one kind: the more general rule, or the default, applies again."""
    from pipelines.jobs.alerts import remove_alert_rule

    change = remove_alert_rule(load_context(), model=model, kind=kind, subject=subject, actor=actor, reason=reason)
    line = f"rule removed: {change.kind} on {change.model} ({change.subject})"
    emit(change.document(), as_json=as_json, lines=[line])


@alerts.command("test")
@click.argument("channel")
@json_option
def alerts_test(channel: str, as_json: bool) -> None:
    """Send a test message to CHANNEL; exit non-zero when it does not arrive."""
    from pipelines.jobs.alerts import send_test_message

    outcome = send_test_message(load_context(), channel.strip().lower())
    verdict = "delivered" if outcome.delivered else "NOT delivered"
    emit(
        {"channel": channel, "delivered": outcome.delivered, "detail": outcome.detail},
        as_json=as_json,
        lines=[f"{channel}: {verdict} ({outcome.detail})"],
    )
    if not outcome.delivered:
        sys.exit(EXIT_REFUSED)


@alerts.command("ack")
@click.argument("alert_id")
@actor_option
@click.option("--reason", default="", help="What is being done about it.")
@json_option
def alerts_ack(alert_id: str, actor: str, reason: str, as_json: bool) -> None:
    """Acknowledge an open alert (admins, reviewers, analysts; audited)."""
    from pipelines.jobs.alerts import acknowledge_alert

    view = acknowledge_alert(load_context(), alert_id=alert_id, actor=actor, reason=reason)
    emit(view.document(), as_json=as_json, lines=[f"{view.alert_id} acknowledged by {actor}: {view.summary}"])


@alerts.command("resolve")
@click.argument("alert_id")
@actor_option
@click.option("--reason", required=True, help="What was done about it.")
@json_option
def alerts_resolve(alert_id: str, actor: str, reason: str, as_json: bool) -> None:
    """Resolve an alert, saying what was done (admins, reviewers, analysts; audited)."""
    from pipelines.jobs.alerts import resolve_alert

    view = resolve_alert(load_context(), alert_id=alert_id, actor=actor, reason=reason)
    emit(view.document(), as_json=as_json, lines=[f"{view.alert_id} resolved by {actor}: {view.summary}"])


@alerts.command("deliver")
@json_option
def alerts_deliver(as_json: bool) -> None:
    """Fire zombie alerts and retry every alert a channel has not taken yet (run it on a schedule)."""
    from pipelines.jobs.alerts import deliver_pending

    outcome = deliver_pending(load_context())
    report = outcome.report
    document = {
        "fired": [a.alert_id for a in outcome.fired],
        "delivered": list(report.delivered),
        "undelivered": list(report.undelivered),
        "attempts": report.attempts,
    }
    lines = [f"alert {a.alert_id} ({a.severity.value}): {a.summary}" for a in outcome.fired]
    lines.append(
        f"{len(report.delivered)} delivered, {len(report.undelivered)} still undelivered, {report.attempts} attempts"
    )
    emit(document, as_json=as_json, lines=lines)
