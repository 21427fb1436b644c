from collections.abc import Callable
from functools import partial

import streamlit as st

from app import components, links, page, promotion_forms, queries, services
from app.components import FormAction, Outcome, Tone
from app.evidence import render_evidence
from app.text import plain
from governance.errors import MlgovError
from governance.roles import Action, permitted_actions
from governance.screens import Screen
from pipelines.jobs.promote import approve, force_promotion, reject, request_promotion, withdraw
from pipelines.reads import reviews
from pipelines.reads.task_metrics import task_metrics

OUTCOME_KEY = "approvals.outcome"
REQUEST_KEY = "approvals.request"
APPROVE, REJECT, WITHDRAW = "Approve", "Reject", "Withdraw"
QUEUE_COLUMNS = {
    "request_id": st.column_config.TextColumn("Request"),
    "model": st.column_config.TextColumn("Model"),
    "version": st.column_config.TextColumn("Version"),
    "alias": st.column_config.TextColumn("Alias"),
    "status": st.column_config.TextColumn("Status"),
    "requester": st.column_config.TextColumn("Requested by"),
    "requested_at": st.column_config.DatetimeColumn("Requested", format="YYYY-MM-DD HH:mm z"),
    "approvals": st.column_config.TextColumn("Approvals given", help="Given / required; which count is below"),
    "approved_by": st.column_config.TextColumn("Approved by"),
    "break_glass": st.column_config.CheckboxColumn("Break-glass"),
}

visit = page.start(
    Screen.APPROVALS,
    title="Approvals",
    caption="Promotion requests and the evidence the platform computed for them. Whether you may request, "
    "approve, reject or withdraw, and whether the champion alias moves, is decided by the promotion policy "
    "and checked again when you act.",
    outcome_key=OUTCOME_KEY,
)
user, home = visit.user, visit.home
actions = permitted_actions(user.roles)  # which sections to offer; every action is checked again by its job
STARTS = {Action.REQUEST_PROMOTION, Action.FORCE_PROMOTION}


def act(label: str, run: Callable[[], Outcome]) -> None:
    """Run a job the CLI runs too; its refusal is one error line, its outcome is shown after the rerun."""
    try:
        with st.spinner(label):
            outcome = run()
    except MlgovError as error:
        st.error(plain(str(error)))
        return
    queries.forget_governance_reads()
    components.announce(outcome, key=OUTCOME_KEY)
    st.rerun()


def file_request(form: promotion_forms.PromotionForm) -> Outcome:
    ctx = services.get_context()
    result = request_promotion(
        ctx, model=form.model, version=form.version, reason=form.reason, actor=user.user, alias=form.alias
    )
    st.session_state[REQUEST_KEY] = result.request_id
    return Outcome(Tone.SUCCESS, reviews.request_outcome(result, alias=form.alias))


def force(form: promotion_forms.PromotionForm) -> Outcome:
    ctx = services.get_context()
    result = force_promotion(ctx, model=form.model, version=form.version, reason=form.reason, actor=user.user)
    st.session_state[REQUEST_KEY] = result.request_id
    return Outcome(Tone.WARNING, reviews.break_glass_outcome(result))


def decide(action: str, request_id: str, reason: str, alias: str) -> Outcome:
    ctx = services.get_context()
    if action == APPROVE:
        approved = approve(ctx, request_id=request_id, reason=reason, actor=user.user)
        message = reviews.approval_outcome(approved, alias=alias)
        return Outcome(Tone.SUCCESS if approved.alias_moved else Tone.INFO, message)
    if action == REJECT:
        return Outcome(
            Tone.WARNING, reviews.rejection_outcome(reject(ctx, request_id=request_id, reason=reason, actor=user.user))
        )
    withdrawn = withdraw(ctx, request_id=request_id, reason=reason, actor=user.user)
    return Outcome(Tone.INFO, reviews.withdrawal_outcome(withdrawn))


with page.reading():
    queue = queries.review_queue(home)
    models = [summary.name for summary in queries.model_summaries(home)] if actions & STARTS else []

if Action.REQUEST_PROMOTION in actions and models:
    with st.expander("Request a promotion", expanded=not queue):
        form = promotion_forms.render_request_form(home, models, key="approvals.new")
    if form is not None:
        act("Attaching the evidence and filing the request…", partial(file_request, form))

if Action.FORCE_PROMOTION in actions and models:
    with st.expander("Break-glass promotion"):
        forced = promotion_forms.render_break_glass_form(home, models, key="approvals.force")
    if forced is not None:
        act("Moving the champion alias…", partial(force, forced))

if not queue:
    if Action.REQUEST_PROMOTION in actions:
        st.info("No promotion requests yet. Request one above.")
    else:
        st.info("No promotion requests yet. A maker requests one from this page.")
    st.stop()

if Action.APPROVE in actions:
    with page.reading():
        waiting = queries.waiting_for(home, user.user)
    mine = [q for q in queue if q.request_id in waiting]
    st.subheader(f"Waiting for me · {len(mine)}")
    if mine:
        st.dataframe(reviews.queue_frame(mine), hide_index=True, width="stretch", column_config=QUEUE_COLUMNS)
    else:
        st.caption("No open request is waiting for your review.")

if Action.REQUEST_PROMOTION in actions:
    own = [q for q in queue if q.requester == user.user]
    st.subheader(f"My requests · {sum(q.open for q in own)} open")
    if own:
        st.dataframe(reviews.queue_frame(own), hide_index=True, width="stretch", column_config=QUEUE_COLUMNS)
    else:
        st.caption("You have not requested a promotion yet.")

links.preselect("request", [q.request_id for q in queue], key=REQUEST_KEY, noun="promotion request")
show_decided = st.toggle("Show decided requests", key="approvals.show_decided")
selected = st.session_state.get(REQUEST_KEY)  # stays listed once decided, so its outcome can be read
listed = [q for q in queue if show_decided or q.open or q.request_id == selected]
st.subheader(f"Queue · {sum(q.open for q in queue)} open")
if not listed:
    st.info("No request is waiting for review. Turn on “Show decided requests” to see earlier ones.")
    st.stop()
st.dataframe(reviews.queue_frame(listed), hide_index=True, width="stretch", column_config=QUEUE_COLUMNS)

by_id = {q.request_id: q for q in listed}
request_id = st.selectbox(
    "Request to review",
    list(by_id),
    format_func=lambda rid: f"{rid} · {by_id[rid].model} version {by_id[rid].version} · {by_id[rid].status.value}",
    key=REQUEST_KEY,
)
links.follow("request", request_id, key=REQUEST_KEY)
if request_id is None:
    st.stop()
with page.reading():
    detail = queries.request_detail(home, request_id)
    permissions = queries.review_permissions(home, request_id, user.user)
request, policy, standing = detail["request"], detail["policy"], detail["standing"]
task = reviews.evidence_task(detail["evidence"])
counted = standing["approvals"]  # the queue shows the same count: one computation (request_standing)

st.subheader(plain(f"{request['model']} version {request['version']} → {request['alias']}"))
status, tier, approvals, requester = st.columns(4)
status.metric(
    "Status",
    standing["state"],
    help="Final states: approved and promoted, rejected, withdrawn, superseded, blocked by a failed gate",
)
tier.metric("Risk tier", request["risk_tier"])
approvals.metric("Approvals", counted, help="Approvals that count now / approvals the risk tier requires")
requester.metric("Requested by", request["requester"])
st.text(f"Reason given: {request['reason']}")
if request["break_glass"]:
    st.warning("Break-glass: an admin forced this promotion; it awaits review after the fact.")
if standing["state"] in ("blocked by a failed gate", "superseded"):
    st.error(plain(standing["explanation"][:1].upper() + standing["explanation"][1:] + "."))
elif request["status"] == "pending" and policy["promotable"]:
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
            "expires_at": st.column_config.DatetimeColumn(
                "Expires", format="YYYY-MM-DD HH:mm z", help="An approval stops counting after the tier's time limit"
            ),
        },
    )
    for expired in (a for a in detail["approvals"] if a["expired"]):
        st.caption(
            plain(f"{expired['actor']}'s approval expired on {expired['expires_at'][:10]}: it no longer counts.")
        )
else:
    st.caption("Nobody has approved this request yet.")
if detail["rejection"]:
    rejection = detail["rejection"]
    st.text(f"Rejected by {rejection['actor']} at {rejection['at']}: {rejection['reason']}")
if detail.get("withdrawal"):
    withdrawal = detail["withdrawal"]
    st.text(f"Withdrawn by {withdrawal['actor']} at {withdrawal['at']}: {withdrawal['reason']}")

# The buttons follow the request and the user: an action is offered only where the policy allows it;
# where it does not, the reason is shown instead of a button.
refusals = {APPROVE: permissions.approve_refusal, REJECT: permissions.reject_refusal}
if permissions.requester:
    refusals[WITHDRAW] = permissions.withdraw_refusal
if request["status"] not in ("pending", "break_glass"):
    st.caption(plain(f"This request is {standing['state']}: there is nothing left to decide."))
    st.stop()
for label, refusal in refusals.items():
    if refusal is not None:
        st.caption(plain(f"{label} is not available: {refusal}."))
offered = [FormAction(label, primary=label == APPROVE) for label, refusal in refusals.items() if refusal is None]
if not offered:
    st.stop()
submitted = components.render_reason_form(
    offered,
    key=f"approvals.decide.{request_id}",
    placeholder="What you checked, and why you agree or not"
    if permissions.approve_refusal is None or permissions.reject_refusal is None
    else "Why you take this request back",
)
if submitted is not None:
    doing = {APPROVE: "Recording your approval and checking the policy…", REJECT: "Recording your rejection…"}
    choice, reason = submitted.action, submitted.reason
    act(
        doing.get(choice, "Withdrawing your request…"),
        lambda: decide(choice, request_id, reason, request["alias"]),
    )
