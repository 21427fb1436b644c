from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import polars as pl

from governance.alerts import Alert as FiredAlert
from governance.alerts import AlertKind, Severity, alert_id
from governance.roles import Role
from lakehouse.delta import CommitInfo
from lakehouse.schemas import ALERTS, AUDIT
from pipelines.jobs.alerts import fire_alerts
from tests.app.conftest import captions, open_app
from tests.conftest import Seeded, context_for


def alerts_table(at) -> pl.DataFrame:  # type: ignore[no-untyped-def]
    (table,) = [d.value for d in at.dataframe if "alert_id" in d.value.columns]
    return pl.from_pandas(table)


def test_an_analyst_sees_open_alerts_and_acknowledges_one(seeded: Seeded, serve_home: Callable[[Path], None]) -> None:
    serve_home(seeded.home)

    at = open_app("ana", Role.ANALYST)

    assert not at.exception
    table = alerts_table(at)
    assert set(table["summary"].str.split(" ").list.first()) >= {"drift"}  # the seeded shift, by the defaults
    assert set(table["state"]) == {"open"}
    assert set(table["delivery"]) == {"not routed"}
    assert not table["undelivered"].any()
    drift = table.filter(pl.col("summary").str.starts_with("drift share"))["alert_id"][0]
    at.selectbox(key="overview.alerts.alert").select(
        next(o for o in at.selectbox(key="overview.alerts.alert").options if drift in o)
    ).run()
    at.text_area(key="overview.alerts.form.reason").input("looking into income")
    at.button(key="overview.alerts.form.acknowledge").click().run()

    assert not at.exception
    assert not at.error
    assert any(f"Alert {drift} acknowledged" in s.value for s in at.success)
    assert alerts_table(at).filter(pl.col("alert_id") == drift)["state"].to_list() == ["acknowledged"]
    audit = context_for(seeded.home).store.read(AUDIT).filter(pl.col("object_id") == drift)
    assert audit.select("actor", "action", "reason").rows() == [("ana", "acknowledge_alert", "looking into income")]


def test_an_auditor_sees_alerts_but_no_form_and_undelivered_ones_are_flagged(
    seeded: Seeded, serve_home: Callable[[Path], None]
) -> None:
    ctx = context_for(seeded.home)
    key = {"model": "loan_default", "batch_id": seeded.batch_ids[1], "model_version": "1"}
    pending = FiredAlert(
        alert_id=alert_id(**key, kind=AlertKind.FEATURE_DRIFT, subject="income"),
        **key,
        kind=AlertKind.FEATURE_DRIFT,
        subject="income",
        severity=Severity.CRITICAL,
        summary="income drifted",
        evidence={},
        channels=("ops",),
    )
    fire_alerts(ctx, [pending], commit=CommitInfo(run_id="r", job="test", actor="test"))
    assert ctx.store.exists(ALERTS)
    serve_home(seeded.home)

    at = open_app("aiko", Role.AUDITOR)

    assert not at.exception
    table = alerts_table(at)
    assert table["severity"][0] == "critical"  # the worst first
    assert table.filter(pl.col("alert_id") == pending.alert_id)["undelivered"].to_list() == [True]
    assert any("have not reached their channel yet" in w.value for w in at.warning)
    assert not at.selectbox
    assert "Acknowledging and resolving alerts needs one of the roles admin, analyst, reviewer" in captions(at)
