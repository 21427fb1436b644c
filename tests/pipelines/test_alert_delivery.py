"""Alerts end to end on real tables and real receivers on 127.0.0.1: a rule fires on the seeded drift,
the alert arrives once and signed, is retried when the receiver fails, stays undelivered while the
receiver never answers, and goes out by e-mail; people acknowledge and resolve it."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest
from deltalake import write_deltalake

from governance.alerts import AlertKind, AlertState, DeliveryState, RetryPolicy, zombie_alert
from governance.audit.actions import AuditAction
from governance.errors import PermissionDenied, PolicyViolation
from lakehouse.channels import DELIVERY_ID_HEADER, verify_signature
from lakehouse.schemas import ALERTS, AUDIT
from pipelines.context import Context, build_context
from tests.alert_receivers import Mailbox, WebhookReceiver, smtp_server, webhook_receiver
from tests.cli_harness import Cli
from tests.conftest import ADMIN, ANALYST, MAKER, START, FixedClock, Seeded

MODEL = "loan_default"
SECRET = "test-signing-secret"
FAST = RetryPolicy(attempts=2, first_wait=0.05, timeout=0.5)


@pytest.fixture(scope="module")
def receiver() -> Iterator[WebhookReceiver]:
    with webhook_receiver() as started:
        yield started


@pytest.fixture(scope="module")
def mailbox() -> Iterator[Mailbox]:
    with smtp_server() as started:
        yield started


@pytest.fixture
def hook(receiver: WebhookReceiver) -> WebhookReceiver:
    receiver.received.clear()
    receiver.requests, receiver.fail_first, receiver.silent = 0, 0, False
    receiver.release.clear()
    return receiver


def channels_env(receiver: WebhookReceiver, mailbox: Mailbox) -> dict[str, str]:
    mail = f"mailto://127.0.0.1:{mailbox.port}?from=mlgov@example.org&to=risk@example.org&mode=insecure"
    return {"MLGOV_CHANNEL_OPS": receiver.url, "MLGOV_CHANNEL_OPS_SECRET": SECRET, "MLGOV_CHANNEL_MAIL": mail}


def context(home: Path, env: dict[str, str]) -> Context:
    return build_context({"MLGOV_HOME": str(home), **env}, cwd=home, clock=FixedClock(START))


def drift_rule(ctx: Context, *channels: str) -> None:
    from pipelines.jobs.alerts import set_alert_rule

    set_alert_rule(ctx, model=MODEL, kind="feature_drift", channels=channels, actor=ADMIN, reason="watch each feature")


def test_a_shift_fires_arrives_once_signed_and_is_not_sent_again(
    seeded: Seeded, hook: WebhookReceiver, mailbox: Mailbox
):
    from pipelines.jobs.monitor import monitor
    from pipelines.reads.alerts import list_alerts

    ctx = context(seeded.home, channels_env(hook, mailbox))
    drift_rule(ctx, "ops")
    hook.fail_first = 1  # the receiver fails first: the same alert is retried, not duplicated
    report = monitor(ctx, model=MODEL)
    fired = report.alerts.fired
    assert fired, "the seeded week-7 batch drifted: a feature_drift rule must fire"
    assert {a.kind for a in fired} == {AlertKind.FEATURE_DRIFT}
    assert {a.batch_id for a in fired} == {seeded.batch_ids[1]}  # the shifted week, not the first
    ids = sorted(a.alert_id for a in fired)
    assert sorted(r.headers[DELIVERY_ID_HEADER] for r in hook.received) == ids  # each arrived once
    for received in hook.received:
        assert verify_signature(SECRET, headers=received.headers, body=received.body)
        assert not verify_signature("another secret", headers=received.headers, body=received.body)
        document = json.loads(received.body)
        assert document["model"] == MODEL
        assert document["evidence"]["method"]
    views = list_alerts(ctx, model=MODEL, states=[AlertState.OPEN])
    feature_alerts = [v for v in views if v.kind == AlertKind.FEATURE_DRIFT]
    assert {v.delivery for v in feature_alerts} == {DeliveryState.DELIVERED}
    first = next(v for v in feature_alerts if any(not a.delivered for a in v.attempts))
    assert [a.delivered for a in first.attempts] == [False, True]
    assert "HTTP 500" in first.attempts[0].detail

    again = monitor(ctx, model=MODEL)
    assert again.alerts.fired == ()
    assert len(hook.received) == len(ids)  # delivered once: never sent again


def test_a_receiver_that_never_answers_leaves_the_alert_undelivered_until_it_does(
    seeded: Seeded, hook: WebhookReceiver, mailbox: Mailbox
):
    from pipelines.context import job_run
    from pipelines.jobs.alerts import deliver, deliver_pending, fire_alerts
    from pipelines.reads.alerts import alert_rules, list_alerts

    ctx = context(seeded.home, channels_env(hook, mailbox))
    from pipelines.jobs.alerts import set_alert_rule

    set_alert_rule(ctx, model="*", kind="zombie", threshold=1, channels=["ops", "mail"], actor=ADMIN)
    later = START.replace(year=START.year + 1)
    alert = zombie_alert(
        model=MODEL,
        rules=alert_rules(ctx),
        champion="1",
        last_batch_id=seeded.batch_ids[1],
        last_scored=START,
        last_monitored=START,
        now=later,
    )
    assert alert is not None
    hook.silent = True
    with job_run(ctx, job="test", actor=ADMIN) as run:
        assert fire_alerts(ctx, [alert], commit=run.commit) == [alert]
        assert fire_alerts(ctx, [alert], commit=run.commit) == []  # the same finding fires once
        report = deliver(ctx, commit=run.commit, retry=FAST)
    assert report.undelivered == (alert.alert_id,)
    (view,) = list_alerts(ctx, alert_ids=[alert.alert_id])
    assert view.delivery is DeliveryState.UNDELIVERED  # visible, never lost
    assert [a.detail for a in view.attempts if a.channel == "ops"] == [
        f"no answer from webhook http://127.0.0.1:{hook.url.split(':')[2].split('/')[0]} within 0.5s"
    ] * 2
    assert any(a.channel == "mail" and a.delivered for a in view.attempts)  # the other channel still got it
    assert any(alert.summary in text and alert.alert_id in text for text in mailbox.texts())

    hook.silent = False
    hook.release.set()
    outcome = deliver_pending(ctx, retry=FAST)
    assert alert.alert_id in outcome.report.delivered
    assert [r.headers[DELIVERY_ID_HEADER] for r in hook.received] == [alert.alert_id]
    (view,) = list_alerts(ctx, alert_ids=[alert.alert_id])
    assert view.delivery is DeliveryState.DELIVERED


def test_acknowledge_and_resolve_are_for_those_who_watch_production_and_audited(seeded: Seeded):
    from pipelines.jobs.alerts import acknowledge_alert, resolve_alert
    from pipelines.reads.alerts import list_alerts

    ctx = context(seeded.home, {})
    (drifted,) = [v for v in list_alerts(ctx, model=MODEL) if v.kind == AlertKind.DRIFT_SHARE]  # by the defaults
    assert drifted.delivery is DeliveryState.NOT_ROUTED
    with pytest.raises(PermissionDenied, match=r"maya .*may not handle alerts"):
        acknowledge_alert(ctx, alert_id=drifted.alert_id, actor=MAKER)
    acked = acknowledge_alert(ctx, alert_id=drifted.alert_id, actor=ANALYST, reason="looking at income")
    assert (acked.state, acked.handled_by) == (AlertState.ACKNOWLEDGED, ANALYST)
    with pytest.raises(PolicyViolation, match="is acknowledged: it cannot be acknowledged"):
        acknowledge_alert(ctx, alert_id=drifted.alert_id, actor=ADMIN)
    resolved = resolve_alert(ctx, alert_id=drifted.alert_id, actor=ADMIN, reason="retrained on recent data")
    assert resolved.state is AlertState.RESOLVED
    audit = ctx.store.read(AUDIT).filter(pl.col("object_id") == drifted.alert_id).sort("seq")
    assert audit["action"].to_list() == ["handle_alerts", AuditAction.ACKNOWLEDGE_ALERT, AuditAction.RESOLVE_ALERT]
    assert audit["outcome"].to_list() == ["refused", "ok", "ok"]
    events = ctx.store.read(ALERTS).filter(pl.col("alert_id") == drifted.alert_id)["event"].to_list()
    assert sorted(events) == ["acknowledged", "fired", "resolved"]


def test_the_cli_lists_tests_channels_sets_rules_and_refuses_bad_input_in_one_line(
    seeded: Seeded, hook: WebhookReceiver, mailbox: Mailbox
):
    env = {**channels_env(hook, mailbox), "MLGOV_CHANNEL_BROKEN": "https://", "MLGOV_CHANNEL_BROKEN_SECRET": "x"}
    cli = Cli(seeded.home, env=env)
    listed = cli.json("alerts", "list", "--model", MODEL, "--state", "open")
    assert {a["kind"] for a in listed["alerts"]} == {"drift_share", "estimated_performance"}  # the defaults
    assert {a["delivery"] for a in listed["alerts"]} == {"not_routed"}
    assert cli.json("alerts", "test", "ops")["delivered"] is True
    assert json.loads(hook.received[-1].body)["test"] is True
    assert cli.json("alerts", "test", "mail")["delivered"] is True
    rule = cli.json(
        "alerts",
        "rule",
        "set",
        MODEL,
        "--kind",
        "drift_share",
        "--threshold",
        "0.3",
        "--severity",
        "critical",
        "--channel",
        "ops",
        "--actor",
        ADMIN,
    )
    assert (rule["threshold"], rule["severity"], rule["channels"]) == (0.3, "critical", ["ops"])
    assert cli.json("alerts", "rules")["rules"] == [{k: v for k, v in rule.items() if k != "removed"}]
    cli("alerts", "rule", "remove", MODEL, "--kind", "drift_share", "--actor", ADMIN)
    assert cli.json("alerts", "rules")["rules"] == []
    set_rule = ("alerts", "rule", "set")
    cli.refused(*set_rule, "nope", "--kind", "drift_share", "--actor", ADMIN, needle="nope")
    cli.refused(
        *set_rule, MODEL, "--kind", "quality", "--subject", "salary", "--actor", ADMIN, needle="unknown column 'salary'"
    )
    cli.refused(
        *set_rule,
        MODEL,
        "--kind",
        "drift_share",
        "--channel",
        "pager",
        "--actor",
        ADMIN,
        needle="unknown channel 'pager'",
    )
    cli.refused(
        *set_rule,
        MODEL,
        "--kind",
        "drift_share",
        "--channel",
        "broken",
        "--actor",
        ADMIN,
        needle="not a valid webhook URL",
    )
    cli.refused(*set_rule, MODEL, "--kind", "wobble", "--actor", ADMIN, needle="unknown alert kind 'wobble'")
    cli.refused(*set_rule, MODEL, "--kind", "drift_share", "--actor", MAKER, needle="may not manage alert rules")
    cli.refused("alerts", "test", "broken", needle="not a valid webhook URL")
    cli.refused("alerts", "ack", "0000", "--actor", ANALYST, needle="no alert '0000'")
    cli.refused(
        "alerts",
        "resolve",
        listed["alerts"][0]["alert_id"],
        "--actor",
        ANALYST,
        "--reason",
        "",
        needle="needs --reason",
    )


def test_a_failed_audit_verify_fires_an_alert(seeded: Seeded, hook: WebhookReceiver, mailbox: Mailbox):
    cli = Cli(seeded.home, env=channels_env(hook, mailbox))
    cli("alerts", "rule", "set", "*", "--kind", "audit_verify", "--channel", "ops", "--actor", ADMIN)
    store = context(seeded.home, {}).store
    records = store.read(AUDIT).sort("seq")
    edited = records.with_columns(
        pl.when(pl.col("seq") == 5).then(pl.lit("nothing to see")).otherwise(pl.col("reason")).alias("reason")
    )
    shutil.rmtree(store.path(AUDIT))  # an attacker with storage access rewrites the whole table
    write_deltalake(str(store.path(AUDIT)), edited.to_arrow())
    result = cli("audit", "verify", ok=False)
    assert "alert " in result.stdout
    (alert,) = cli.json("alerts", "list", "--state", "open")["alerts"][:1]
    assert (alert["kind"], alert["subject"], alert["severity"]) == ("audit_verify", "seq 5", "critical")
    assert alert["delivery"] == "delivered"
    assert json.loads(hook.received[-1].body)["alert_id"] == alert["alert_id"]


def test_a_registry_divergence_fires_an_alert(seeded: Seeded):
    from pipelines.reads.governed import TIER_TAG

    cli = Cli(seeded.home)
    context(seeded.home, {}).registry.client.set_registered_model_tag(MODEL, TIER_TAG, "low")  # behind mlgov's back
    cli("registry", "check", ok=False)
    (alert,) = [a for a in cli.json("alerts", "list", "--model", MODEL)["alerts"] if a["kind"] == "registry_divergence"]
    assert (alert["subject"], alert["severity"]) == (f"model_tag:{TIER_TAG}", "critical")
    assert "is low in MLflow" in alert["summary"]
    cli("registry", "check", ok=False)  # found again: the same alert, not another
    assert [a["kind"] for a in cli.json("alerts", "list", "--model", MODEL)["alerts"]].count("registry_divergence") == 1


def test_alerts_deliver_fires_a_zombie_once(seeded: Seeded):
    from pipelines.jobs.labels import load_labels

    later = build_context(
        {"MLGOV_HOME": str(seeded.home)}, cwd=seeded.home, clock=FixedClock(START + timedelta(days=30))
    )
    labels = seeded.files / "labels7.csv"
    load_labels(later, model=MODEL, path=labels, key=seeded.dataset.key, label=seeded.dataset.target, actor=MAKER)
    cli = Cli(seeded.home)
    fired = cli.json("alerts", "deliver")["fired"]
    (zombie,) = [a for a in cli.json("alerts", "list", "--model", MODEL)["alerts"] if a["kind"] == "zombie"]
    assert fired == [zombie["alert_id"]]
    assert "not scored for over 14 days" in zombie["summary"]
    assert cli.json("alerts", "deliver")["fired"] == []  # still a zombie: the same alert, not another
