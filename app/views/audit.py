from functools import partial

import polars as pl
import streamlit as st

from app import links, page, queries
from app.audit_panels import render_seal, render_verification
from app.text import plain
from governance.errors import MlgovError
from governance.screens import Screen
from pipelines.reads.audit import BREAK_GLASS, REFUSED, AuditFilter, AuditTrail, audit_csv, audit_json, filter_audit

visit = page.start(Screen.AUDIT, title="Audit trail")
home = visit.home

# Rows tinted by a pandas Styler: it styles cell by cell, so a long trail is flagged by its column only.
TINT_ROW_LIMIT = 2_000
TINTS = {
    REFUSED: "background-color: rgba(214, 39, 40, 0.12)",
    BREAK_GLASS: "background-color: rgba(245, 133, 24, 0.22)",
}
FLAG_LABELS = {REFUSED: "⛔ refused", BREAK_GLASS: "🚨 break-glass", "": ""}
# What a browser table lists at once; a million rows would take seconds to send and draw. Downloads
# carry every matching record.
SHOWN_ROW_LIMIT = 10_000

st.caption(
    "Every governed action, refused ones included, in a hash chain: each record's hash covers the one before, "
    "so an edited, removed or reordered record breaks the chain from there on."
)

trail: AuditTrail | None = None
unreadable: str | None = None
try:
    trail = queries.audit_trail(home)
except MlgovError as error:
    unreadable = str(error)

st.subheader("Chain integrity")
render_verification(key="audit.verify", records=trail.records if trail else None)
render_seal(key="audit.seal", user=visit.user)

st.subheader("Records")
if trail is None:
    st.error(plain(f"The audit records cannot be shown: {unreadable}"))
    st.stop()
if trail.days is None:
    st.info("The audit trail is empty: nothing has been done in this lakehouse yet.")
    st.stop()

records = trail.records
first_day, last_day = trail.days
st.subheader("Record detail")
RECORD_KEY = "audit.record"
seqs: list[int] = records["seq"].to_list()
first_seq, last_seq = min(seqs), max(seqs)
links.preselect("record", seqs, key=RECORD_KEY, noun="audit record")
seq = st.number_input(
    "Sequence number",
    min_value=first_seq,
    max_value=last_seq,
    value=None,
    step=1,
    key=RECORD_KEY,
    placeholder=f"{first_seq} to {last_seq}",
    help="The record's Seq in the table below; the address bar then links to it.",
)
links.follow("record", seq, key=RECORD_KEY)
chosen = records.filter(pl.col("seq") == seq) if seq is not None else records.clear()
if not chosen.is_empty():
    record = chosen.row(0, named=True)
    at, actor, outcome = st.columns(3)
    at.metric("At (UTC)", f"{record['at']:%Y-%m-%d %H:%M:%S}")
    actor.metric("Actor", record["actor"])
    outcome.metric("Outcome", record["outcome"])
    st.text(f"Action: {record['action']}")
    st.text(f"Object: {record['object']}")
    st.text(f"Reason: {record['reason'] or '(none given)'}")
    st.text("Details:")
    st.code(record["details"] or "{}", language="json", wrap_lines=True)
    st.text(f"Event id: {record['event_id']}")
    st.text(f"Hash: {record['hash']}")

st.subheader("Filter the trail")
who, what, which, when = st.columns([2, 2, 2, 2])
actors = who.multiselect("Actor", trail.actors, key="audit.actors", placeholder="Anyone")
actions = what.multiselect("Action", trail.actions, key="audit.actions", placeholder="Any action")
object_text = which.text_input(
    "Object or model contains",
    key="audit.object",
    placeholder="e.g. loan_default",
    help="Matches the record's object (such as a request id) and the model its details name, so a model's "
    "approvals are found by the model's name",
)
# No default range: one fixed when the page opened would hide the records of a later day.
picked = when.date_input(
    "Between (UTC days)",
    value=[],
    key="audit.days",
    help=f"The trail runs from {first_day:%Y-%m-%d} to {last_day:%Y-%m-%d}; leave empty for every day.",
)
span = tuple(picked) if isinstance(picked, tuple | list) else (picked,)
flagged_only = st.toggle("Only refusals and break-glass", key="audit.flagged")
shown = filter_audit(
    records,
    where=AuditFilter(
        actors=tuple(actors),
        actions=tuple(actions),
        object_text=object_text,
        since=span[0] if span else None,
        until=span[1] if len(span) > 1 else None,
        flagged_only=flagged_only,
    ),
)

refusals = shown.filter(pl.col("flag") == REFUSED).height
break_glass = shown.filter(pl.col("flag") == BREAK_GLASS).height
count, refused, forced = st.columns(3)
count.metric("Records shown", f"{shown.height:,}", help=f"of {records.height:,} in the trail")
refused.metric("Refusals", refusals)
forced.metric("Break-glass", break_glass)
if break_glass:
    st.warning(
        plain(f"{break_glass} break-glass actions in these records: promotions forced past the approval policy."),
        icon=":material/emergency:",
    )

COLUMNS = ["flag", "seq", "at", "actor", "action", "object", "outcome", "reason", "details"]
if shown.height > SHOWN_ROW_LIMIT:
    st.caption(
        f"The newest {SHOWN_ROW_LIMIT:,} of {shown.height:,} matching records are listed: narrow the filters to see "
        "older ones, or download them all below."
    )
listed = shown.top_k(SHOWN_ROW_LIMIT, by="seq")  # newest first, without sorting the whole trail
table = listed.select(COLUMNS).with_columns(
    pl.col("flag").replace_strict(FLAG_LABELS, default=pl.col("flag")),
    # as text: the trail keeps UTC, and a styled table would show timestamps in pandas' own format
    pl.col("at").dt.convert_time_zone("UTC").dt.strftime("%Y-%m-%d %H:%M:%S"),
)
data = table.to_pandas()
if 0 < shown.height <= TINT_ROW_LIMIT:
    flags = listed["flag"].to_list()
    data = data.style.apply(lambda row: [TINTS.get(flags[row.name], "")] * len(row), axis=1)
elif shown.height > TINT_ROW_LIMIT:
    st.caption(f"Over {TINT_ROW_LIMIT:,} records: refusals and break-glass are marked in the first column only.")
st.dataframe(
    data,
    hide_index=True,
    width="stretch",
    column_order=COLUMNS,
    column_config={
        "flag": st.column_config.TextColumn("Flag", help="Refused actions and break-glass promotions", width="small"),
        "seq": st.column_config.NumberColumn("Seq", format="%d"),
        "at": st.column_config.TextColumn("At (UTC)"),
        "actor": st.column_config.TextColumn("Actor"),
        "action": st.column_config.TextColumn("Action"),
        "object": st.column_config.TextColumn("Object"),
        "outcome": st.column_config.TextColumn("Outcome"),
        "reason": st.column_config.TextColumn("Reason", width="large"),
        "details": st.column_config.TextColumn("Details"),
    },
)

csv_button, json_button = st.columns(2)
csv_button.download_button(
    f"Download {shown.height:,} records (CSV)",
    data=partial(audit_csv, shown),  # built when clicked, not on every rerun
    file_name="audit-records.csv",
    mime="text/csv",
    on_click="ignore",
    key="audit.download_csv",
    icon=":material/download:",
)
json_button.download_button(
    f"Download {shown.height:,} records (JSON)",
    data=partial(audit_json, shown),
    file_name="audit-records.json",
    mime="application/json",
    on_click="ignore",
    key="audit.download_json",
    icon=":material/download:",
)
