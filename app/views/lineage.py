import json
import re

import streamlit as st

from app import graphs, links, page, queries
from app.audit_panels import render_evidence_pack
from app.text import plain
from governance.errors import MlgovError
from governance.screens import Screen
from pipelines.reads.lineage import StartKind, trace_document, trace_edges

visit = page.start(Screen.LINEAGE, title="Lineage")
user, home = visit.user, visit.home
with page.reading():
    choices = queries.lineage_choices(home)

st.caption(
    "Where a prediction, a scoring batch, a model version or a table version came from (upstream) "
    "and what was made from it (downstream), as the jobs recorded it."
)
if not choices.model_versions and not choices.table_versions:
    st.info("This lakehouse has no lineage yet. Run `mlgov demo` to seed a demo, or train one with `mlgov train`.")
    st.stop()

STARTS = {
    StartKind.PREDICTION: "Prediction",
    StartKind.BATCH: "Batch",
    StartKind.MODEL_VERSION: "Model version",
    StartKind.TABLE_VERSION: "Table version",
}
# A link names one node: `?batch=...`, `?model_version=name/3`, `?table_version=...` or `?prediction=...`.
LINK_PARAMS = {kind: kind.value for kind in STARTS}
linked_kind = next((kind for kind, param in LINK_PARAMS.items() if links.linked(param) is not None), None)
if linked_kind is not None and st.session_state.get("lineage.linked") != links.linked(LINK_PARAMS[linked_kind]):
    st.session_state["lineage.start"] = linked_kind
    st.session_state["lineage.linked"] = links.linked(LINK_PARAMS[linked_kind])
    if linked_kind is StartKind.PREDICTION:
        st.session_state["lineage.prediction"] = links.linked(LINK_PARAMS[linked_kind])
start = st.segmented_control(
    "Start from",
    list(STARTS),
    format_func=STARTS.__getitem__,
    default=StartKind.MODEL_VERSION,
    required=True,
    key="lineage.start",
)
batches = {b.batch_id: b for b in choices.batches}
ref: str | None
if start is StartKind.PREDICTION:
    example = next((b.example_prediction for b in choices.batches if b.example_prediction), None)
    ref = st.text_input(
        "Prediction id",
        key="lineage.prediction",
        placeholder=example or "<batch_id>:<entity key>",
        help="A prediction is named by its batch and the entity key it scored: <batch_id>:<entity key>.",
    ).strip()
    if not ref:
        st.caption(plain(f"Enter a prediction id to trace it back, e.g. {example}." if example else ""))
elif start is StartKind.BATCH:
    links.preselect(LINK_PARAMS[start], list(batches), key="lineage.batch", noun="batch")
    ref = st.selectbox(
        "Batch",
        list(batches),
        format_func=lambda b: (
            f"{b} · {batches[b].model} v{batches[b].model_version} · "
            f"{batches[b].rows:,} rows · scored {batches[b].scored_at:%Y-%m-%d %H:%M} UTC"
        ),
        key="lineage.batch",
        placeholder="No batch has been scored yet",
    )
elif start is StartKind.TABLE_VERSION:
    links.preselect(LINK_PARAMS[start], choices.table_versions, key="lineage.table_version", noun="table version")
    ref = st.selectbox(
        "Table version", choices.table_versions, key="lineage.table_version", placeholder="No table version yet"
    )
else:
    links.preselect(LINK_PARAMS[start], choices.model_versions, key="lineage.model_version", noun="model version")
    ref = st.selectbox(
        "Model version", choices.model_versions, key="lineage.model_version", placeholder="No model version yet"
    )
WIDGET_KEYS = {
    StartKind.PREDICTION: "lineage.prediction",
    StartKind.BATCH: "lineage.batch",
    StartKind.MODEL_VERSION: "lineage.model_version",
    StartKind.TABLE_VERSION: "lineage.table_version",
}
for kind, param in LINK_PARAMS.items():  # the address bar links to the node on screen, and only to it
    if kind is not start:
        st.query_params.pop(param, None)
links.follow(LINK_PARAMS[start], ref or None, key=WIDGET_KEYS[start])
st.session_state["lineage.linked"] = ref or None

if ref:
    try:
        trace = queries.lineage_trace(home, start.value, ref)
    except MlgovError as error:
        st.error(plain(str(error)))
    else:
        edges = trace_edges(trace)
        linked = (*trace.upstream, *trace.downstream)
        upstream, downstream, nodes = st.columns(3)
        upstream.metric("Upstream links", len(trace.upstream), help="Edges on a path into it: what it was made from")
        downstream.metric("Downstream links", len(trace.downstream), help="Edges on a path out of it: what it made")
        nodes.metric("Nodes", len({trace.start} | {e.src for e in linked} | {e.dst for e in linked}))
        st.graphviz_chart(graphs.lineage_dot(trace.start, linked), width="stretch")
        details = plain(f"What the lakehouse records about {trace.start.id}")
        with st.expander(details, expanded=start is StartKind.PREDICTION):
            st.json(trace.details)
        st.dataframe(
            edges,
            hide_index=True,
            width="stretch",
            column_config={
                "direction": st.column_config.TextColumn("Direction"),
                "from_kind": st.column_config.TextColumn("From (kind)"),
                "from_id": st.column_config.TextColumn("From"),
                "relation": st.column_config.TextColumn("Relation"),
                "to_kind": st.column_config.TextColumn("To (kind)"),
                "to_id": st.column_config.TextColumn("To"),
            },
        )
        stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"lineage-{start.value}-{trace.start.id}")
        csv_button, json_button = st.columns(2)
        csv_button.download_button(
            f"Download {edges.height} edges (CSV)",
            data=edges.write_csv(),
            file_name=f"{stem}.csv",
            mime="text/csv",
            on_click="ignore",
            key="lineage.download_csv",
            icon=":material/download:",
        )
        json_button.download_button(
            "Download the trace (JSON)",
            data=json.dumps(trace_document(trace), ensure_ascii=False, indent=2, default=str),
            file_name=f"{stem}.json",
            mime="application/json",
            on_click="ignore",
            key="lineage.download_json",
            icon=":material/download:",
        )

st.subheader("Evidence pack")
st.caption(
    "One zip an auditor can check without mlgov: the model card, promotion requests and approvals, the champion "
    "alias history, lineage, and the version's audit records with the whole chain and a script to verify them. "
    "Exporting is recorded in the audit trail."
)
if not choices.model_versions:
    st.caption("No model version has been trained yet.")
    st.stop()
traced = ref if start is StartKind.MODEL_VERSION and ref in choices.model_versions else None
pack_version = st.selectbox(
    "Model version",
    choices.model_versions,
    index=choices.model_versions.index(traced) if traced else 0,
    key="lineage.pack.version",
)
render_evidence_pack(model_version=pack_version, user=user, key="lineage.pack")
