import polars as pl
import streamlit as st

from app import charts, components, page, queries, segment_panels
from app.text import plain
from governance.promotion import PRODUCTION_ALIAS
from governance.screens import Screen
from lakehouse.schemas import ESTIMATED, REALIZED
from pipelines.reads.monitoring import (
    batch_sources,
    batches_by_role,
    champion_batches,
    headline_by_batch,
    latest_headline,
    shown_batches,
    time_span,
)
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
picked = components.render_batch_filter(coverage, key=f"performance.batches.{model}")
# the headline cards are production's: the champion's batches in the chosen days, whatever series is drawn
dated = shown_batches(coverage, first=picked.first, last=picked.last)
performance = shown_batches(performance, first=picked.first, last=picked.last)
per_batch = headline_by_batch(performance, dated, metric=shown.headline)
realized_now = latest_headline(per_batch, shown=shown, kind=REALIZED)
estimated_now = latest_headline(per_batch, shown=shown, kind=ESTIMATED)
served = champion_batches(dated)
labelled_batches = int((served["labelled_rows"] > 0).sum())
rows, labelled_rows = int(served["batch_rows"].sum()), int(served["labelled_rows"].sum())

scored, with_labels, overall, realized_metric, estimated_metric = st.columns(5)
scored.metric("Batches scored", served.height, help=plain(f"In the chosen days: {batches_by_role(dated)}."))
with_labels.metric("Batches with labels", labelled_batches)
overall.metric(
    "Rows labelled", f"{labelled_rows / rows:.0%}" if rows else "–", help=f"{labelled_rows:,} of {rows:,} rows"
)
realized_metric.metric(f"Realized {lead.label}", realized_now.value, help=plain(realized_now.help))
estimated_metric.metric(f"Estimated {lead.label}", estimated_now.value, help=plain(estimated_now.help))
st.caption(
    plain(
        f"{model} is a {task.value} model, watched on {lead.label}: {lead.direction}. The cards are production's: "
        f"the champion's batches only. Batches scored in the chosen days: {batches_by_role(dated) or 'none'}. "
        f"Realized: computed from the labels that arrived. Estimated: by {shown.estimator}, from the model's "
        "outputs alone, for batches whose labels have not arrived."
    )
)

drawn = shown_batches(performance, series=picked.series)
drawn_batches = shown_batches(dated, series=picked.series)
drawn_per_batch = shown_batches(per_batch, series=picked.series)
realized = drawn.filter(pl.col("kind") == REALIZED)
estimated = drawn.filter(pl.col("kind") == ESTIMATED)

st.subheader("Performance over time")
if not picked.series:
    st.caption("Pick at least one version above to draw its performance.")
elif drawn.is_empty():
    st.caption(plain(f"No performance has been computed for {model}'s chosen batches: run `mlgov monitor {model}`."))
else:
    available = shown.ordered(drawn["metric"].unique().to_list())
    chosen = st.multiselect(
        "Metrics",
        available,
        default=[m for m in shown.defaults if m in available] or available[:1],
        format_func=lambda m: shown.display(m).label,
        key=f"performance.metrics.{model}",
    )
    if chosen:
        displays = {m: shown.display(m) for m in chosen}
        lines = drawn.filter(pl.col("metric").is_in(chosen))
        times = time_span(lines)
        for name in picked.series:  # a chart each: a champion's and a challenger's batches never share a line
            own = lines.filter(pl.col("series") == name)
            if own.height:
                st.altair_chart(
                    charts.metric_chart(own, displays=displays, title=name, times=times),
                    width="stretch",
                )
        st.caption(plain(shown.directions(chosen)))
    notes = ["One chart per version and role, over the batches' data windows."]
    if realized.is_empty():
        notes.append(f"No labels have arrived for these batches of {model} yet, so nothing is realized.")
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
if drawn_batches.is_empty():
    st.caption("No batch of the chosen versions falls in the chosen days.")
else:
    st.altair_chart(
        charts.coverage_chart(drawn_batches, headline=drawn_per_batch, label=lead.label, series=picked.series),
        width="stretch",
    )
    st.caption(plain(batch_sources(drawn_per_batch, label=lead.label)))
    unlabelled = drawn_batches.filter(pl.col("labelled_rows") == 0)
    if unlabelled.height:
        judged = "estimated performance and drift" if estimated.height else "drift alone"
        st.caption(
            plain(
                f"{unlabelled.height} of {drawn_batches.height} batches have no labels yet "
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
    performance.filter(pl.col("kind") == REALIZED)
    .group_by("model_version", "role", "metric")
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

segment_panels.render_segment_performance(home, model, metrics=list(shown.defaults))
