import polars as pl
import streamlit as st

from app import charts, page, queries
from app.text import plain
from governance.promotion import PRODUCTION_ALIAS
from governance.screens import Screen
from lakehouse.schemas import ESTIMATED, REALIZED

CHALLENGER = "challenger"
DEFAULT_METRICS = ("roc_auc", "accuracy", "f1")

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

realized = performance.filter(pl.col("kind") == REALIZED)
estimated = performance.filter(pl.col("kind") == ESTIMATED)
labelled_batches = int((coverage["labelled_rows"] > 0).sum())
rows, labelled_rows = int(coverage["batch_rows"].sum()), int(coverage["labelled_rows"].sum())
realized_auc = realized.filter(pl.col("metric") == "roc_auc").sort("batch")
estimated_auc = estimated.filter(pl.col("metric") == "roc_auc").sort("batch")

scored, with_labels, overall, auc, estimated_now = st.columns(5)
scored.metric("Batches scored", coverage.height)
with_labels.metric("Batches with labels", labelled_batches)
overall.metric(
    "Rows labelled", f"{labelled_rows / rows:.0%}" if rows else "–", help=f"{labelled_rows:,} of {rows:,} rows"
)
auc.metric(
    "Realized ROC AUC",
    f"{realized_auc['value'][-1]:.3f}" if realized_auc.height else "–",
    help=f"Latest labelled batch: batch {realized_auc['batch'][-1]}"
    if realized_auc.height
    else "No labelled batch yet",
)
estimated_now.metric(
    "Estimated ROC AUC",
    f"{estimated_auc['value'][-1]:.3f}" if estimated_auc.height else "–",
    help=f"From the scores alone, latest batch: batch {estimated_auc['batch'][-1]}"
    if estimated_auc.height
    else "Not estimated",
)

st.subheader("Performance per batch")
if performance.is_empty():
    st.caption(plain(f"No performance has been computed for {model} yet: run `mlgov monitor {model}`."))
else:
    available = performance["metric"].unique().sort().to_list()
    chosen = st.multiselect(
        "Metrics",
        available,
        default=[m for m in DEFAULT_METRICS if m in available] or available[:1],
        key=f"performance.metrics.{model}",
    )
    if chosen:
        st.altair_chart(charts.metric_chart(performance.filter(pl.col("metric").is_in(chosen))), width="stretch")
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
            "Dashed: estimated from the scores alone (calibrated on the version's holdout), for every batch "
            "before its labels arrive."
        )
    st.caption(plain(" ".join(notes)))

st.subheader("Label coverage")
st.altair_chart(charts.coverage_chart(coverage), width="stretch")
unlabelled = coverage.filter(pl.col("labelled_rows") == 0)
if unlabelled.height:
    st.caption(
        plain(
            f"{unlabelled.height} of {coverage.height} batches have no labels yet "
            f"({'batch' if unlabelled.height == 1 else 'batches'} "
            f"{', '.join(str(b) for b in unlabelled['batch'].to_list())}): labels arrive after the "
            "outcome is known, so the newest batches are judged on drift alone until then."
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
metric_order = [m for m in (*DEFAULT_METRICS, "precision", "recall", "brier", "log_loss") if m in by_version.columns]
by_version = by_version.select(
    "model_version",
    "role",
    "batches",
    *metric_order,
    *sorted(c for c in by_version.columns[3:] if c not in metric_order),
)
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
    st.caption("Realized metrics per scored version and role, averaged over its labelled batches.")
    st.dataframe(
        by_version,
        hide_index=True,
        width="stretch",
        column_config={
            "model_version": st.column_config.TextColumn("Version"),
            "role": st.column_config.TextColumn("Role"),
            "batches": st.column_config.NumberColumn("Labelled batches"),
            **{m: st.column_config.NumberColumn(m, format="%.3f") for m in by_version.columns[3:]},
        },
    )
