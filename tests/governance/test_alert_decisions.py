from datetime import UTC, datetime, timedelta

import pytest

from governance.alerts import (
    EVERY_MODEL,
    AlertEvent,
    AlertKind,
    AlertRule,
    AlertState,
    BatchFindings,
    DeliveryAttempt,
    DeliveryState,
    DriftedFeature,
    FailedCheck,
    RetryPolicy,
    RuleEvent,
    Severity,
    alert_id,
    audit_verify_alert,
    batch_alerts,
    channels_due,
    delivery_state,
    fold_rules,
    fold_state,
    make_rule,
    next_state,
    zombie_alert,
)
from governance.errors import InputError, PolicyViolation
from governance.roles import AccessPolicy, Action, Role, may
from governance.tasks import RMSE, ROC_AUC

NO_RULES = fold_rules([])


def findings(**changes: object) -> BatchFindings:
    base: dict[str, object] = {"model": "credit", "model_version": "3", "batch_id": "b1", "drift_share": 0.1}
    return BatchFindings(**{**base, **changes})  # type: ignore[arg-type]


def test_the_same_finding_has_the_same_id_and_any_difference_another():
    key = {"model": "credit", "batch_id": "b1", "model_version": "3", "kind": AlertKind.DRIFT_SHARE, "subject": "*"}
    assert alert_id(**key) == alert_id(**key)  # type: ignore[arg-type]
    for name, other in (("model", "fraud"), ("batch_id", "b2"), ("model_version", "4"), ("subject", "age")):
        assert alert_id(**{**key, name: other}) != alert_id(**key)  # type: ignore[arg-type]
    assert alert_id(**{**key, "kind": AlertKind.QUALITY}) != alert_id(**key)  # type: ignore[arg-type]


def test_defaults_fire_on_drift_share_quality_and_performance_but_not_on_each_feature():
    drifted = (DriftedFeature("age", "K-S p_value", 0.001, 0.05), DriftedFeature("income", "K-S p_value", 0.0, 0.05))
    batch = findings(
        drift_share=0.6,
        drifted=drifted,
        failed_checks=(FailedCheck("unseen_categories", "region", 0.01, 0.0),),
        realized=0.70,
        estimated=0.74,
        baseline=0.80,
    )
    fired = batch_alerts(batch, rules=NO_RULES, metric=ROC_AUC)
    assert [a.kind for a in fired] == [
        AlertKind.DRIFT_SHARE,
        AlertKind.QUALITY,
        AlertKind.REALIZED_PERFORMANCE,
        AlertKind.ESTIMATED_PERFORMANCE,
    ]
    assert fired[2].severity is Severity.CRITICAL
    assert fired[0].channels == ()
    assert fired[1].subject == "unseen_categories:region"
    assert fired[1].evidence["value"] == 0.01


def test_nothing_fires_on_a_healthy_batch():
    batch = findings(drift_share=0.5, realized=0.79, estimated=0.78, baseline=0.80)
    assert batch_alerts(batch, rules=NO_RULES, metric=ROC_AUC) == []


def test_a_regression_error_fires_when_it_rises_by_more_than_its_relative_margin():
    rising = findings(realized=11.0, baseline=10.0)  # 10% worse than the holdout's RMSE
    assert [a.kind for a in batch_alerts(rising, rules=NO_RULES, metric=RMSE)] == [AlertKind.REALIZED_PERFORMANCE]


def test_the_most_specific_rule_wins_and_a_removed_rule_falls_back():
    everyone = AlertRule(EVERY_MODEL, AlertKind.DRIFT_SHARE, threshold=0.3, channels=("ops",))
    mine = AlertRule("credit", AlertKind.DRIFT_SHARE, threshold=0.2, severity=Severity.CRITICAL, channels=("risk",))
    age = AlertRule("credit", AlertKind.FEATURE_DRIFT, subject="age", channels=("risk",))
    rules = fold_rules([RuleEvent(everyone), RuleEvent(mine), RuleEvent(age)])
    assert rules.rule_for(model="credit", kind=AlertKind.DRIFT_SHARE) == mine
    assert rules.rule_for(model="fraud", kind=AlertKind.DRIFT_SHARE) == everyone
    assert rules.rule_for(model="credit", kind=AlertKind.FEATURE_DRIFT, subject="income") is None
    batch = findings(drift_share=0.25, drifted=(DriftedFeature("age", "PSI", 0.3, 0.1),))
    fired = batch_alerts(batch, rules=rules, metric=ROC_AUC)
    assert [(a.kind, a.subject, a.channels) for a in fired] == [
        (AlertKind.DRIFT_SHARE, "*", ("risk",)),
        (AlertKind.FEATURE_DRIFT, "age", ("risk",)),
    ]
    removed = fold_rules([RuleEvent(everyone), RuleEvent(mine), RuleEvent(mine, removed=True)])
    assert removed.rule_for(model="credit", kind=AlertKind.DRIFT_SHARE) == everyone


@pytest.mark.parametrize(
    ("kind", "subject", "threshold", "channels", "message"),
    [
        (AlertKind.DRIFT_SHARE, None, 1.5, (), "expected a number above 0 and at most 1"),
        (AlertKind.ZOMBIE, None, 2.5, (), "expected a whole number"),
        (AlertKind.QUALITY, None, 0.1, (), "--threshold does not apply to quality"),
        (AlertKind.FEATURE_DRIFT, "salary", None, (), "unknown column 'salary' of model credit"),
        (AlertKind.DRIFT_SHARE, "age", None, (), "--subject does not apply to drift_share"),
        (AlertKind.DRIFT_SHARE, None, None, ("Ops Team",), "channel name 'Ops Team' is not valid"),
    ],
)
def test_a_rule_that_does_not_fit_is_refused_in_one_line(kind, subject, threshold, channels, message):
    with pytest.raises(InputError, match=message):
        make_rule(
            model="credit",
            kind=kind,
            subject=subject,
            threshold=threshold,
            severity=None,
            channels=channels,
            known_subjects=frozenset({"age", "income"}),
        )


def test_a_rule_keeps_the_defaults_it_does_not_change():
    rule = make_rule(
        model="credit",
        kind=AlertKind.REALIZED_PERFORMANCE,
        subject=None,
        threshold=None,
        severity=None,
        channels=("ops", "ops"),
        known_subjects=frozenset(),
    )
    assert (rule.threshold, rule.severity, rule.channels) == (0.05, Severity.CRITICAL, ("ops",))


def test_a_zombie_fires_after_the_rules_days_keyed_by_its_last_batch():
    now = datetime(2026, 3, 1, tzinfo=UTC)
    args = {"model": "credit", "rules": NO_RULES, "champion": "3", "last_batch_id": "b9", "now": now}
    stale = zombie_alert(**args, last_scored=now - timedelta(days=20), last_monitored=now)  # type: ignore[arg-type]
    assert stale is not None
    assert "not scored for over 14 days" in stale.summary
    assert stale.batch_id == "b9"
    fresh = zombie_alert(**args, last_scored=now - timedelta(days=2), last_monitored=now)  # type: ignore[arg-type]
    assert fresh is None
    retired = {**args, "champion": None}
    assert zombie_alert(**retired, last_scored=None, last_monitored=None) is None  # type: ignore[arg-type]


def test_a_failed_audit_verify_fires_keyed_by_the_first_bad_record():
    alert = audit_verify_alert(first_bad_seq=41, problem="record 41 does not match its hash", rules=NO_RULES)
    assert alert is not None
    assert alert.subject == "seq 41"
    assert alert.severity is Severity.CRITICAL


def test_states_go_open_acknowledged_resolved_and_never_back():
    assert next_state(AlertState.OPEN, AlertEvent.ACKNOWLEDGED, alert="a") is AlertState.ACKNOWLEDGED
    assert next_state(AlertState.OPEN, AlertEvent.RESOLVED, alert="a") is AlertState.RESOLVED
    assert next_state(AlertState.ACKNOWLEDGED, AlertEvent.RESOLVED, alert="a") is AlertState.RESOLVED
    with pytest.raises(PolicyViolation, match="alert a is resolved: it cannot be acknowledged"):
        next_state(AlertState.RESOLVED, AlertEvent.ACKNOWLEDGED, alert="a")
    with pytest.raises(PolicyViolation, match="is acknowledged"):
        next_state(AlertState.ACKNOWLEDGED, AlertEvent.ACKNOWLEDGED, alert="a")
    events = [AlertEvent.FIRED, AlertEvent.ATTEMPT, AlertEvent.ACKNOWLEDGED, AlertEvent.ATTEMPT]
    assert fold_state(events) is AlertState.ACKNOWLEDGED


def test_delivery_state_and_what_is_still_due():
    failed, ok = DeliveryAttempt("ops", delivered=False), DeliveryAttempt("ops", delivered=True)
    assert delivery_state((), []) is DeliveryState.NOT_ROUTED
    assert delivery_state(("ops",), []) is DeliveryState.PENDING
    assert delivery_state(("ops",), [failed]) is DeliveryState.UNDELIVERED
    assert delivery_state(("ops",), [failed, ok]) is DeliveryState.DELIVERED
    assert delivery_state(("ops", "mail"), [ok]) is DeliveryState.PENDING
    assert channels_due(("ops", "mail"), [ok], max_attempts=3) == ("mail",)
    assert channels_due(("ops",), [failed] * 3, max_attempts=3) == ()
    assert channels_due(("ops",), [failed] * 3, max_attempts=None) == ("ops",)


def test_backoff_grows_and_is_capped():
    assert RetryPolicy(attempts=5, first_wait=1, factor=3, max_wait=5).waits() == (1, 3, 5, 5)
    assert RetryPolicy(attempts=1).waits() == ()


def test_only_admins_change_rules_and_those_who_watch_production_handle_alerts():
    policy = AccessPolicy({user: frozenset({role}) for user, role in ((r.value, r) for r in Role)})
    assert [r.value for r in Role if may(policy, user=r.value, action=Action.MANAGE_ALERT_RULES)] == ["admin"]
    handlers = {r.value for r in Role if may(policy, user=r.value, action=Action.HANDLE_ALERTS)}
    assert handlers == {"admin", "reviewer", "analyst"}
