import polars as pl
import streamlit as st

from app import page, queries
from app.text import plain
from governance.screens import Screen
from pipelines.reads.feature_tables import duration_text
from pipelines.reads.lineage import StartKind, trace_edges

visit = page.start(
    Screen.FEATURES,
    title="Features",
    caption=(
        "Feature tables shared across models: each joined as of every row's event time at training and "
        "scoring, never with a later value. Freshness is the age of the newest row against the table's "
        "usual interval between a key's consecutive rows (late beyond two intervals)."
    ),
)
home = visit.home
with page.reading():
    tables = queries.feature_tables(home)
if not tables:
    st.info(
        "This lakehouse has no feature tables yet. Create one from an ingested table: "
        "`mlgov features create NAME --from TABLE --key COL --timestamp COL [--ttl 30d] --actor USER`."
    )
    st.stop()

overview = pl.DataFrame(
    [
        {
            "table": t["table"],
            "source": t["source"],
            "key": t["key"],
            "timestamp": t["timestamp"],
            "TTL": t["ttl"] or "none",
            "version": t["version"],
            "rows": t["rows"],
            "keys": t["keys"],
            "newest row": t["newest"],
            "freshness": t["freshness"],
            "age": duration_text(t["age_seconds"]),
            "usual interval": duration_text(t["cadence_seconds"]),
            "used by": ", ".join(t["models"]) or "-",
        }
        for t in tables
    ]
)
st.dataframe(overview, hide_index=True)
late = [t["table"] for t in tables if t["freshness"] == "late"]
if late:
    st.warning(plain(f"Late (no new rows for more than two usual intervals): {', '.join(late)}"))

names = [t["table"] for t in tables]
chosen = st.selectbox("Feature table", names, key="features.table")
if chosen is None:
    st.stop()
with page.reading():
    detail = queries.feature_table(home, chosen)
    skew = queries.feature_skew(home, chosen)
    trace = queries.lineage_trace(home, StartKind.TABLE_VERSION.value, f"{chosen}@{detail['version']}")

st.subheader(plain(chosen))
st.markdown(
    plain(
        f"From {detail['source']} · key {detail['key']} · event time {detail['timestamp']} · "
        f"TTL {detail['ttl'] or 'none'} · columns {', '.join(detail['columns'])}"
    )
)
st.caption("Versions: each fill appended the source's new rows as a new version of the feature table.")
st.dataframe(pl.DataFrame(detail["versions"]), hide_index=True)
st.caption(plain(f"Model versions trained with it: {', '.join(detail['models']) or 'none yet'}"))

st.caption(
    "Training/serving skew per scored batch: the share of rows whose as-of value differs from the key's "
    "latest value (what a real-time lookup serves)."
)
if skew.height:
    st.dataframe(skew, hide_index=True)
else:
    st.caption("No batch has been scored with it yet.")

st.caption("Lineage of the current version: where it came from, and what was made from it.")
st.dataframe(trace_edges(trace), hide_index=True)

with page.reading():
    health = queries.feature_table_health(home, chosen)
st.caption(
    "Drift and quality per version: each fill's new rows against the version the first model was trained "
    "with (or the table's first version), with the same tests as model monitoring."
)
if health.height:
    st.line_chart(health.to_pandas(), x="version", y="statistic", color="feature")
    st.dataframe(health, hide_index=True)
    drifted = health.filter(pl.col("drifted"))
    if drifted.height:
        shown = ", ".join(f"{row['feature']} (v{row['version']})" for row in drifted.iter_rows(named=True))
        st.warning(plain(f"Drifted from the reference: {shown}"))
else:
    st.caption(plain(f"Not monitored yet: mlgov features monitor {chosen.removeprefix('features/')}"))
