"""Alerts: what fires, how bad it is, where it goes, and what state it is in. Pure.

An alert is a governance record of something monitoring (or the platform) found: a drift share, a
drifted feature, a failed data-quality check, realized or estimated performance below the policy, a
zombie model, a registry divergence, a failed audit verification. Admins keep rules per model (or for
every model, `*`): which kinds fire, from what threshold, at what severity and to which channels. Kinds
without a rule fire by the defaults below (with no channel: the app shows them); a drifted feature
fires only where a rule asks for it, since a drifted batch would otherwise raise one per feature.

The same finding always gets the same alert id (model, batch, version, kind, subject), so a rerun of
monitoring, or two at once, fire it once and a receiver can deduplicate retried deliveries by it.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from governance.errors import InputError, PolicyViolation
from governance.tasks import TaskMetric
from governance.zombies import zombie_reason

EVERY_MODEL = "*"  # a rule for every model (and for findings about the platform, which name no model)
EVERY_SUBJECT = "*"  # a rule for every feature or column of its kind


class AlertKind(StrEnum):
    DRIFT_SHARE = "drift_share"  # threshold: the share of drifted features above which it fires
    FEATURE_DRIFT = "feature_drift"  # subject: the feature; fires when the drift engine says it drifted
    QUALITY = "quality"  # subject: the column; fires when a data-quality check fails
    REALIZED_PERFORMANCE = "realized_performance"  # threshold: the drop from the holdout that fires
    ESTIMATED_PERFORMANCE = "estimated_performance"  # ... estimated without labels
    ZOMBIE = "zombie"  # threshold: days without scoring or monitoring
    REGISTRY_DIVERGENCE = "registry_divergence"  # subject: the alias or tag MLflow shows differently
    AUDIT_VERIFY = "audit_verify"  # subject: the first audit record that does not verify


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


SEVERITY_RANK: Mapping[Severity, int] = {Severity.INFO: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}


@dataclass(frozen=True)
class ThresholdSpec:
    """What a kind's threshold means and which values make sense."""

    meaning: str
    low: float
    high: float
    whole: bool = False


THRESHOLDS: Mapping[AlertKind, ThresholdSpec] = {
    AlertKind.DRIFT_SHARE: ThresholdSpec("share of drifted features", low=0.0, high=1.0),
    AlertKind.REALIZED_PERFORMANCE: ThresholdSpec("drop from the holdout's metric", low=0.0, high=1.0),
    AlertKind.ESTIMATED_PERFORMANCE: ThresholdSpec("drop from the holdout's metric", low=0.0, high=1.0),
    AlertKind.ZOMBIE: ThresholdSpec("days without scoring or monitoring", low=0, high=3650, whole=True),
}
# Kinds whose rule may name a feature or column instead of `*`.
SUBJECT_KINDS = frozenset({AlertKind.FEATURE_DRIFT, AlertKind.QUALITY})


@dataclass(frozen=True)
class AlertRule:
    """Fire `kind` for `model` (or every model) and `subject` (or every subject) at `severity`,
    from `threshold` where the kind has one, and send it to `channels` (none: shown in the app only)."""

    model: str
    kind: AlertKind
    subject: str = EVERY_SUBJECT
    threshold: float | None = None
    severity: Severity = Severity.WARNING
    channels: tuple[str, ...] = ()

    @property
    def key(self) -> tuple[str, AlertKind, str]:
        return (self.model, self.kind, self.subject)


DEFAULT_RULES: Mapping[AlertKind, AlertRule] = {
    rule.kind: rule
    for rule in (
        AlertRule(EVERY_MODEL, AlertKind.DRIFT_SHARE, threshold=0.5),
        AlertRule(EVERY_MODEL, AlertKind.QUALITY),
        AlertRule(EVERY_MODEL, AlertKind.REALIZED_PERFORMANCE, threshold=0.05, severity=Severity.CRITICAL),
        AlertRule(EVERY_MODEL, AlertKind.ESTIMATED_PERFORMANCE, threshold=0.05),
        AlertRule(EVERY_MODEL, AlertKind.ZOMBIE, threshold=14),
        AlertRule(EVERY_MODEL, AlertKind.REGISTRY_DIVERGENCE, severity=Severity.CRITICAL),
        AlertRule(EVERY_MODEL, AlertKind.AUDIT_VERIFY, severity=Severity.CRITICAL),
    )
}

_CHANNEL_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_")


def parse_kind(text: str) -> AlertKind:
    try:
        return AlertKind(text.strip().lower())
    except ValueError:
        raise InputError(
            f"unknown alert kind {text!r}: expected one of {', '.join(k.value for k in AlertKind)}"
        ) from None


def parse_severity(text: str) -> Severity:
    try:
        return Severity(text.strip().lower())
    except ValueError:
        raise InputError(f"unknown severity {text!r}: expected one of {', '.join(s.value for s in Severity)}") from None


def channel_name_problem(name: str) -> str | None:
    """Why `name` cannot name a channel, or None. Names are lower case: MLGOV_CHANNEL_<NAME> upper-cases them."""
    if not 1 <= len(name) <= 40 or not set(name) <= _CHANNEL_NAME_CHARS or not name[0].isalpha():
        return (
            f"channel name {name!r} is not valid: expected 1-40 lowercase letters, digits or _, starting with a letter"
        )
    if name.endswith("_secret"):
        return f"channel name {name!r} is not valid: it may not end in _secret (that suffix names a channel's secret)"
    return None


def make_rule(
    *,
    model: str,
    kind: AlertKind,
    subject: str | None,
    threshold: float | None,
    severity: Severity | None,
    channels: Sequence[str],
    known_subjects: frozenset[str],
) -> AlertRule:
    """A rule as an admin asked for it, or an InputError naming what does not fit: a subject on a kind
    that has none or that is not one of the model's features (`known_subjects`), a threshold on a kind
    that has none or out of its range, a malformed channel name. What is not given is the default's."""
    default = DEFAULT_RULES.get(kind, AlertRule(EVERY_MODEL, kind))
    chosen_subject = (subject or EVERY_SUBJECT).strip()
    if chosen_subject != EVERY_SUBJECT:
        if kind not in SUBJECT_KINDS:
            raise InputError(
                f"--subject does not apply to {kind.value}: only {', '.join(sorted(SUBJECT_KINDS))} name one"
            )
        if model != EVERY_MODEL and chosen_subject not in known_subjects:
            expected = ", ".join(sorted(known_subjects)) or "(none)"
            raise InputError(f"unknown column {chosen_subject!r} of model {model}: expected one of {expected}")
    if threshold is not None:
        spec = THRESHOLDS.get(kind)
        if spec is None:
            raise InputError(f"--threshold does not apply to {kind.value}: it fires on the finding itself")
        if not math.isfinite(threshold) or not spec.low < threshold <= spec.high or (spec.whole and threshold % 1):
            number = "a whole number" if spec.whole else "a number"
            raise InputError(
                f"--threshold {threshold:g} for {kind.value}: expected {number} above {spec.low:g} and at most "
                f"{spec.high:g} ({spec.meaning})"
            )
    for name in channels:
        problem = channel_name_problem(name)
        if problem:
            raise InputError(problem)
    return AlertRule(
        model=model,
        kind=kind,
        subject=chosen_subject,
        threshold=threshold if threshold is not None else default.threshold,
        severity=severity or default.severity,
        channels=tuple(dict.fromkeys(channels)),
    )


@dataclass(frozen=True)
class RuleEvent:
    """One change to the rules, as the rules table records it: a rule set, or the rule at `key` removed."""

    rule: AlertRule
    removed: bool = False


@dataclass(frozen=True)
class AlertRules:
    """The rules in force: the latest change to each (model, kind, subject) wins."""

    rules: Mapping[tuple[str, AlertKind, str], AlertRule] = field(default_factory=dict)

    def rule_for(self, *, model: str, kind: AlertKind, subject: str = EVERY_SUBJECT) -> AlertRule | None:
        """The most specific rule for this finding: the model's for the subject, the model's for every
        subject, every model's for the subject, every model's; else the default (None: it does not fire)."""
        for key in ((model, kind, subject), (model, kind, EVERY_SUBJECT), (EVERY_MODEL, kind, subject)):
            if key in self.rules:
                return self.rules[key]
        return self.rules.get((EVERY_MODEL, kind, EVERY_SUBJECT), DEFAULT_RULES.get(kind))

    def listed(self) -> tuple[AlertRule, ...]:
        return tuple(sorted(self.rules.values(), key=lambda r: (r.model, r.kind.value, r.subject)))


def fold_rules(events: Iterable[RuleEvent]) -> AlertRules:
    """The rules that result from applying rule changes in order."""
    rules: dict[tuple[str, AlertKind, str], AlertRule] = {}
    for event in events:
        if event.removed:
            rules.pop(event.rule.key, None)
        else:
            rules[event.rule.key] = event.rule
    return AlertRules(rules)


def alert_id(*, model: str, batch_id: str, model_version: str, kind: AlertKind, subject: str) -> str:
    """The same finding's id, whoever finds it and however often: what deduplicates firing and delivery."""
    key = "\x1f".join((model, batch_id, model_version, kind.value, subject))
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:20]


@dataclass(frozen=True)
class Alert:
    """A finding a rule fires on: which, about what, how bad, why (`summary`, `evidence`), and where to."""

    alert_id: str
    model: str
    model_version: str
    batch_id: str
    kind: AlertKind
    subject: str
    severity: Severity
    summary: str
    evidence: Mapping[str, object]
    channels: tuple[str, ...]


def _fire(
    rule: AlertRule,
    *,
    model: str,
    model_version: str,
    batch_id: str,
    subject: str,
    summary: str,
    evidence: Mapping[str, object],
) -> Alert:
    return Alert(
        alert_id=alert_id(model=model, batch_id=batch_id, model_version=model_version, kind=rule.kind, subject=subject),
        model=model,
        model_version=model_version,
        batch_id=batch_id,
        kind=rule.kind,
        subject=subject,
        severity=rule.severity,
        summary=summary,
        evidence=dict(evidence),
        channels=rule.channels,
    )


@dataclass(frozen=True)
class DriftedFeature:
    feature: str
    method: str
    statistic: float
    threshold: float


@dataclass(frozen=True)
class FailedCheck:
    check: str
    column: str
    value: float
    threshold: float
    origin: str = ""


@dataclass(frozen=True)
class BatchFindings:
    """What monitoring computed for one batch, as alerting needs it."""

    model: str
    model_version: str
    batch_id: str
    drift_share: float | None  # None: drift not computed
    drifted: tuple[DriftedFeature, ...] = ()
    failed_checks: tuple[FailedCheck, ...] = ()
    realized: float | None = None  # the task's health metric against labels
    estimated: float | None = None  # ... estimated without them
    baseline: float | None = None  # the version's holdout value of that metric


def batch_alerts(findings: BatchFindings, *, rules: AlertRules, metric: TaskMetric) -> list[Alert]:
    """The alerts the rules fire for one batch, in a stable order."""
    found: list[Alert] = []
    where = {"model": findings.model, "model_version": findings.model_version, "batch_id": findings.batch_id}
    rule = rules.rule_for(model=findings.model, kind=AlertKind.DRIFT_SHARE)
    if (
        rule
        and rule.threshold is not None
        and findings.drift_share is not None
        and findings.drift_share > rule.threshold
    ):
        found.append(
            _fire(
                rule,
                **where,
                subject=EVERY_SUBJECT,
                summary=f"drift share {findings.drift_share:.2f} above {rule.threshold:g} in batch {findings.batch_id}",
                evidence={
                    "drift_share": findings.drift_share,
                    "threshold": rule.threshold,
                    "drifted_features": [d.feature for d in findings.drifted],
                },
            )
        )
    for drifted in findings.drifted:
        rule = rules.rule_for(model=findings.model, kind=AlertKind.FEATURE_DRIFT, subject=drifted.feature)
        if rule:
            found.append(
                _fire(
                    rule,
                    **where,
                    subject=drifted.feature,
                    summary=f"{drifted.feature} drifted ({drifted.method} {drifted.statistic:.3g}, "
                    f"threshold {drifted.threshold:g}) in batch {findings.batch_id}",
                    evidence={"method": drifted.method, "statistic": drifted.statistic, "threshold": drifted.threshold},
                )
            )
    for failed in findings.failed_checks:
        rule = rules.rule_for(model=findings.model, kind=AlertKind.QUALITY, subject=failed.column)
        if rule:
            found.append(
                _fire(
                    rule,
                    **where,
                    subject=f"{failed.check}:{failed.column}",
                    summary=f"{failed.column}: {failed.check} {failed.value:.3g} beyond {failed.threshold:.3g} "
                    f"in batch {findings.batch_id}",
                    evidence={
                        "check": failed.check,
                        "column": failed.column,
                        "value": failed.value,
                        "threshold": failed.threshold,
                        "threshold_origin": failed.origin,
                    },
                )
            )
    for kind, observed, source in (
        (AlertKind.REALIZED_PERFORMANCE, findings.realized, "realized"),
        (AlertKind.ESTIMATED_PERFORMANCE, findings.estimated, "estimated"),
    ):
        rule = rules.rule_for(model=findings.model, kind=kind)
        if rule is None or rule.threshold is None or observed is None or findings.baseline is None:
            continue
        if metric.falls_short(observed, of=findings.baseline, by_more_than=rule.threshold):
            direction = "below" if metric.higher_is_better else "above"
            found.append(
                _fire(
                    rule,
                    **where,
                    subject=metric.name,
                    summary=f"{source} {metric.label} {observed:.3f} is more than {metric.margin(rule.threshold)} "
                    f"{direction} the holdout's {findings.baseline:.3f} in batch {findings.batch_id}",
                    evidence={
                        "metric": metric.name,
                        "value": observed,
                        "baseline": findings.baseline,
                        "max_drop": rule.threshold,
                    },
                )
            )
    return found


def zombie_alert(
    *,
    model: str,
    rules: AlertRules,
    champion: str | None,
    last_batch_id: str | None,
    last_scored: datetime | None,
    last_monitored: datetime | None,
    now: datetime,
) -> Alert | None:
    """An alert when `model` is in production (`champion` set) but not scored or monitored within the
    rule's days. Keyed by the last batch: a zombie that scores again and stops again fires anew."""
    rule = rules.rule_for(model=model, kind=AlertKind.ZOMBIE)
    if rule is None or rule.threshold is None:
        return None
    reason = zombie_reason(
        in_production=champion is not None,
        last_scored=last_scored,
        last_monitored=last_monitored,
        now=now,
        max_age=timedelta(days=rule.threshold),
    )
    if reason is None:
        return None
    return _fire(
        rule,
        model=model,
        model_version=champion or "",
        batch_id=last_batch_id or "",
        subject=EVERY_SUBJECT,
        summary=f"{model} is a zombie: {reason}",
        evidence={
            "reason": reason,
            "last_scored": last_scored.isoformat() if last_scored else None,
            "last_monitored": last_monitored.isoformat() if last_monitored else None,
            "max_days": rule.threshold,
        },
    )


def divergence_alert(*, model: str, subject: str, summary: str, rules: AlertRules) -> Alert | None:
    """An alert when MLflow shows `model`'s alias or tag `subject` differently from the governed record."""
    rule = rules.rule_for(model=model, kind=AlertKind.REGISTRY_DIVERGENCE, subject=subject)
    if rule is None:
        return None
    return _fire(rule, model=model, model_version="", batch_id="", subject=subject, summary=summary, evidence={})


def audit_verify_alert(*, first_bad_seq: int | None, problem: str, rules: AlertRules) -> Alert | None:
    """An alert when the audit chain does not verify; keyed by the first record that fails."""
    rule = rules.rule_for(model=EVERY_MODEL, kind=AlertKind.AUDIT_VERIFY)
    if rule is None:
        return None
    subject = f"seq {first_bad_seq}" if first_bad_seq is not None else "chain"
    return _fire(
        rule,
        model="",
        model_version="",
        batch_id="",
        subject=subject,
        summary=f"audit verify failed: {problem}",
        evidence={"first_bad_seq": first_bad_seq, "problem": problem},
    )


class AlertState(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class AlertEvent(StrEnum):
    """The rows of the alerts table: one per event of an alert's life."""

    FIRED = "fired"
    ATTEMPT = "attempt"  # one delivery attempt to one channel, with its outcome
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


_NEXT_STATE: Mapping[tuple[AlertState, AlertEvent], AlertState] = {
    (AlertState.OPEN, AlertEvent.ACKNOWLEDGED): AlertState.ACKNOWLEDGED,
    (AlertState.OPEN, AlertEvent.RESOLVED): AlertState.RESOLVED,
    (AlertState.ACKNOWLEDGED, AlertEvent.RESOLVED): AlertState.RESOLVED,
}


def next_state(current: AlertState, event: AlertEvent, *, alert: str) -> AlertState:
    """The state after acknowledging or resolving, or a PolicyViolation saying why it cannot be done."""
    found = _NEXT_STATE.get((current, event))
    if found is None:
        raise PolicyViolation(f"alert {alert} is {current.value}: it cannot be {event.value}")
    return found


def fold_state(events: Iterable[AlertEvent]) -> AlertState:
    """An alert's state after its events, in order (delivery attempts change nothing)."""
    state = AlertState.OPEN
    for event in events:
        state = _NEXT_STATE.get((state, event), state)
    return state


MIN_RESOLVE_REASON = 3


def require_resolve_reason(reason: str) -> str:
    text = reason.strip()
    if len(text) < MIN_RESOLVE_REASON:
        raise InputError(
            f"resolving an alert needs --reason: what was done about it (at least {MIN_RESOLVE_REASON} characters)"
        )
    return text


class DeliveryState(StrEnum):
    NOT_ROUTED = "not_routed"  # no channel: shown in the app only
    PENDING = "pending"  # a channel has not been tried yet
    DELIVERED = "delivered"  # every channel took it
    UNDELIVERED = "undelivered"  # a channel was tried and has not taken it yet


@dataclass(frozen=True)
class DeliveryAttempt:
    channel: str
    delivered: bool


def delivery_state(channels: Sequence[str], attempts: Iterable[DeliveryAttempt]) -> DeliveryState:
    """Where an alert's delivery stands, from its channels and every attempt made so far."""
    if not channels:
        return DeliveryState.NOT_ROUTED
    tried: dict[str, bool] = {}
    for attempt in attempts:
        tried[attempt.channel] = tried.get(attempt.channel, False) or attempt.delivered
    if all(tried.get(channel) for channel in channels):
        return DeliveryState.DELIVERED
    if any(channel in tried and not tried[channel] for channel in channels):
        return DeliveryState.UNDELIVERED
    return DeliveryState.PENDING


MAX_AUTOMATIC_ATTEMPTS = 9  # per channel; beyond it only `mlgov alerts deliver` tries again


def channels_due(
    channels: Sequence[str], attempts: Sequence[DeliveryAttempt], *, max_attempts: int | None
) -> tuple[str, ...]:
    """The channels an alert still has to reach: not yet delivered, and (with `max_attempts`) tried
    fewer times than that. At-least-once: a channel that took it is never sent it again."""
    due = []
    for channel in channels:
        mine = [a for a in attempts if a.channel == channel]
        if any(a.delivered for a in mine):
            continue
        if max_attempts is not None and len(mine) >= max_attempts:
            continue
        due.append(channel)
    return tuple(due)


@dataclass(frozen=True)
class RetryPolicy:
    """Attempts per channel in one delivery run and the waits between them (exponential backoff,
    capped); `timeout` bounds each attempt, so a receiver that never answers cannot hold monitoring."""

    attempts: int = 3
    first_wait: float = 0.5
    factor: float = 4.0
    max_wait: float = 8.0
    timeout: float = 5.0

    def waits(self) -> tuple[float, ...]:
        """The seconds to wait before the 2nd, 3rd, ... attempt."""
        return tuple(min(self.first_wait * self.factor**i, self.max_wait) for i in range(self.attempts - 1))
