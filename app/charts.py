"""Altair chart builders: pure functions from polars frames to charts, no streamlit."""

from __future__ import annotations

import altair as alt
import polars as pl


def drift_share_chart(history: pl.DataFrame, *, threshold: float) -> alt.LayerChart:
    """Drift share of each batch per model, in scoring order, with the dataset-drift threshold as a rule.

    `history` has the columns of `pipelines.overview.drift_history` plus `model`. Batches are
    numbered per model (1 = oldest) rather than placed on a time axis: batches scored in one run
    share a timestamp.
    """
    data = (
        history.sort("model", "scored_at", "window_end", "batch_id", nulls_last=True)
        .with_columns(
            batch=pl.int_range(1, pl.len() + 1).over("model"),
            verdict=pl.when(pl.col("drifted")).then(pl.lit("drifted")).otherwise(pl.lit("stable")),
            # as text: Vega would show timestamps in the viewer's time zone, the lakehouse keeps UTC
            scored=pl.col("scored_at").dt.strftime("%Y-%m-%d %H:%M UTC"),
            window=pl.concat_str(
                pl.col("window_start").dt.strftime("%Y-%m-%d").fill_null("…"),
                pl.col("window_end").dt.strftime("%Y-%m-%d").fill_null("…"),
                separator=" to ",
            ),
        )
        .select("model", "batch", "batch_id", "model_version", "drift_share", "verdict", "scored", "window")
    )
    base = alt.Chart(data).encode(
        x=alt.X("batch:O", title="batch (oldest first)", axis=alt.Axis(labelAngle=0)),
        y=alt.Y("drift_share:Q", title="share of features drifted", scale=alt.Scale(domain=[0, 1])),
        color=alt.Color("model:N", title="model"),
    )
    line = base.mark_line()
    points = base.mark_point(filled=True, size=80).encode(
        shape=alt.Shape("verdict:N", title="verdict", scale=alt.Scale(domain=["stable", "drifted"])),
        tooltip=[
            alt.Tooltip("model:N", title="model"),
            alt.Tooltip("batch_id:N", title="batch"),
            alt.Tooltip("model_version:N", title="version"),
            alt.Tooltip("scored:N", title="scored at"),
            alt.Tooltip("window:N", title="data window"),
            alt.Tooltip("drift_share:Q", title="drift share", format=".0%"),
            alt.Tooltip("verdict:N", title="verdict"),
        ],
    )
    rule = (
        alt.Chart(pl.DataFrame({"threshold": [threshold]}))
        .mark_rule(strokeDash=[4, 4], color="gray")
        .encode(y="threshold:Q", tooltip=[alt.Tooltip("threshold:Q", title="drift threshold", format=".0%")])
    )
    return alt.LayerChart(layer=[line, points, rule])
