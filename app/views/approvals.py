import streamlit as st

from app import components, page, queries, services
from app.components import FormAction, Outcome, Tone
from app.evidence import render_evidence
from app.text import plain
from governance.errors import MlgovError
from governance.screens import Screen
from pipelines.jobs.promote import approve, reject
from pipelines.reads import reviews
from pipelines.reads.task_metrics import task_metrics

OUTCOME_KEY = "approvals.outcome"
REQUEST_KEY = "approvals.request"
APPROVE, REJECT = "Approve", "Reject"

visit = page.start(
    Screen.APPROVALS,
    title="Approvals",
    caption="Promotion requests and the evidence the platform computed for them. Whether you may approve or reject, "
    "and whether the champion alias moves, is decided by the promotion policy and checked again when you act.",
    outcome_key=OUTCOME_KEY,
)
user, home = visit.user, visit.home
with page.reading():
    queue = queries.review_queue(home)

if not queue:
    st.info("No promotion requests yet. A maker opens one with `mlgov promote request MODEL VERSION --reason TEXT`.")
    st.stop()

show_decided = st.toggle("Show decided requests", key="approvals.show_decided")
selected = st.session_state.get(REQUEST_KEY)  # stays listed once decided, so its outcome can be read
listed = [q for q in queue if show_decided or q.open or q.request_id == selected]
st.subheader(f"Queue · {sum(q.open for q in queue)} open")
if not listed:
    st.info("No request is waiting for review. Turn on “Show decided requests” to see earlier ones.")
    st.stop()
st.dataframe(
    reviews.queue_frame(listed),
    hide_index=True,
    width="stretch",
    column_config={
        "request_id": st.column_config.TextColumn("Request"),
        "model": st.column_config.TextColumn("Model"),
        "version": st.column_config.TextColumn("Version"),
        "status": st.column_config.TextColumn("Status"),
        "requester": st.column_config.TextColumn("Requested by"),
        "requested_at": st.column_config.DatetimeColumn("Requested", format="YYYY-MM-DD HH:mm z"),
        "approvals": st.column_config.TextColumn("Approvals given", help="Given / required; which count is below"),
        "approved_by": st.column_config.TextColumn("Approved by"),
        "break_glass": st.column_config.CheckboxColumn("Break-glass"),
    },
)

by_id = {q.request_id: q for q in listed}
request_id = st.selectbox(
    "Request to review",
    list(by_id),
    format_func=lambda rid: f"{rid} · {by_id[rid].model} version {by_id[rid].version} · {by_id[rid].status.value}",
    key=REQUEST_KEY,
)
if request_id is None:
    st.stop()
with page.reading():
    detail = queries.request_detail(home, request_id)
    permissions = queries.review_permissions(home, request_id, user.user)
request, policy = detail["request"], detail["policy"]
task = reviews.evidence_task(detail["evidence"])
counted = f"{len(policy['counted'])}/{policy['required']}"

st.subheader(plain(f"{request['model']} version {request['version']} → {request['alias']}"))
status, tier, approvals, requester = st.columns(4)
status.metric("Status", request["status"].replace("_", "-"))
tier.metric("Risk tier", request["risk_tier"])
approvals.metric("Approvals", counted, help="Approvals that count now / approvals the risk tier requires")
requester.metric("Requested by", request["requester"])
st.text(f"Reason given: {request['reason']}")
if request["break_glass"]:
    st.warning("Break-glass: an admin forced this promotion; it awaits review after the fact.")
if request["status"] == "pending" and policy["promotable"]:
    st.success("Policy met: the alias moves with the next approval.")
elif request["status"] == "pending":
    st.warning(plain("The alias may not move yet: " + "; ".join(policy["blocked_by"]) + "."))

st.subheader("Evidence")
if detail["evidence"] is None:
    st.warning("This request has no evidence attached.")
else:
    render_evidence(detail["evidence"], version=request["version"], gates=policy["gates"])

left, right = st.columns(2, gap="medium")
with left.container(border=True):
    st.markdown("**Challenger** · shadow comparison on live batches")
    try:
        shadow = queries.shadow_comparison(home, request["model"], request["version"])
    except MlgovError as error:
        st.error(plain(str(error)))
        shadow = []
    if shadow:
        shown = task_metrics(task)
        lead = shown.headline_display
        st.caption(plain(f"Version {request['version']} scored in shadow beside the champion on {len(shadow)} batches"))
        st.dataframe(
            reviews.shadow_frame(shadow, task=task),
            hide_index=True,
            width="stretch",
            column_config={
                "champion_version": st.column_config.TextColumn("Champion"),
                "challenger_version": st.column_config.TextColumn("Challenger"),
                "champion_batch": st.column_config.TextColumn("Batch"),
                "rows": st.column_config.NumberColumn("Rows"),
                "disagreement_rate": st.column_config.NumberColumn(
                    "Disagree", format="percent", help="Share of rows where they decide differently"
                ),
                "score_ks": st.column_config.NumberColumn(
                    f"{shown.output.capitalize()} K-S",
                    format="%.3f",
                    help=f"Kolmogorov-Smirnov distance between the two versions' {shown.output}s",
                ),
                "champion_metric": st.column_config.NumberColumn(
                    f"Champion {lead.label}", format="%.3f", help=f"Realized; {lead.direction}"
                ),
                "challenger_metric": st.column_config.NumberColumn(
                    f"Challenger {lead.label}", format="%.3f", help=f"Realized; {lead.direction}"
                ),
            },
        )
    else:
        st.info(
            plain(
                f"No challenger in shadow: version {request['version']} has not been scored in shadow beside "
                "the champion, so there is no live comparison for this request."
            )
        )
with right.container(border=True):
    st.markdown("**Policy verdict**")
    for gate in policy["gates"]:
        st.text(reviews.gate_text(gate, task=task))
    if not policy["gates"]:
        st.text("No metric gate: there is no champion to compare against.")
    st.text(f"Approvals that count: {', '.join(policy['counted']) or 'none'} ({counted})")
    for blocked in policy["blocked_by"]:
        st.text(f"Not yet: {blocked}")
    if policy["subject_changed"]:
        st.warning("The model, its training data or its evaluation changed since the request: approve anew.")

st.subheader("Approvals and decision")
if detail["approvals"]:
    st.dataframe(
        reviews.approvals_frame(detail["approvals"]),
        hide_index=True,
        width="stretch",
        column_config={
            "actor": st.column_config.TextColumn("Approved by"),
            "at": st.column_config.DatetimeColumn("At", format="YYYY-MM-DD HH:mm z"),
            "reason": st.column_config.TextColumn("Reason"),
            "counts": st.column_config.CheckboxColumn("Counts", help="Same subject, same roles, not stale"),
        },
    )
else:
    st.caption("Nobody has approved this request yet.")
if detail["rejection"]:
    rejection = detail["rejection"]
    st.text(f"Rejected by {rejection['actor']} at {rejection['at']}: {rejection['reason']}")

submitted = components.render_reason_form(
    [
        FormAction(APPROVE, refusal=permissions.approve_refusal, primary=True),
        FormAction(REJECT, refusal=permissions.reject_refusal),
    ],
    key=f"approvals.decide.{request_id}",
    placeholder="What you checked, and why you agree or not",
)
if submitted is not None:
    ctx = services.get_context()
    try:
        if submitted.action == APPROVE:
            with st.spinner("Recording your approval and checking the policy…"):
                result = approve(ctx, request_id=request_id, reason=submitted.reason, actor=user.user)
            message = reviews.approval_outcome(result, alias=request["alias"])
            outcome = Outcome(Tone.SUCCESS if result.alias_moved else Tone.INFO, message)
        else:
            with st.spinner("Recording your rejection…"):
                result = reject(ctx, request_id=request_id, reason=submitted.reason, actor=user.user)
            outcome = Outcome(Tone.WARNING, reviews.rejection_outcome(result))
    except MlgovError as error:
        st.error(plain(str(error)))
    else:
        queries.forget_governance_reads()
        components.announce(outcome, key=OUTCOME_KEY)
        st.rerun()
