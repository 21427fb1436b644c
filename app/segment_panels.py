"""Segments and fairness on the Drift and Performance pages: the chosen segment columns, the segments
the search reported, and the fairness verdicts per protected group; tables from
`pipelines.reads.segments`, charts drawn here."""

from __future__ import annotations

from typing import Any

import altair as alt
import polars as pl
import streamlit as st

from app import queries
from app.text import plain
from governance.segments import SearchPolicy
from pipelines.reads import segments as reads

SEARCH = SearchPolicy()  # the thresholds monitoring applies, shown in the captions
VERDICT_COLORS = alt.Scale(domain=["passes", "fails", "not judged"], range=["#4c78a8", "#e45756", "#bab0ac"])

FINDING_COLUMNS = {
    "batch_id": st.column_config.TextColumn("Batch id"),
    "segment": st.column_config.TextColumn("Segment", width="large"),
    "rows": st.column_config.NumberColumn("Rows"),
    "value": st.column_config.NumberColumn("Segment", format="%.3f"),
    "low": st.column_config.NumberColumn("95% low", format="%.3f"),
    "high": st.column_config.NumberColumn("95% high", format="%.3f"),
    "whole": st.column_config.NumberColumn("Rest", format="%.3f"),
    "adjusted_p": st.column_config.NumberColumn("p (Holm)", format="%.2e"),
}
SEGMENT_DRIFT_COLUMNS = {
    "columns": st.column_config.TextColumn("Column"),
    "segment": st.column_config.TextColumn("Segment"),
    "rows": st.column_config.NumberColumn("Rows"),
    "share": st.column_config.NumberColumn("Share now", format="%.3f"),
    "training_share": st.column_config.NumberColumn("Share in training", format="%.3f"),
    "drift_share": st.column_config.NumberColumn("Features drifted", format="%.2f"),
}
SEGMENT_PERFORMANCE_COLUMNS = {
    "columns": st.column_config.TextColumn("Column"),
    "segment": st.column_config.TextColumn("Segment"),
    "kind": st.column_config.TextColumn("Kind"),
    "metric": st.column_config.TextColumn("Metric"),
    "value": st.column_config.NumberColumn("Value", format="%.3f"),
    "std_error": st.column_config.NumberColumn("Std error", format="%.3f"),
    "low": st.column_config.NumberColumn("95% low", format="%.3f"),
    "high": st.column_config.NumberColumn("95% high", format="%.3f"),
    "rows": st.column_config.NumberColumn("Rows"),
}
FAIRNESS_COLUMNS = {
    "attribute": st.column_config.TextColumn("Attribute"),
    "group": st.column_config.TextColumn("Group"),
    "reference_group": st.column_config.TextColumn("Against"),
    "metric": st.column_config.TextColumn("Metric"),
    "value": st.column_config.NumberColumn("Value", format="%.3f"),
    "verdict": st.column_config.TextColumn("Verdict"),
    "rule": st.column_config.TextColumn("Rule", width="large"),
    "group_rate": st.column_config.NumberColumn("Group rate", format="%.3f"),
    "reference_rate": st.column_config.NumberColumn("Reference rate", format="%.3f"),
    "support": st.column_config.NumberColumn("Support"),
}
HOW_TO_CHOOSE = "Choose segment columns with `mlgov model set {model} --segment COLUMN[:BUCKETS]` (admins)."


def render_segment_drift(home: str, model: str, *, batch_id: str, batch_label: str) -> None:
    st.subheader("Segments")
    rows = queries.segment_rows(home, model)
    table = reads.segment_drift_table(rows, batch_id)
    if table.is_empty():
        st.caption(plain(f"No segment column is chosen for {model}. " + HOW_TO_CHOOSE.format(model=model)))
    else:
        st.caption(
            plain(
                f"{batch_label}: each chosen segment's share of the batch against its share of the training data, "
                "and the share of features that drifted within the segment (against the same segment of the "
                "training data)."
            )
        )
        _chart_and_table(share_chart(table), table, columns=SEGMENT_DRIFT_COLUMNS)
    _findings(rows, kind="search_shift", what="share of rows moved from training's")


def render_segment_performance(home: str, model: str, *, metrics: list[str]) -> None:
    st.subheader("Segments")
    rows = queries.segment_rows(home, model)
    fairness = queries.fairness_rows(home, model)
    batches = queries.label_coverage(home, model)
    choices = reads.segment_batches(rows, fairness, batches.sort("batch"))
    if not choices:
        st.caption(plain(f"No segment or fairness rows for {model} yet: run `mlgov monitor {model}`."))
        return
    batch_id = st.selectbox("Batch of the segment and fairness tables", choices, key=f"performance.segments.{model}")
    loss = [m for m in ("error_rate", "mean_absolute_error") if m in set(rows["metric"].to_list())]
    table = reads.segment_performance_table(rows, batch_id, metrics=[*loss, *metrics])
    if table.is_empty():
        st.caption(plain("No chosen segment has performance in this batch. " + HOW_TO_CHOOSE.format(model=model)))
    else:
        st.caption(
            plain(
                "Realized metrics over each segment's labelled rows (the error with its standard error and 95% "
                "interval), and estimated from the model's outputs alone for segments of at least "
                f"{SEARCH.min_rows} rows."
            )
        )
        realized = table.filter((pl.col("kind") == "realized") & pl.col("metric").is_in(loss))
        chart = interval_chart(realized) if realized.height else None
        _chart_and_table(chart, table, columns=SEGMENT_PERFORMANCE_COLUMNS)
    _findings(rows, kind="search_error", what="error is worse than the rest of the batch")
    _fairness(fairness, batch_id, model=model)


def _findings(rows: pl.DataFrame, *, kind: str, what: str) -> None:
    found = reads.segment_findings(rows, kind=kind)
    searched = rows.filter(pl.col("kind") == kind)["batch_id"].n_unique()
    st.markdown(f"**Segments whose {what}** · searched over two and three columns")
    if found.is_empty():
        st.caption(
            f"None in {searched} searched batches: no segment of at least {SEARCH.min_rows} rows differs "
            f"significantly (Holm-corrected, {SEARCH.alpha:.0%}) from the rest."
        )
        return
    st.caption(
        f"{found.height} segments in {found['batch_id'].n_unique()} of {searched} searched batches, most "
        "significant first; each large enough and significant after a Holm correction over every segment tested."
    )
    st.dataframe(found, hide_index=True, width="stretch", column_config=FINDING_COLUMNS)


def _fairness(fairness: pl.DataFrame, batch_id: str, *, model: str) -> None:
    st.subheader("Fairness")
    table = reads.fairness_table(fairness, batch_id)
    if table.is_empty():
        st.caption(
            plain(
                f"No protected attribute is declared for {model}: "
                f"`mlgov model set {model} --protected COLUMN[=REFERENCE]` (admins)."
            )
        )
        return
    failing = table.filter(pl.col("verdict") == "fails")
    if failing.height:
        st.warning(plain(f"{failing.height} fairness checks fail in this batch."))
    else:
        st.success(plain(f"No fairness check fails in this batch ({table.height} checked)."))
    _chart_and_table(fairness_chart(table), table, columns=FAIRNESS_COLUMNS)


def _chart_and_table(chart: alt.Chart | alt.LayerChart | None, table: pl.DataFrame, *, columns: dict[str, Any]) -> None:
    if chart is not None:
        st.altair_chart(chart, width="stretch")
    st.dataframe(table, hide_index=True, width="stretch", column_config=columns)


def share_chart(table: pl.DataFrame) -> alt.Chart:
    long = table.unpivot(index="segment", on=["share", "training_share"], variable_name="when", value_name="value")
    long = long.with_columns(pl.col("when").replace({"share": "now", "training_share": "training"}))
    return (
        alt.Chart(long)
        .mark_bar()
        .encode(
            x=alt.X("value:Q", title="Share of rows", axis=alt.Axis(format="%")),
            y=alt.Y("segment:N", title=None),
            yOffset="when:N",
            color=alt.Color("when:N", title=None),
            tooltip=["segment", "when", alt.Tooltip("value:Q", format=".3f")],
        )
    )


def interval_chart(realized: pl.DataFrame) -> alt.LayerChart:
    base = alt.Chart(realized).encode(y=alt.Y("segment:N", title=None))
    bars = base.mark_rule().encode(x=alt.X("low:Q", title=str(realized["metric"][0])), x2="high:Q")
    points = base.mark_point(filled=True).encode(
        x="value:Q", tooltip=["segment", alt.Tooltip("value:Q", format=".3f"), "rows"]
    )
    return bars + points


def fairness_chart(table: pl.DataFrame) -> alt.Chart:
    return (
        alt.Chart(table.select("attribute", "group", "metric", "value", "verdict"))
        .mark_bar()
        .encode(
            x=alt.X("value:Q", title="Group against the reference"),
            y=alt.Y("metric:N", title=None),
            yOffset="group:N",
            color=alt.Color("verdict:N", scale=VERDICT_COLORS, title="Verdict"),
            tooltip=["attribute", "group", "metric", alt.Tooltip("value:Q", format=".3f"), "verdict"],
        )
    )
