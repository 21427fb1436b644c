import streamlit as st

from app import alerts_panel, charts, page, queries
from app.text import plain
from governance.drift import DEFAULT_DATASET_DRIFT_SHARE
from governance.screens import Screen
from governance.zombies import ZOMBIE_AGE
from pipelines.reads.overview import overview_frame, overview_totals

visit = page.start(Screen.OVERVIEW, title="Overview")
home = visit.home
with page.reading():
    summaries = queries.model_summaries(home)
    history = queries.drift_histories(home)

st.caption(f"Every registered model, its champion and the drift of its latest scored batch · {plain(home)}")

page.require_models(summaries)

totals = overview_totals(summaries)
models, in_production, pending, drifted = st.columns(4)
models.metric("Models", totals.models)
in_production.metric("In production", totals.in_production)
pending.metric("Pending requests", totals.pending_requests)
drifted.metric("Drifted latest batches", totals.drifted_latest_batches)

for zombie in (s for s in summaries if s.zombie_reason):
    st.warning(plain(f"Zombie model {zombie.name}: {zombie.zombie_reason}."), icon=":material/skull:")

st.dataframe(
    overview_frame(summaries),
    hide_index=True,
    width="stretch",
    column_order=[
        "name",
        "risk_tier",
        "champion_version",
        "challenger_version",
        "zombie",
        "latest_version",
        "versions",
        "pending_requests",
        "batches",
        "last_scored_at",
        "last_monitored_at",
        "latest_batch_id",
        "latest_drift_share",
        "drift_status",
    ],
    column_config={
        "name": st.column_config.TextColumn("Model"),
        "risk_tier": st.column_config.TextColumn("Risk tier"),
        "champion_version": st.column_config.TextColumn("Champion", help="Version holding the champion alias"),
        "challenger_version": st.column_config.TextColumn(
            "Challenger", help="Version in shadow against the champion (none: shadow scoring is not available yet)"
        ),
        "zombie": st.column_config.CheckboxColumn(
            "Zombie",
            help=f"In production but not scored, or not monitored, in the last {ZOMBIE_AGE.days} days (by the clock)",
        ),
        "latest_version": st.column_config.TextColumn("Latest version"),
        "versions": st.column_config.NumberColumn("Versions"),
        "pending_requests": st.column_config.NumberColumn("Pending requests"),
        "batches": st.column_config.NumberColumn("Batches"),
        "last_scored_at": st.column_config.DatetimeColumn("Last scored", format="YYYY-MM-DD HH:mm z"),
        "last_monitored_at": st.column_config.DatetimeColumn("Last monitored", format="YYYY-MM-DD HH:mm z"),
        "latest_batch_id": st.column_config.TextColumn("Latest batch"),
        "latest_drift_share": st.column_config.ProgressColumn(
            "Drift share",
            help="Share of features drifted in the latest batch",
            format="percent",
            min_value=0.0,
            max_value=1.0,
        ),
        "drift_status": st.column_config.TextColumn("Drift (latest batch)"),
    },
)

alerts_panel.render(home, visit.user, key="overview.alerts")

st.subheader("Drift share per batch")
if history.is_empty():
    st.caption("No scored batch has been checked for drift yet: run `mlgov monitor MODEL`.")
else:
    st.altair_chart(charts.drift_share_chart(history, threshold=DEFAULT_DATASET_DRIFT_SHARE), width="stretch")
