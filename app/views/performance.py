import polars as pl
import streamlit as st

from app import charts, page, queries
from app.text import plain
from governance.promotion import PRODUCTION_ALIAS
from governance.screens import Screen
from lakehouse.schemas import ESTIMATED, REALIZED
from pipelines.reads.monitoring import batch_sources, headline_by_batch, latest_headline
from pipelines.reads.task_metrics import task_metrics

CHALLENGER = "challenger"

home = page.start(Screen.PERFORMANCE, title="Performance").home
with page.reading():
    summaries = {summary.name: summary for summary in queries.model_summaries(home)}
page.require_models(summaries)

model = st.selectbox("Model", list(summaries), key="performance.model")
summary = summaries[model]
with page.reading():
    performance = queries.performance_history(home, model)
    coverage = queries.label_coverage(home, model)
    aliases = queries.model_aliases(home, model)

if coverage.is_empty():
    st.info(plain(f"{model} has not scored a batch yet: run `mlgov score {model} TABLE`."))
    st.stop()
with page.reading():
    task = queries.model_task(home, model)

shown = task_metrics(task)
lead = shown.headline_display
realized = performance.filter(pl.col("kind") == REALIZED)
estimated = performance.filter(pl.col("kind") == ESTIMATED)
labelled_batches = int((coverage["labelled_rows"] > 0).sum())
rows, labelled_rows = int(coverage["batch_rows"].sum()), int(coverage["labelled_rows"].sum())
per_batch = headline_by_batch(performance, coverage, metric=shown.headline)
realized_now = latest_headline(per_batch, shown=shown, kind=REALIZED)  # what the champion serves, not a shadow
estimated_now = latest_headline(per_batch, shown=shown, kind=ESTIMATED)

scored, with_labels, overall, realized_metric, estimated_metric = st.columns(5)
scored.metric("Batches scored", coverage.height)
with_labels.metric("Batches with labels", labelled_batches)
overall.metric(
    "Rows labelled", f"{labelled_rows / rows:.0%}" if rows else "–", help=f"{labelled_rows:,} of {rows:,} rows"
)
realized_metric.metric(f"Realized {lead.label}", realized_now.value, help=plain(realized_now.help))
estimated_metric.metric(f"Estimated {lead.label}", estimated_now.value, help=plain(estimated_now.help))
st.caption(
    plain(
        f"{model} is a {task.value} model, watched on {lead.label}: {lead.direction}. Realized: computed from "
        f"the labels that arrived. Estimated: by {shown.estimator}, from the model's outputs alone, for "
        "batches whose labels have not arrived."
    )
)

st.subheader("Performance per batch")
if performance.is_empty():
    st.caption(plain(f"No performance has been computed for {model} yet: run `mlgov monitor {model}`."))
else:
    available = shown.ordered(performance["metric"].unique().to_list())
    chosen = st.multiselect(
        "Metrics",
        available,
        default=[m for m in shown.defaults if m in available] or available[:1],
        format_func=lambda m: shown.display(m).label,
        key=f"performance.metrics.{model}",
    )
    if chosen:
        displays = {m: shown.display(m) for m in chosen}
        st.altair_chart(
            charts.metric_chart(performance.filter(pl.col("metric").is_in(chosen)), displays=displays),
            width="stretch",
        )
        st.caption(plain(shown.directions(chosen)))
    notes = []
    if realized.is_empty():
        notes.append(f"No labels have arrived for {model}'s batches yet, so nothing is realized.")
    else:
        notes.append(
            "Solid: realized, over each batch's labelled rows, recomputed as more labels arrive; "
            "a batch without labels has no realized point."
        )
    if estimated.is_empty():
        notes.append("No estimated performance has been computed.")
    else:
        notes.append(
            f"Dashed: estimated from the model's outputs alone by {shown.estimator} (fitted when the version "
            "was trained, on data it did not train on), for every batch before its labels arrive."
        )
    st.caption(plain(" ".join(notes)))

st.subheader("Label coverage")
st.altair_chart(charts.coverage_chart(coverage, headline=per_batch, label=lead.label), width="stretch")
st.caption(plain(batch_sources(per_batch, label=lead.label)))
unlabelled = coverage.filter(pl.col("labelled_rows") == 0)
if unlabelled.height:
    judged = "estimated performance and drift" if estimated.height else "drift alone"
    st.caption(
        plain(
            f"{unlabelled.height} of {coverage.height} batches have no labels yet "
            f"({'batch' if unlabelled.height == 1 else 'batches'} "
            f"{', '.join(str(b) for b in unlabelled['batch'].to_list())}): labels arrive after the "
            f"outcome is known, so the newest batches are judged on {judged} until then."
        )
    )

st.subheader("Champion and challenger")
champion = aliases.get(PRODUCTION_ALIAS)
challenger = aliases.get(CHALLENGER)
roles = set(coverage["role"].drop_nulls().to_list())
by_version = (
    realized.group_by("model_version", "role", "metric")
    .agg(pl.col("value").mean(), pl.col("batch").n_unique().alias("batches"))
    .pivot(on="metric", index=["model_version", "role", "batches"], values="value")
    .sort("model_version")
)
by_version = by_version.select("model_version", "role", "batches", *shown.ordered(by_version.columns[3:]))
if CHALLENGER not in roles:
    pending = (
        f" The latest registered version, v{summary.latest_version}, is not the champion and is not scored."
        if summary.latest_version and summary.latest_version != champion
        else ""
    )
    st.info(
        plain(
            f"No challenger: every batch of {model} was scored by its champion only"
            f"{f' (now v{champion})' if champion else ''}, so there is no side-by-side comparison yet. "
            f"Shadow-scoring a challenger version is not set up.{pending}"
        )
    )
elif challenger is None:
    st.info(plain(f"{model} scored challenger batches in the past, but no version holds the challenger alias now."))
if by_version.height:
    st.caption(
        plain(
            "Realized metrics per scored version and role, averaged over its labelled batches. "
            + shown.directions(by_version.columns[3:])
        )
    )
    st.dataframe(
        by_version,
        hide_index=True,
        width="stretch",
        column_config={
            "model_version": st.column_config.TextColumn("Version"),
            "role": st.column_config.TextColumn("Role"),
            "batches": st.column_config.NumberColumn("Labelled batches"),
            **{
                m: st.column_config.NumberColumn(shown.display(m).label, format="%.3f", help=shown.display(m).direction)
                for m in by_version.columns[3:]
            },
        },
    )
