import streamlit as st

from app import charts, components, links, page, queries, services
from app.components import FormAction, Outcome, Tone
from app.text import plain
from governance.errors import MlgovError
from governance.screens import Screen
from pipelines.jobs.promote import rollback
from pipelines.reads import models
from pipelines.reads.task_metrics import metric_display, task_metrics

OUTCOME_KEY = "models.outcome"
ROLL_BACK = "Roll back"

visit = page.start(
    Screen.MODELS,
    title="Models",
    caption="The registry: every version with its metrics and tags, and which version held the champion alias when.",
    outcome_key=OUTCOME_KEY,
)
user, home = visit.user, visit.home
with page.reading():
    names = [summary.name for summary in queries.model_summaries(home)]
page.require_models(names)
links.preselect("model", names, key="models.model", noun="model")
model = st.selectbox("Model", names, key="models.model")
links.follow("model", model, key="models.model")
if model is None:
    st.stop()
with page.reading():
    detail = queries.model_detail(home, model)
    rollback_refusal = queries.rollback_refusal(home, user.user, model)

champion, challenger, tier, task, count = st.columns(5)
champion.metric("Champion", f"v{detail.champion}" if detail.champion else "none")
challenger.metric("Challenger", f"v{detail.challenger}" if detail.challenger else "none", help="None in shadow yet")
tier.metric("Risk tier", detail.risk_tier)
task.metric(
    "Task",
    detail.task.value if detail.task else "not recorded",
    help="Recorded with each version; it decides the metrics, labels, estimates and gates",
)
count.metric("Versions", len(detail.versions))
if detail.task is not None:
    st.caption(plain(task_metrics(detail.task).summary))

st.subheader("Versions")
versions = models.versions_frame(detail.versions, run_links=detail.run_links)
metrics = models.metric_columns(versions, task=detail.task)
shown = {metric: metric_display(metric, task=detail.task) for metric in metrics}
linked = bool(detail.run_links)
st.dataframe(
    versions,
    hide_index=True,
    width="stretch",
    column_order=[
        "version",
        "aliases",
        "run_link" if linked else "run_id",
        "created_at",
        "trainer",
        "algorithm",
        "train_table",
        "train_table_version",
        "approval_status",
        "approvals",
        *metrics,
    ],
    column_config={
        "version": st.column_config.TextColumn("Version"),
        "aliases": st.column_config.TextColumn("Aliases"),
        "created_at": st.column_config.DatetimeColumn("Registered", format="YYYY-MM-DD HH:mm z"),
        "trainer": st.column_config.TextColumn("Trained by"),
        "algorithm": st.column_config.TextColumn("Algorithm"),
        "train_table": st.column_config.TextColumn("Training table"),
        "train_table_version": st.column_config.TextColumn("Table version"),
        "approval_status": st.column_config.TextColumn("Review"),
        "approvals": st.column_config.TextColumn("Approvals"),
        **{
            metric: st.column_config.NumberColumn(d.label, format="%.4f", help=f"On the holdout; {d.direction}")
            for metric, d in shown.items()
        },
        "run_id": st.column_config.TextColumn("MLflow run"),
        "run_link": st.column_config.LinkColumn("MLflow run", display_text="open run"),
    },
)
if not linked:
    st.caption("Set MLGOV\\_MLFLOW\\_UI\\_URL to the MLflow UI's address to link each version to its run.")

by_version = {v.version: v for v in detail.versions}
version_choices = sorted(by_version, key=int, reverse=True)
linked_version = links.preselect("version", version_choices, key="models.version", noun=f"version of {model}")
with st.expander("Tags and parameters of a version", expanded=linked_version is not None):
    chosen = st.selectbox("Version", version_choices, key="models.version")
    links.follow("version", chosen, key="models.version")
    if chosen is not None:
        st.dataframe(models.tags_frame(by_version[chosen]), hide_index=True, width="stretch")

st.subheader("Champion history")
until = models.timeline_until(detail.timeline, now=detail.latest_activity)
if until is None:
    st.caption("No version has held the champion alias yet.")
else:
    st.altair_chart(charts.alias_timeline_chart(detail.timeline, until=until), width="stretch")
    st.dataframe(
        detail.timeline,
        hide_index=True,
        width="stretch",
        column_config={
            "version": st.column_config.TextColumn("Version"),
            "start": st.column_config.DatetimeColumn("From", format="YYYY-MM-DD HH:mm z"),
            "end": st.column_config.DatetimeColumn("Until", format="YYYY-MM-DD HH:mm z", help="Empty: holds it now"),
            "kind": st.column_config.TextColumn("How"),
            "break_glass": st.column_config.CheckboxColumn("Break-glass"),
            "rolled_back": st.column_config.CheckboxColumn("Rollback"),
            "actor": st.column_config.TextColumn("By"),
            "reason": st.column_config.TextColumn("Reason"),
            "request_id": st.column_config.TextColumn("Request"),
        },
    )

st.subheader("Roll back")
st.caption(
    plain(
        f"Returns the champion alias of {model} to the previous version that passed review, in one step. "
        "Reviewers and admins may; the reason goes into the audit trail."
    )
)
submitted = components.render_reason_form(
    [FormAction(ROLL_BACK, refusal=rollback_refusal, primary=True)],
    key=f"models.rollback.{model}",
    placeholder="Why the current champion must go",
)
if submitted is not None:
    try:
        with st.spinner("Moving the champion alias back…"):
            move = rollback(services.get_context(), model=model, reason=submitted.reason, actor=user.user)
    except MlgovError as error:
        st.error(plain(str(error)))
    else:
        queries.forget_governance_reads()
        message = f"Rolled back: {move.model} champion is version {move.version} again (was {move.previous or 'none'})."
        components.announce(Outcome(Tone.SUCCESS, message), key=OUTCOME_KEY)
        st.rerun()
