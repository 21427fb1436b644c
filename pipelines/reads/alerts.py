"""Alerts as the app and the CLI show them, and the rules in force: folded from their tables."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import polars as pl

from governance.alerts import (
    AlertEvent,
    AlertKind,
    AlertRule,
    AlertRules,
    AlertState,
    DeliveryAttempt,
    DeliveryState,
    RuleEvent,
    Severity,
    delivery_state,
    fold_rules,
    fold_state,
)
from governance.errors import InputError, NotFoundError
from lakehouse.schemas import ALERT_RULES, ALERTS
from pipelines.context import Context


def rule_events(ctx: Context, *, version: int | None = None) -> list[RuleEvent]:
    """Every change to the alert rules the audit chain vouches for, in chain order."""
    return _rule_events(ctx.ledger.table(ALERT_RULES, version=version))


def alert_rules(ctx: Context, *, version: int | None = None) -> AlertRules:
    return fold_rules(rule_events(ctx, version=version))


def projected_alert_rules(ctx: Context) -> AlertRules:
    """The rules as their table last showed them: for alerting that the chain itself does not verify,
    when the chain cannot be read to vouch for them."""
    return fold_rules(_rule_events(ctx.store.read(ALERT_RULES).sort("audit_seq")))


def _rule_events(rows: pl.DataFrame) -> list[RuleEvent]:
    events = []
    for row in rows.iter_rows(named=True):
        rule = AlertRule(
            model=row["model"],
            kind=AlertKind(row["kind"]),
            subject=row["subject"],
            threshold=float(row["threshold"]) if row["threshold"] else None,
            severity=Severity(row["severity"]),
            channels=tuple(json.loads(row["channels"] or "[]")),
        )
        events.append(RuleEvent(rule, removed=bool(row["removed"])))
    return events


@dataclass(frozen=True)
class Attempt:
    channel: str
    attempt: int
    delivered: bool
    detail: str
    at: datetime


@dataclass(frozen=True)
class AlertView:
    """One alert, its state after every event, and its delivery after every attempt."""

    alert_id: str
    model: str
    model_version: str
    batch_id: str
    kind: str
    subject: str
    severity: str
    summary: str
    evidence: dict[str, object]
    channels: tuple[str, ...]
    fired_at: datetime
    state: AlertState
    delivery: DeliveryState
    attempts: tuple[Attempt, ...] = ()
    handled_by: str | None = None  # who acknowledged or resolved it last
    reason: str | None = None  # ... and why

    @property
    def undelivered(self) -> bool:
        return self.delivery in (DeliveryState.UNDELIVERED, DeliveryState.PENDING)

    def document(self) -> dict[str, object]:
        return {
            "alert_id": self.alert_id,
            "model": self.model,
            "model_version": self.model_version,
            "batch_id": self.batch_id,
            "kind": self.kind,
            "subject": self.subject,
            "severity": self.severity,
            "summary": self.summary,
            "evidence": self.evidence,
            "channels": list(self.channels),
            "fired_at": self.fired_at.isoformat(),
            "state": self.state.value,
            "delivery": self.delivery.value,
            "attempts": [
                {"channel": a.channel, "attempt": a.attempt, "delivered": a.delivered, "detail": a.detail}
                for a in self.attempts
            ],
            "handled_by": self.handled_by,
            "reason": self.reason,
        }


def parse_state(text: str) -> AlertState:
    try:
        return AlertState(text.strip().lower())
    except ValueError:
        raise InputError(
            f"unknown alert state {text!r}: expected one of {', '.join(s.value for s in AlertState)}"
        ) from None


def list_alerts(
    ctx: Context, *, model: str | None = None, states: Sequence[AlertState] = (), alert_ids: Sequence[str] = ()
) -> list[AlertView]:
    """Alerts, newest first, of `model` (or all) in `states` (or any)."""
    frame = ctx.store.scan(ALERTS)
    if model is not None:
        frame = frame.filter(pl.col("model") == model)
    if alert_ids:
        frame = frame.filter(pl.col("alert_id").is_in(list(alert_ids)))
    rows = frame.sort("at", maintain_order=True).collect()
    views = [_fold(part) for part in rows.partition_by("alert_id", maintain_order=True)]
    found = [v for v in views if v is not None and (not states or v.state in states)]
    return sorted(found, key=lambda v: (v.fired_at, v.alert_id), reverse=True)


def alert_view(ctx: Context, alert_id: str) -> AlertView:
    found = list_alerts(ctx, alert_ids=[alert_id.strip()])
    if not found:
        raise NotFoundError(f"no alert {alert_id!r} (see mlgov alerts list)")
    return found[0]


def _fold(rows: pl.DataFrame) -> AlertView | None:
    fired = rows.filter(pl.col("event") == AlertEvent.FIRED.value)
    if fired.height == 0:
        return None
    first = fired.row(0, named=True)
    events = [AlertEvent(e) for e in rows["event"]]
    # a simulated clock can stamp several events alike: attempts are ordered by their number, and a
    # resolution comes after an acknowledgement
    attempts = tuple(
        Attempt(
            channel=r["channel"],
            attempt=r["attempt"],
            delivered=bool(r["delivered"]),
            detail=r["detail"] or "",
            at=r["at"],
        )
        for r in rows.filter(pl.col("event") == AlertEvent.ATTEMPT.value).sort("at", "attempt").iter_rows(named=True)
    )
    handled = rows.filter(pl.col("event").is_in([AlertEvent.ACKNOWLEDGED.value, AlertEvent.RESOLVED.value])).sort(
        "at", pl.col("event") == AlertEvent.RESOLVED.value
    )
    last_handled = handled.row(-1, named=True) if handled.height else None
    channels = tuple(json.loads(first["channels"] or "[]"))
    return AlertView(
        alert_id=first["alert_id"],
        model=first["model"] or "",
        model_version=first["model_version"] or "",
        batch_id=first["batch_id"] or "",
        kind=first["kind"],
        subject=first["subject"] or "",
        severity=first["severity"],
        summary=first["summary"] or "",
        evidence=json.loads(first["evidence"] or "{}"),
        channels=channels,
        fired_at=first["at"],
        state=fold_state(events),
        delivery=delivery_state(channels, (DeliveryAttempt(a.channel, delivered=a.delivered) for a in attempts)),
        attempts=attempts,
        handled_by=last_handled["actor"] if last_handled else None,
        reason=last_handled["reason"] if last_handled else None,
    )
