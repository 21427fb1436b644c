import polars as pl
import streamlit as st
import streamlit.components.v1 as html_components

from app import charts, components, links, page, queries, segment_panels, services
from app.text import plain
from governance.drift import DEFAULT_DATASET_DRIFT_SHARE
from governance.errors import MlgovError
from governance.screens import Screen
from pipelines.jobs.reports import write_evidently_report
from pipelines.reads.monitoring import batches_by_role, drift_magnitude, evidently_report_path, shown_batches

visit = page.start(Screen.DRIFT, title="Drift")
user, home = visit.user, visit.home
with page.reading():
    summaries = queries.model_summaries(home)

names = [summary.name for summary in summaries]
page.require_models(names)

# open on the first model whose latest batch drifted: that is what someone comes here to look at
drifted_now = [summary.name for summary in summaries if summary.latest_drifted]
links.preselect("model", names, key="drift.model", noun="model")
model = st.selectbox("Model", names, index=names.index(drifted_now[0]) if drifted_now else 0, key="drift.model")
links.follow("model", model, key="drift.model")
with page.reading():
    cells = queries.drift_cells(home, model)
    history = queries.drift_history(home, model)

if cells.is_empty():
    st.info(plain(f"No scored batch of {model} has been checked for drift yet: run `mlgov monitor {model}`."))
    st.stop()

picked = components.render_batch_filter(cells.unique("batch_id"), key=f"drift.batches.{model}")
dated = shown_batches(cells, first=picked.first, last=picked.last)
checked = (
    dated.unique("batch", keep="first")
    .sort("batch")
    .join(history.select("batch_id", "drift_share", "drifted"), on="batch_id", how="left", suffix="_batch")
)
st.caption(
    plain(
        f"{model}'s scored batches in the chosen days, each checked against its version's training data: "
        f"{batches_by_role(checked, drifted='drifted_batch') or 'none'} (a batch drifts when at least "
        f"{DEFAULT_DATASET_DRIFT_SHARE:.0%} of its features drifted)."
    )
)
cells = shown_batches(dated, series=picked.series)
batches = shown_batches(checked, series=picked.series)
if batches.is_empty():
    st.info("No checked batch of the chosen versions falls in the chosen days: pick other versions or days.")
    st.stop()
features = cells["feature"].unique(maintain_order=True).to_list()

st.subheader("Drift per feature and batch")
st.caption(
    "One row of cells per version and role. Red: the feature drifted in that batch. Hover a cell for its test, "
    "statistic and threshold."
)
st.altair_chart(charts.drift_heatmap(cells, series=picked.series), width="stretch")

st.subheader("Drift share over time")
st.altair_chart(
    charts.drift_share_chart(
        history.join(batches.select("batch_id", "series"), on="batch_id").with_columns(model=pl.lit(model)),
        threshold=DEFAULT_DATASET_DRIFT_SHARE,
    ),
    width="stretch",
)

st.subheader("Drift magnitude over time")
st.caption(
    "Each feature's drift statistic per batch against its threshold (dashed), one line per version and role. "
    "A p-value drifts when it falls below its threshold, a distance when it rises above it."
)
st.altair_chart(charts.drift_magnitude_chart(drift_magnitude(cells), series=picked.series), width="stretch")

st.subheader("One feature, reference against current")
labels = {
    row["batch_id"]: (
        f"batch {row['batch']} · {row['window_start']:%Y-%m-%d} · {row['series']} · "
        f"{'drifted' if row['drifted_batch'] else 'stable'} ({row['drift_share']:.0%})"
        if row["window_start"] is not None
        else f"batch {row['batch']} · {row['series']}"
    )
    for row in batches.iter_rows(named=True)
}
pick_batch, pick_feature = st.columns(2)
links.preselect("batch", list(labels), key=f"drift.batch.{model}", noun=f"checked batch of {model} in these days")
batch_id = pick_batch.selectbox(
    "Batch",
    list(reversed(labels)),
    format_func=labels.__getitem__,
    key=f"drift.batch.{model}",
)
links.follow("batch", batch_id, key=f"drift.batch.{model}")
cell_rows = cells.filter(pl.col("batch_id") == batch_id)
first_drifted = cell_rows.filter(pl.col("drifted"))["feature"].to_list()
feature = pick_feature.selectbox(
    "Feature",
    features,
    index=features.index(first_drifted[0]) if first_drifted else 0,
    key=f"drift.feature.{model}",
)
cell = cell_rows.filter(pl.col("feature") == feature)
try:
    frames = queries.batch_frames(home, model, batch_id)
    distribution = queries.feature_distribution(home, model, batch_id, feature)
except MlgovError as error:
    st.error(plain(str(error)))
else:
    if cell.height:
        found = cell.row(0, named=True)
        verdict = "drifted" if found["drifted"] else "stable"
        st.caption(
            plain(
                f"{feature}: {verdict} by {found['method']} (statistic {found['statistic']:.4g}, "
                f"threshold {found['threshold']:.4g}). Reference: {frames.reference_id}, "
                f"{frames.reference.height:,} training rows of v{frames.model_version}; "
                f"current: the batch's {frames.current.height:,} rows."
            )
        )
    if distribution.is_empty():
        st.caption(plain(f"{feature} has no values to compare in this batch."))
    else:
        st.altair_chart(charts.distribution_chart(distribution, feature=feature), width="stretch")

try:
    outputs = queries.output_distribution(home, model, batch_id)
except MlgovError as error:
    st.error(plain(str(error)))
else:
    st.subheader(plain(f"Output drift: {outputs.output.heading}"))
    baseline = (
        f"against batch {outputs.reference_batch}, the first batch v{outputs.model_version} scored"
        if outputs.reference_batch is not None
        else f"alone: it is the first batch v{outputs.model_version} scored, the baseline of the later ones"
    )
    tested = outputs.verdict
    said = (
        f"{'Drifted' if tested['drifted'] else 'Stable'} by {tested['method']} (statistic "
        f"{tested['statistic']:.4g}, threshold {tested['threshold']:g})."
        if tested
        else "Not tested yet: run mlgov monitor."
    )
    st.caption(plain(f"The {outputs.output.label} of every row of batch {outputs.batch}, {baseline}. {said}"))
    if outputs.distribution.is_empty():
        st.caption(plain(f"Batch {outputs.batch} has no {outputs.output.label} to draw."))
    else:
        st.altair_chart(charts.distribution_chart(outputs.distribution, feature=outputs.output.label), width="stretch")

st.subheader("Evidently report")
report = evidently_report_path(services.get_context(), batch_id)
st.caption(
    plain(
        f"Evidently's own drift report of {labels[batch_id].split(' · ')[0]}, generated on demand (it takes "
        f"a few seconds) and kept at reports/{report.name} in the lakehouse home. Download it as a file, "
        "or show it on this page."
    )
)
if st.button(
    "Generate the Evidently report" if not report.is_file() else "Generate it again",
    key="drift.generate_report",
    icon=":material/summarize:",
):
    with st.status("Generating the Evidently report…", expanded=True) as status:
        version = cell_rows["model_version"][0]
        st.write(plain(f"Comparing the batch's rows with the training data of v{version}…"))
        try:
            write_evidently_report(services.get_context(), model=model, batch_id=batch_id, actor=user.user)
        except MlgovError as error:
            status.update(label="The Evidently report could not be generated", state="error")
            st.error(plain(str(error)))
        else:
            status.update(label=plain(f"Evidently report saved to reports/{report.name}"), state="complete")
if report.is_file():
    size_mb = report.stat().st_size / 1e6
    st.download_button(
        f"Download the report (HTML, {size_mb:.1f} MB)",
        data=report.read_bytes,
        file_name=f"{model}-{batch_id}-evidently.html",
        mime="text/html",
        on_click="ignore",
        key="drift.download_report",
        icon=":material/download:",
    )
    if st.toggle("Show the report on this page", key="drift.show_report"):
        with st.expander("Evidently drift report", expanded=True):
            html_components.html(report.read_text(encoding="utf-8"), height=900, scrolling=True)
else:
    st.caption("No report of this batch has been generated yet.")

st.subheader("Data quality alerts")
with page.reading():
    quality = queries.quality_checks(home, model)
QUALITY_COLUMNS = {
    "batch": st.column_config.NumberColumn("Batch"),
    "check": st.column_config.TextColumn("Check"),
    "column": st.column_config.TextColumn("Column"),
    "value": st.column_config.NumberColumn("Value", format="%.4g"),
    "threshold": st.column_config.NumberColumn("Threshold", format="%.4g"),
    "threshold_origin": st.column_config.TextColumn("Threshold from", width="large"),
    "passed": st.column_config.CheckboxColumn("Passed"),
    "batch_id": st.column_config.TextColumn("Batch id"),
}
if quality.is_empty():
    st.caption(plain(f"Quality checks have not run for {model}: monitoring/quality has no rows for it."))
else:
    alerts = quality.filter(~pl.col("passed"))
    alerted = alerts["batch"].n_unique()
    if alerts.is_empty():
        st.success(
            plain(
                f"No quality alerts: all {quality.height:,} checks over {quality['batch'].n_unique()} batches passed."
            )
        )
    else:
        st.warning(
            plain(
                f"{alerts.height} quality alerts in {alerted} of {quality['batch'].n_unique()} batches "
                "(checks against the scoring version's training data)."
            )
        )
        st.dataframe(
            alerts, hide_index=True, width="stretch", column_order=list(QUALITY_COLUMNS), column_config=QUALITY_COLUMNS
        )
    selected = quality.filter(pl.col("batch_id") == batch_id)
    with st.expander(plain(f"Every check of {labels[batch_id].split(' · ')[0]} ({selected.height})")):
        st.dataframe(
            selected,
            hide_index=True,
            width="stretch",
            column_order=list(QUALITY_COLUMNS),
            column_config=QUALITY_COLUMNS,
        )

segment_panels.render_segment_drift(home, model, batch_id=batch_id, batch_label=labels[batch_id].split(" · ")[0])
