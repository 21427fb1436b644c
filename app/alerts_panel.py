"""The open alerts on Overview: what fired, how bad, whether it reached its channels; those who watch
production acknowledge and resolve them here, through the jobs the CLI runs."""

from __future__ import annotations

import polars as pl
import streamlit as st

from app import components, queries, services
from app.components import FormAction, Outcome, Tone
from app.text import plain
from governance.alerts import SEVERITY_RANK, AlertState, Severity
from governance.errors import MlgovError
from governance.identity import SignedIn
from governance.roles import PERMISSIONS, Action, permitted_actions
from pipelines.jobs.alerts import acknowledge_alert, resolve_alert
from pipelines.reads.alerts import AlertView

ACKNOWLEDGE, RESOLVE = "Acknowledge", "Resolve"


def alerts_frame(views: list[AlertView]) -> pl.DataFrame:
    rows = [
        {
            "severity": v.severity,
            "model": v.model or "(platform)",
            "summary": v.summary,
            "state": v.state.value,
            "delivery": v.delivery.value.replace("_", " "),
            "undelivered": v.undelivered,
            "fired_at": v.fired_at,
            "alert_id": v.alert_id,
        }
        for v in sorted(views, key=lambda v: -SEVERITY_RANK.get(Severity(v.severity), 0))
    ]
    return pl.DataFrame(rows)


def _label(view: AlertView) -> str:
    return f"{view.severity} · {view.model or 'platform'} · {view.summary} ({view.alert_id})"


def render(home: str, user: SignedIn, *, key: str) -> None:
    """The open alerts of the lakehouse `home`, and the acknowledge/resolve form for those permitted."""
    st.subheader("Open alerts")
    components.render_outcome(key=f"{key}.outcome")
    views = queries.open_alerts(home)
    if not views:
        st.caption("No open alerts. Rules fire them when monitoring runs: see `mlgov alerts rules`.")
        return
    undelivered = sum(v.undelivered for v in views)
    if undelivered:
        st.warning(
            f"{undelivered} open alerts have not reached their channel yet: they are retried by the next "
            "monitoring of their model, or now with `mlgov alerts deliver`.",
            icon=":material/notifications_off:",
        )
    st.dataframe(
        alerts_frame(views),
        hide_index=True,
        width="stretch",
        key=f"{key}.table",
        column_config={
            "severity": st.column_config.TextColumn("Severity"),
            "model": st.column_config.TextColumn("Model"),
            "summary": st.column_config.TextColumn("What fired", width="large"),
            "state": st.column_config.TextColumn("State"),
            "delivery": st.column_config.TextColumn("Delivery", help="Whether every channel of its rule took it"),
            "undelivered": st.column_config.CheckboxColumn("Undelivered"),
            "fired_at": st.column_config.DatetimeColumn("Fired", format="YYYY-MM-DD HH:mm z"),
            "alert_id": st.column_config.TextColumn("Alert"),
        },
    )
    if Action.HANDLE_ALERTS not in permitted_actions(user.roles):
        roles = ", ".join(sorted(r.value for r, acts in PERMISSIONS.items() if Action.HANDLE_ALERTS in acts))
        st.caption(f"Acknowledging and resolving alerts needs one of the roles {roles}.")
        return
    by_label = {_label(v): v for v in views}
    chosen = by_label[st.selectbox("Alert", list(by_label), key=f"{key}.alert")]
    refusal = "it is already acknowledged" if chosen.state is AlertState.ACKNOWLEDGED else None
    submitted = components.render_reason_form(
        [FormAction(ACKNOWLEDGE, refusal=refusal, primary=True), FormAction(RESOLVE)],
        key=f"{key}.form",
        reason_label="Note (kept in the audit trail; resolving needs one)",
        placeholder="What is being done, or what was done",
    )
    if submitted is None:
        return
    try:
        ctx = services.get_context()
        if submitted.action == ACKNOWLEDGE:
            acknowledge_alert(ctx, alert_id=chosen.alert_id, actor=user.user, reason=submitted.reason)
        else:
            resolve_alert(ctx, alert_id=chosen.alert_id, actor=user.user, reason=submitted.reason)
    except MlgovError as error:
        st.error(plain(str(error)))
        return
    queries.open_alerts.clear()
    verb = "acknowledged" if submitted.action == ACKNOWLEDGE else "resolved"
    components.announce(
        Outcome(Tone.SUCCESS, f"Alert {chosen.alert_id} {verb}: {chosen.summary}"), key=f"{key}.outcome"
    )
    st.rerun()
