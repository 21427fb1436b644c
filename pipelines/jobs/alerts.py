"""Alerts: fire what the rules say on what monitoring (or the platform) found, deliver them at least
once with retries and backoff, and let people acknowledge and resolve them; admins change the rules.

Every event is a row of governance/alerts (append-only): fired, with its evidence; each delivery
attempt to each channel, with its outcome; acknowledged; resolved. A finding fires once whoever finds
it (its alert id is the finding's), and a channel that took an alert is never sent it again. An alert
no channel has taken stays visible (`delivery` undelivered) and is retried by the next monitoring of its
model or by `mlgov alerts deliver`. Rule changes, acknowledgements and resolutions are audited.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import polars as pl

from governance.alerts import (
    EVERY_MODEL,
    MAX_AUTOMATIC_ATTEMPTS,
    Alert,
    AlertEvent,
    AlertState,
    BatchFindings,
    DeliveryAttempt,
    DriftedFeature,
    FailedCheck,
    RetryPolicy,
    audit_verify_alert,
    batch_alerts,
    channels_due,
    divergence_alert,
    make_rule,
    next_state,
    parse_kind,
    parse_severity,
    require_resolve_reason,
    zombie_alert,
)
from governance.audit.actions import AuditAction
from governance.errors import ConflictError, InputError, MlgovError
from governance.promotion import PRODUCTION_ALIAS
from governance.roles import Action
from governance.tasks import health_metric
from lakehouse.channels import Message, Sender, SendOutcome
from lakehouse.delta import CommitInfo
from lakehouse.schemas import ALERT_RULES, ALERTS, BATCHES, SCHEMAS, check_model_name
from pipelines.context import Change, Context, JobRun, job_run
from pipelines.reads.alerts import AlertView, alert_rules, alert_view, list_alerts, projected_alert_rules
from pipelines.reads.versions import latest_recipe, version_recipe

if TYPE_CHECKING:
    from pipelines.jobs.monitor import BatchReport
    from pipelines.jobs.registry import Divergence

SYSTEM_ACTOR = "mlgov-alerts"
_FIRE_ATTEMPTS = 20
Sleep = Callable[[float], None]


# --- firing ------------------------------------------------------------------------------------------


def fire_alerts(ctx: Context, alerts: Sequence[Alert], *, commit: CommitInfo) -> list[Alert]:
    """Record the alerts not fired before (by id) and return those; two writers racing fire each once."""
    wanted = {alert.alert_id: alert for alert in alerts}
    if not wanted:
        return []
    for _ in range(_FIRE_ATTEMPTS):
        version = ctx.store.version(ALERTS) if ctx.store.exists(ALERTS) else None
        fired: set[str] = set()
        if version is not None:
            fired = set(
                ctx.store.scan(ALERTS, version=version)
                .filter((pl.col("event") == AlertEvent.FIRED.value) & pl.col("alert_id").is_in(list(wanted)))
                .select("alert_id")
                .collect()["alert_id"]
            )
        new = [alert for alert_id, alert in wanted.items() if alert_id not in fired]
        if not new:
            return []
        at = ctx.clock()
        rows = [
            _row(
                alert_id=alert.alert_id,
                event=AlertEvent.FIRED,
                at=at,
                run_id=commit.run_id,
                actor=commit.actor,
                model=alert.model,
                model_version=alert.model_version,
                batch_id=alert.batch_id,
                kind=alert.kind.value,
                subject=alert.subject,
                severity=alert.severity.value,
                summary=alert.summary,
                evidence=json.dumps(alert.evidence, sort_keys=True, default=str),
                channels=json.dumps(list(alert.channels)),
            )
            for alert in new
        ]
        try:
            ctx.store.append_at_version(ALERTS, _frame(rows), expected_version=version, commit=commit)
        except ConflictError:
            continue
        return new
    raise MlgovError("could not record alerts: other writers kept winning")


def _row(**values: object) -> dict[str, object]:
    event = values["event"]
    return {**values, "event": event.value if isinstance(event, AlertEvent) else event}


def _frame(rows: Iterable[dict[str, object]]) -> pl.DataFrame:
    schema = SCHEMAS[ALERTS]
    return pl.DataFrame([{name: row.get(name) for name in schema} for row in rows], schema=schema)


@dataclass(frozen=True)
class AlertOutcome:
    """What one evaluation fired and what its delivery did."""

    fired: tuple[Alert, ...] = ()
    delivery: DeliveryReport | None = None

    def document(self) -> dict[str, object]:
        return {
            "fired": [
                {"alert_id": a.alert_id, "kind": a.kind.value, "severity": a.severity.value, "summary": a.summary}
                for a in self.fired
            ],
            "delivered": list(self.delivery.delivered) if self.delivery else [],
            "undelivered": list(self.delivery.undelivered) if self.delivery else [],
        }


def alert_on_monitoring(run: JobRun, *, model: str, batches: Sequence[BatchReport]) -> AlertOutcome:
    """Fire the rules on what monitoring found for the batches production scored of `model`, then
    deliver the model's pending alerts. Called by `mlgov monitor` once its metrics are computed."""
    ctx = run.ctx
    # a challenger's shadow batches say nothing of what is served (and repeat production's drift)
    served = set(
        ctx.store.scan(BATCHES)
        .filter((pl.col("model") == model) & (pl.col("role").fill_null(PRODUCTION_ALIAS) == PRODUCTION_ALIAS))
        .select("batch_id")
        .collect()["batch_id"]
    )
    batches = [b for b in batches if b.batch_id in served]
    if not batches:
        return AlertOutcome(delivery=deliver(ctx, commit=run.commit, model=model))
    rules = alert_rules(ctx)
    metric = health_metric(latest_recipe(ctx, model).task)
    baselines = {version: _holdout(ctx, model, version) for version in {b.model_version for b in batches}}
    alerts = [
        alert
        for b in batches
        for alert in batch_alerts(
            BatchFindings(
                model=model,
                model_version=b.model_version,
                batch_id=b.batch_id,
                drift_share=b.drift_share if b.drift else None,
                drifted=tuple(
                    DriftedFeature(d.feature, d.method, d.statistic, d.threshold) for d in b.drift if d.drifted
                ),
                failed_checks=tuple(
                    FailedCheck(q.check.value, q.column, q.value, q.threshold, q.origin) for q in b.quality_alerts
                ),
                realized=b.performance.get(metric.name),
                estimated=b.estimated.get(metric.name),
                baseline=baselines[b.model_version],
            ),
            rules=rules,
            metric=metric,
        )
    ]
    fired = fire_alerts(ctx, alerts, commit=run.commit)
    return AlertOutcome(fired=tuple(fired), delivery=deliver(ctx, commit=run.commit, model=model))


def _holdout(ctx: Context, model: str, version: str) -> float | None:
    """The version's holdout value of its health metric (immutable: asked of the registry once)."""

    def ask() -> float | None:
        metric = health_metric(version_recipe(ctx, model, version).task)
        return ctx.registry.version(model, version).metrics.get(metric.name)

    return ctx.remember(("holdout", model, version), ask)


def alert_on_divergences(ctx: Context, divergences: Sequence[Divergence], *, commit: CommitInfo) -> AlertOutcome:
    """Fire (and deliver) an alert for each place MLflow shows something else than the governed record."""
    rules = alert_rules(ctx)
    alerts = [
        alert
        for d in divergences
        if (alert := divergence_alert(model=d.model, subject=f"{d.kind}:{d.name}", summary=d.describe(), rules=rules))
    ]
    fired = fire_alerts(ctx, alerts, commit=commit)
    return AlertOutcome(fired=tuple(fired), delivery=deliver(ctx, commit=commit) if fired else None)


def alert_on_failed_verify(ctx: Context, *, first_bad_seq: int | None, problem: str) -> AlertOutcome:
    """Fire (and deliver) an alert when the audit chain, or a table it vouches for, does not verify. No
    audit record: the chain is what failed; the alerts table holds it. The rules are the chain's when it
    can still be read, else as their table shows them."""
    try:
        rules = alert_rules(ctx)
    except (MlgovError, OSError):  # a damaged trail can fail to read at all (a data file gone)
        rules = projected_alert_rules(ctx)
    alert = audit_verify_alert(first_bad_seq=first_bad_seq, problem=problem, rules=rules)
    if alert is None:
        return AlertOutcome()
    commit = CommitInfo(run_id=uuid.uuid4().hex, job="audit_verify", actor=SYSTEM_ACTOR)
    fired = fire_alerts(ctx, [alert], commit=commit)
    return AlertOutcome(fired=tuple(fired), delivery=deliver(ctx, commit=commit) if fired else None)


def alert_on_zombies(ctx: Context, *, commit: CommitInfo) -> tuple[Alert, ...]:
    """Fire an alert for each model in production that nobody scores or monitors any more."""
    from pipelines.reads.overview import model_overview

    now = ctx.clock()  # the same clock as the Overview's zombie flags
    rules = alert_rules(ctx)
    alerts = [
        alert
        for s in model_overview(ctx, now=now)
        if (
            alert := zombie_alert(
                model=s.name,
                rules=rules,
                champion=s.champion_version,
                last_batch_id=s.latest_batch_id,
                last_scored=s.last_scored_at,
                last_monitored=s.last_monitored_at,
                now=now,
            )
        )
    ]
    return tuple(fire_alerts(ctx, alerts, commit=commit))


# --- delivery ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeliveryReport:
    delivered: tuple[str, ...] = ()  # alert ids every channel has now taken
    undelivered: tuple[str, ...] = ()  # alert ids some channel has still not taken
    attempts: int = 0


def message_of(view: AlertView) -> Message:
    where = " ".join(part for part in (view.model, f"v{view.model_version}" if view.model_version else "") if part)
    title = f"[mlgov] {view.severity.upper()} {where}: {view.kind.replace('_', ' ')}".replace("  ", " ")
    lines = [view.summary, "", f"alert {view.alert_id}"]
    lines += [f"batch {view.batch_id}"] if view.batch_id else []
    lines += [f"fired at {view.fired_at.isoformat()}", f"acknowledge: mlgov alerts ack {view.alert_id} --actor USER"]
    document = {
        "alert_id": view.alert_id,
        "kind": view.kind,
        "severity": view.severity,
        "model": view.model,
        "model_version": view.model_version,
        "batch_id": view.batch_id,
        "subject": view.subject,
        "summary": view.summary,
        "evidence": view.evidence,
        "fired_at": view.fired_at.isoformat(),
    }
    return Message(delivery_id=view.alert_id, title=title, text="\n".join(lines), document=document)


def deliver(
    ctx: Context,
    *,
    commit: CommitInfo,
    model: str | None = None,
    max_attempts: int | None = MAX_AUTOMATIC_ATTEMPTS,
    retry: RetryPolicy | None = None,
    sleep: Sleep = time.sleep,
) -> DeliveryReport:
    """Try every channel each unresolved alert (of `model`, or all) has not reached yet, up to
    `retry.attempts` times each with backoff between, recording every attempt. With `max_attempts`,
    a channel already tried that often for an alert is left to `mlgov alerts deliver`."""
    retry = retry or RetryPolicy()
    views = [v for v in list_alerts(ctx, model=model) if v.state is not AlertState.RESOLVED and v.channels]
    pending = [
        (view, due)
        for view in reversed(views)  # oldest first
        if (
            due := channels_due(
                view.channels,
                [DeliveryAttempt(a.channel, delivered=a.delivered) for a in view.attempts],
                max_attempts=max_attempts,
            )
        )
    ]
    if not pending:
        return DeliveryReport()
    sender = Sender(ctx.channels, timeout=retry.timeout)
    # a channel that failed every attempt in this run: its other alerts wait for the next run, so a
    # dead receiver costs one alert's attempts per run, not every alert's
    down: set[str] = set()
    delivered: list[str] = []
    undelivered: list[str] = []
    attempts = 0
    for view, due in pending:
        taken = True
        for channel in due:
            if channel in down:
                taken = False
                continue
            made = sum(a.channel == channel for a in view.attempts)
            outcome, tries = _attempt(
                ctx, sender, view, channel, first=made + 1, retry=retry, sleep=sleep, commit=commit
            )
            attempts += tries
            if not outcome.delivered:
                taken = False
                down.add(channel)
        (delivered if taken else undelivered).append(view.alert_id)
    return DeliveryReport(delivered=tuple(delivered), undelivered=tuple(undelivered), attempts=attempts)


def _attempt(
    ctx: Context,
    sender: Sender,
    view: AlertView,
    channel: str,
    *,
    first: int,
    retry: RetryPolicy,
    sleep: Sleep,
    commit: CommitInfo,
) -> tuple[SendOutcome, int]:
    message = message_of(view)
    waits = (0.0, *retry.waits())
    outcome = SendOutcome(delivered=False, detail="not tried")
    for number, wait in enumerate(waits):
        if wait:
            sleep(wait)
        now = ctx.clock()
        outcome = sender.send(channel, message, unix_time=int(time.time()))
        row = _row(
            alert_id=view.alert_id,
            event=AlertEvent.ATTEMPT,
            model=view.model,
            channel=channel,
            attempt=first + number,
            delivered=outcome.delivered,
            detail=outcome.detail,
            actor=commit.actor,
            at=now,
            run_id=commit.run_id,
        )
        ctx.store.append(ALERTS, _frame([row]), commit=commit)  # recorded per attempt, whatever happens next
        if outcome.delivered:
            return outcome, number + 1
    return outcome, len(waits)


def deliver_pending(ctx: Context, *, retry: RetryPolicy | None = None, sleep: Sleep = time.sleep) -> DeliveryOutcome:
    """`mlgov alerts deliver`: fire zombie alerts, then retry every undelivered alert however often it
    was tried before. Meant to run on a schedule beside monitoring."""
    with job_run(ctx, job="alerts_deliver", actor=SYSTEM_ACTOR) as run:
        fired = alert_on_zombies(ctx, commit=run.commit)
        report = deliver(ctx, commit=run.commit, max_attempts=None, retry=retry, sleep=sleep)
    return DeliveryOutcome(fired=fired, report=report)


@dataclass(frozen=True)
class DeliveryOutcome:
    fired: tuple[Alert, ...]
    report: DeliveryReport


def send_test_message(ctx: Context, name: str, *, retry: RetryPolicy | None = None) -> SendOutcome:
    """Send a test message to channel `name` (one attempt); raises when it is unknown or misconfigured."""
    sender = Sender(ctx.channels, timeout=(retry or RetryPolicy()).timeout)
    sender.config(name)
    at = ctx.clock()
    message = Message(
        delivery_id=f"test-{uuid.uuid4().hex[:12]}",
        title="[mlgov] test message",
        text=f"A test of alert channel {name}, sent at {at.isoformat()}. Nothing fired.",
        document={"test": True, "channel": name, "sent_at": at.isoformat()},
    )
    return sender.send(name, message, unix_time=int(time.time()))


# --- people: acknowledge, resolve, rules -------------------------------------------------------------


def acknowledge_alert(ctx: Context, *, alert_id: str, actor: str, reason: str = "") -> AlertView:
    """Mark an open alert acknowledged (someone is on it): admins, reviewers and analysts; audited."""
    return _handle(ctx, alert_id=alert_id, actor=actor, reason=reason.strip(), event=AlertEvent.ACKNOWLEDGED)


def resolve_alert(ctx: Context, *, alert_id: str, actor: str, reason: str) -> AlertView:
    """Mark an alert resolved, saying what was done: admins, reviewers and analysts; audited."""
    return _handle(
        ctx, alert_id=alert_id, actor=actor, reason=require_resolve_reason(reason), event=AlertEvent.RESOLVED
    )


def _handle(ctx: Context, *, alert_id: str, actor: str, reason: str, event: AlertEvent) -> AlertView:
    action = AuditAction.ACKNOWLEDGE_ALERT if event is AlertEvent.ACKNOWLEDGED else AuditAction.RESOLVE_ALERT
    with job_run(ctx, job=f"alert_{event.value}", actor=actor) as run:
        run.authorize(Action.HANDLE_ALERTS, object_type="alert", object_id=alert_id)
        view = alert_view(ctx, alert_id)
        next_state(view.state, event, alert=view.alert_id)
        run.audit(
            action=action,
            object_type="alert",
            object_id=view.alert_id,
            reason=reason,
            details={"model": view.model, "kind": view.kind, "batch_id": view.batch_id, "previous": view.state.value},
        )
        row = _row(
            alert_id=view.alert_id,
            event=event,
            model=view.model,
            actor=actor,
            reason=reason,
            at=run.now(),
            run_id=run.run_id,
        )
        run.append(ALERTS, _frame([row]))
    return alert_view(ctx, view.alert_id)


@dataclass(frozen=True)
class RuleChange:
    model: str
    kind: str
    subject: str
    threshold: float | None
    severity: str
    channels: tuple[str, ...]
    removed: bool

    def document(self) -> dict[str, object]:
        return {
            "model": self.model,
            "kind": self.kind,
            "subject": self.subject,
            "threshold": self.threshold,
            "severity": self.severity,
            "channels": list(self.channels),
            "removed": self.removed,
        }


def set_alert_rule(
    ctx: Context,
    *,
    model: str,
    kind: str,
    actor: str,
    subject: str | None = None,
    threshold: float | None = None,
    severity: str | None = None,
    channels: Sequence[str] = (),
    reason: str = "",
) -> RuleChange:
    """Set the rule for `kind` on `model` (or `*`: every model): admins only, audited on the chain. The
    model and its column must exist, and every channel must be configured and well-formed."""
    parsed_kind = parse_kind(kind)
    with job_run(ctx, job="alert_rule_set", actor=actor, model=None if model == EVERY_MODEL else model) as run:
        run.authorize(Action.MANAGE_ALERT_RULES, object_type="alert_rule", object_id=f"{model}/{parsed_kind.value}")
        known: frozenset[str] = frozenset()
        if model != EVERY_MODEL:
            check_model_name(model)
            ctx.registry.require_model(model)
            if subject and subject.strip() != "*":
                known = frozenset(latest_recipe(ctx, model).spec.columns)
        rule = make_rule(
            model=model,
            kind=parsed_kind,
            subject=subject,
            threshold=threshold,
            severity=parse_severity(severity) if severity else None,
            channels=[c.strip().lower() for c in channels],
            known_subjects=known,
        )
        sender = Sender(ctx.channels, timeout=RetryPolicy().timeout)
        for channel in rule.channels:
            sender.config(channel)
        change = RuleChange(
            model=rule.model,
            kind=rule.kind.value,
            subject=rule.subject,
            threshold=rule.threshold,
            severity=rule.severity.value,
            channels=rule.channels,
            removed=False,
        )
        _record_rule(run, change, reason=reason, action=AuditAction.SET_ALERT_RULE)
    return change


def remove_alert_rule(
    ctx: Context, *, model: str, kind: str, actor: str, subject: str | None = None, reason: str = ""
) -> RuleChange:
    """Remove the rule for `kind` on `model` (and `subject`): the next more general rule, or the
    default, applies again. Admins only, audited."""
    parsed_kind = parse_kind(kind)
    chosen = (subject or "*").strip()
    with job_run(ctx, job="alert_rule_remove", actor=actor) as run:
        run.authorize(Action.MANAGE_ALERT_RULES, object_type="alert_rule", object_id=f"{model}/{parsed_kind.value}")
        current = alert_rules(ctx).rules.get((model, parsed_kind, chosen))
        if current is None:
            raise InputError(f"no alert rule for {parsed_kind.value} on {model} ({chosen}): see mlgov alerts rules")
        change = RuleChange(
            model=model,
            kind=parsed_kind.value,
            subject=chosen,
            threshold=current.threshold,
            severity=current.severity.value,
            channels=current.channels,
            removed=True,
        )
        _record_rule(run, change, reason=reason, action=AuditAction.REMOVE_ALERT_RULE)
    return change


def _record_rule(run: JobRun, change: RuleChange, *, reason: str, action: AuditAction) -> None:
    row = {
        "model": change.model,
        "kind": change.kind,
        "subject": change.subject,
        "threshold": f"{change.threshold:g}" if change.threshold is not None else None,
        "severity": change.severity,
        "channels": json.dumps(list(change.channels)),
        "removed": change.removed,
        "actor": run.actor,
        "reason": reason.strip(),
        "at": run.now(),
        "run_id": run.run_id,
    }
    schema = {k: v for k, v in SCHEMAS[ALERT_RULES].items() if k != "audit_seq"}
    details = {k: v for k, v in change.document().items() if k != "threshold"}
    details["threshold"] = row["threshold"]
    record = Change(
        action=action,
        object_type="alert_rule",
        object_id=f"{change.model}/{change.kind}/{change.subject}",
        reason=reason.strip(),
        details=details,
        rows={ALERT_RULES: pl.DataFrame([row], schema=schema)},
    )
    run.govern(lambda _version: [record])


def rules_document(ctx: Context) -> list[dict[str, object]]:
    """The rules admins set, most general first (kinds without one fire by governance.alerts' defaults)."""
    return [
        {
            "model": r.model,
            "kind": r.kind.value,
            "subject": r.subject,
            "threshold": r.threshold,
            "severity": r.severity.value,
            "channels": list(r.channels),
        }
        for r in alert_rules(ctx).listed()
    ]
