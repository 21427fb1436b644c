"""Altair chart builders: pure functions from polars frames to charts, no streamlit."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

import altair as alt
import polars as pl

from lakehouse.schemas import ESTIMATED, REALIZED
from pipelines.reads.batches import BATCH_ORDER
from pipelines.reads.task_metrics import MetricDisplay


def drift_share_chart(history: pl.DataFrame, *, threshold: float) -> alt.LayerChart:
    """Drift share of each batch per model, in scoring order, with the dataset-drift threshold as a rule.

    `history` has the columns of `pipelines.reads.overview.drift_history` plus `model`. Batches are
    numbered per model (1 = oldest) rather than placed on a time axis: batches scored in one run
    share a timestamp.
    """
    data = (
        history.sort("model", *BATCH_ORDER, nulls_last=True)
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


# --- Drift and Performance pages ----------------------------------------------------------------

VERDICT_COLORS = alt.Scale(domain=["stable", "drifted"], range=["#9ecae1", "#d62728"])


def _window_text() -> pl.Expr:
    return pl.concat_str(
        pl.col("window_start").dt.strftime("%Y-%m-%d").fill_null("…"),
        pl.col("window_end").dt.strftime("%Y-%m-%d").fill_null("…"),
        separator=" to ",
    ).alias("window")


def drift_heatmap(cells: pl.DataFrame) -> alt.Chart:
    """Features x batches, coloured by the stored verdict, with each cell's method, statistic and threshold.

    `cells` has the columns of `pipelines.reads.monitoring.drift_cells`. The colour is the verdict, not
    the raw statistic: a p-value drifts when low and a distance when high, so raw values of different
    methods are not comparable on one scale.
    """
    data = cells.with_columns(
        _window_text(),
        verdict=pl.when(pl.col("drifted")).then(pl.lit("drifted")).otherwise(pl.lit("stable")),
    ).select("batch", "batch_id", "model_version", "window", "feature", "method", "statistic", "threshold", "verdict")
    return (
        alt.Chart(data, height=alt.Step(24))
        .mark_rect(stroke="white", strokeWidth=1)
        .encode(
            x=alt.X("batch:O", title="batch (oldest first)", axis=alt.Axis(labelAngle=0)),
            y=alt.Y("feature:N", title=None, sort=None),
            color=alt.Color("verdict:N", title="verdict", scale=VERDICT_COLORS),
            tooltip=[
                alt.Tooltip("feature:N", title="feature"),
                alt.Tooltip("batch_id:N", title="batch"),
                alt.Tooltip("model_version:N", title="version"),
                alt.Tooltip("window:N", title="data window"),
                alt.Tooltip("method:N", title="method"),
                alt.Tooltip("statistic:Q", title="statistic", format=".4g"),
                alt.Tooltip("threshold:Q", title="threshold", format=".4g"),
                alt.Tooltip("verdict:N", title="verdict"),
            ],
        )
    )


SIDE_COLORS = alt.Scale(domain=["reference", "current"], range=["#7f7f7f", "#1f77b4"])


def distribution_chart(distribution: pl.DataFrame, *, feature: str) -> alt.Chart:
    """Reference and current shares of one feature: an overlaid histogram when the rows are bins
    (`lower`, `upper` set), side-by-side bars per value otherwise.

    `distribution` has the columns of `pipelines.reads.monitoring.feature_distribution`.
    """
    tooltip = [
        alt.Tooltip("side:N", title="data"),
        alt.Tooltip("bin:N", title=feature),
        alt.Tooltip("rows:Q", title="rows", format=","),
        alt.Tooltip("share:Q", title="share", format=".1%"),
    ]
    y = alt.Y("share:Q", title="share of rows", axis=alt.Axis(format="%"), stack=None)
    color = alt.Color("side:N", title="data", scale=SIDE_COLORS)
    binned = distribution.height > 0 and distribution["lower"].is_not_null().all()
    if binned:
        return (
            alt.Chart(distribution)
            .mark_bar(opacity=0.55, binSpacing=0)
            .encode(
                x=alt.X("lower:Q", title=feature, bin="binned", axis=alt.Axis(format="~s")),
                x2="upper:Q",
                y=y,
                color=color,
                tooltip=tooltip,
            )
        )
    order = distribution.filter(pl.col("side") == "reference").sort("order")["bin"].to_list()
    return (
        alt.Chart(distribution)
        .mark_bar()
        .encode(
            x=alt.X("bin:N", title=feature, sort=order, axis=alt.Axis(labelAngle=0, labelLimit=140)),
            xOffset=alt.XOffset("side:N", sort=["reference", "current"]),
            y=y,
            color=color,
            tooltip=tooltip,
        )
    )


KINDS = [REALIZED, ESTIMATED]
KIND_TITLE = "realized (solid) or estimated (dashed)"


def metric_chart(
    performance: pl.DataFrame, *, displays: Mapping[str, MetricDisplay] | None = None
) -> alt.LayerChart | alt.VConcatChart:
    """Each metric per batch, one line per metric (solid: realized, dashed: estimated), oldest batch first.

    `performance` has the columns of `pipelines.reads.monitoring.performance_history`; `displays` names
    each metric and says which axis it may share (`MetricDisplay.axis`). Metrics on one axis make one
    chart; metrics on different axes (0-1 shares, errors in the target's units, R²) are stacked, each
    with its own scale, rather than squeezed onto one.
    """
    shown = displays or {}
    data = performance.select("batch", "batch_id", "model_version", "role", "kind", "metric", "value", "labelled_rows")
    data = data.with_columns(
        label=pl.col("metric").replace_strict({m: d.label for m, d in shown.items()}, default=pl.col("metric")),
        axis=pl.col("metric").replace_strict({m: _axis_title(d) for m, d in shown.items()}, default=pl.lit("value")),
    )
    axes = list(dict.fromkeys(data["axis"].to_list())) or ["value"]
    labels = list(dict.fromkeys(data["label"].to_list()))
    charts = [_metric_lines(data.filter(pl.col("axis") == axis), title=axis, labels=labels) for axis in axes]
    return charts[0] if len(charts) == 1 else alt.vconcat(*charts)


def _axis_title(display: MetricDisplay) -> str:
    return display.axis if display.higher_is_better is None else f"{display.axis} · {display.direction}"


def _metric_lines(data: pl.DataFrame, *, title: str, labels: Sequence[str]) -> alt.LayerChart:
    base = alt.Chart(data).encode(
        x=alt.X("batch:O", title="batch (oldest first)", axis=alt.Axis(labelAngle=0)),
        y=alt.Y("value:Q", title=title, scale=alt.Scale(zero=False)),
        color=alt.Color("label:N", title="metric", sort=list(labels)),
        strokeDash=alt.StrokeDash("kind:N", title=KIND_TITLE, scale=alt.Scale(domain=KINDS)),
    )
    points = base.mark_point(filled=True, size=70).encode(
        shape=alt.Shape("kind:N", title=KIND_TITLE, scale=alt.Scale(domain=KINDS, range=["circle", "triangle-up"])),
        tooltip=[
            alt.Tooltip("label:N", title="metric"),
            alt.Tooltip("kind:N", title="realized or estimated"),
            alt.Tooltip("value:Q", title="value", format=",.4~f"),
            alt.Tooltip("batch_id:N", title="batch"),
            alt.Tooltip("model_version:N", title="version"),
            alt.Tooltip("role:N", title="scored as"),
            alt.Tooltip("labelled_rows:Q", title="labelled rows", format=","),
            alt.Tooltip("metric:N", title="stored as"),
        ],
    )
    return alt.LayerChart(layer=[base.mark_line(), points])


def coverage_chart(coverage: pl.DataFrame, *, headline: pl.DataFrame | None = None, label: str = "") -> alt.Chart:
    """Share of each batch's rows that have a label.

    `coverage` has the columns of `pipelines.reads.monitoring.label_coverage`; `headline`, those of
    `pipelines.reads.monitoring.headline_by_batch` for the metric named `label`: each bar's tooltip then
    says whether the batch's metric is realized or only estimated, with both values.
    """
    data = coverage.with_columns(week=pl.col("window_start").dt.strftime("%Y-%m-%d").fill_null("…")).select(
        "batch", "batch_id", "model_version", "week", "batch_rows", "labelled_rows", "coverage"
    )
    tooltip = [
        alt.Tooltip("batch_id:N", title="batch"),
        alt.Tooltip("model_version:N", title="version"),
        alt.Tooltip("week:N", title="window from"),
        alt.Tooltip("batch_rows:Q", title="rows", format=","),
        alt.Tooltip("labelled_rows:Q", title="labelled", format=","),
        alt.Tooltip("coverage:Q", title="coverage", format=".0%"),
    ]
    if headline is not None:
        data = data.join(headline.select("batch_id", REALIZED, ESTIMATED, "basis"), on="batch_id", how="left")
        tooltip += [
            alt.Tooltip(f"{REALIZED}:Q", title=f"realized {label}", format=",.4~f"),
            alt.Tooltip(f"{ESTIMATED}:Q", title=f"estimated {label}", format=",.4~f"),
            alt.Tooltip("basis:N", title=label or "metric"),
        ]
    return (
        alt.Chart(data, height=220)
        .mark_bar(width=alt.RelativeBandSize(0.6))
        .encode(
            x=alt.X("batch:O", title="batch (oldest first)", axis=alt.Axis(labelAngle=0)),
            y=alt.Y(
                "coverage:Q", title="labelled share of rows", scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format="%")
            ),
            tooltip=tooltip,
        )
    )


# --- Cost page ------------------------------------------------------------------------------------

COST_PARTS = ["compute", "storage", "review", "upkeep"]


def cost_vs_models_chart(totals: pl.DataFrame) -> alt.LayerChart:
    """Monthly cost stacked by part (bars, left axis) against the production models (line, right axis).

    `totals` has the columns of `pipelines.reads.costs.monthly_totals`.
    """
    data = totals.with_columns(label=pl.col("month").dt.strftime("%Y-%m"))
    parts = data.unpivot(index=["label"], on=COST_PARTS, variable_name="part", value_name="cost")
    bars = (
        alt.Chart(parts)
        .mark_bar()
        .encode(
            x=alt.X("label:O", title="month", axis=alt.Axis(labelAngle=0)),
            y=alt.Y("sum(cost):Q", title="cost per month ($)", axis=alt.Axis(format="$,.0f")),
            color=alt.Color("part:N", title="cost", sort=COST_PARTS, scale=alt.Scale(domain=COST_PARTS)),
            order=alt.Order("part:N"),
            tooltip=[
                alt.Tooltip("label:O", title="month"),
                alt.Tooltip("part:N", title="cost"),
                alt.Tooltip("cost:Q", title="amount", format="$,.2f"),
            ],
        )
    )
    models = (
        alt.Chart(data.select("label", "production_models", "per_production_model"))
        .mark_line(point=True, color="black")
        .encode(
            x=alt.X("label:O"),
            y=alt.Y("production_models:Q", title="models in production", axis=alt.Axis(tickMinStep=1)),
            tooltip=[
                alt.Tooltip("label:O", title="month"),
                alt.Tooltip("production_models:Q", title="models in production"),
                alt.Tooltip("per_production_model:Q", title="cost per production model", format="$,.2f"),
            ],
        )
    )
    return alt.layer(bars, models).resolve_scale(y="independent")


def platform_comparison_chart(totals: pl.DataFrame) -> alt.Chart:
    """This platform's monthly total against the managed platform's price for the same month."""
    data = (
        totals.with_columns(label=pl.col("month").dt.strftime("%Y-%m"))
        .rename({"total": "this platform", "managed": "managed platform"})
        .unpivot(index=["label"], on=["this platform", "managed platform"], variable_name="platform", value_name="cost")
    )
    return (
        alt.Chart(data)
        .mark_line(point=True)
        .encode(
            x=alt.X("label:O", title="month", axis=alt.Axis(labelAngle=0)),
            y=alt.Y("cost:Q", title="cost per month ($)", axis=alt.Axis(format="$,.0f")),
            color=alt.Color("platform:N", title="platform"),
            tooltip=[
                alt.Tooltip("label:O", title="month"),
                alt.Tooltip("platform:N", title="platform"),
                alt.Tooltip("cost:Q", title="cost", format="$,.2f"),
            ],
        )
    )


_MOVE_KINDS = ("promoted", "break_glass", "rolled_back")
_MOVE_LABELS = {
    "promoted": "promoted (policy met)",
    "break_glass": "BREAK-GLASS (forced)",
    "rolled_back": "rolled back",
}
_MOVE_COLORS = ["#4c78a8", "#d62728", "#f58518"]


def alias_timeline_chart(timeline: pl.DataFrame, *, until: datetime) -> alt.LayerChart:
    """Which version held the alias when: one bar per interval, coloured by how it began.

    `timeline` has the columns of `pipelines.reads.models.alias_timeline_frame`; the current
    holder's open interval is drawn to `until`. Break-glass intervals are red and labelled
    BREAK-GLASS; a rollback is marked with a triangle and "rollback" where it happened. The time
    axis is in UTC, as the lakehouse keeps it.
    """
    data = timeline.with_columns(
        end=pl.col("end").fill_null(pl.lit(until).cast(timeline.schema["end"])),
        holds=pl.col("end").dt.strftime("%Y-%m-%d %H:%M UTC").fill_null("now"),
        since=pl.col("start").dt.strftime("%Y-%m-%d %H:%M UTC"),
        how=pl.col("kind").replace_strict(_MOVE_LABELS, default=pl.col("kind")),
        label=pl.concat_str(pl.lit("v"), pl.col("version")),
    )
    versions = sorted(data["version"].unique().to_list(), key=lambda v: (len(v), v), reverse=True)
    x = alt.X("start:T", title="time (UTC)", scale=alt.Scale(type="utc"), axis=alt.Axis(labelAngle=0))
    y = alt.Y("version:N", title="version", sort=versions)
    base = alt.Chart(data).encode(x=x, y=y)
    bars = base.mark_bar(height=18, cornerRadius=3).encode(
        x2="end:T",
        color=alt.Color(
            "how:N",
            title="how it got the alias",
            scale=alt.Scale(domain=[_MOVE_LABELS[k] for k in _MOVE_KINDS], range=_MOVE_COLORS),
        ),
        tooltip=[
            alt.Tooltip("label:N", title="version"),
            alt.Tooltip("how:N", title="how"),
            alt.Tooltip("since:N", title="from"),
            alt.Tooltip("holds:N", title="until"),
            alt.Tooltip("actor:N", title="by"),
            alt.Tooltip("reason:N", title="reason"),
            alt.Tooltip("request_id:N", title="request"),
        ],
    )
    flags = (
        base.transform_filter(alt.datum.break_glass)
        .mark_text(align="left", dx=4, dy=-14, color="#d62728", fontWeight="bold")
        .encode(text=alt.value("BREAK-GLASS"))
    )
    rollbacks = base.transform_filter(alt.datum.rolled_back)
    marks = rollbacks.mark_point(shape="triangle-down", filled=True, size=140, color="#f58518", yOffset=-14)
    words = rollbacks.mark_text(align="left", dx=8, dy=-14, color="#f58518", fontWeight="bold").encode(
        text=alt.value("rollback")
    )
    return alt.LayerChart(layer=[bars, flags, marks, words]).properties(height=max(120, 44 * len(versions)))


def metrics_comparison_chart(
    comparison: pl.DataFrame,
    *,
    metrics: Sequence[str],
    unit_interval: bool = True,
) -> alt.Chart:
    """Candidate and champion side by side for `metrics`, from `pipelines.reads.reviews.metrics_comparison`;
    a champion-less comparison shows the candidate alone. `metrics` share one axis
    (`TaskMetrics.comparable`): 0 to 1 when `unit_interval`, else from 0 to the largest value (an error
    in the target's units). Bars are named by the comparison's `label` where it has one."""
    named = comparison if "label" in comparison.columns else comparison.with_columns(label=pl.col("metric"))
    chosen = named.filter(pl.col("metric").is_in(list(metrics)))
    order = [chosen.filter(pl.col("metric") == m)["label"][0] for m in metrics if m in chosen["metric"]]
    data = chosen.unpivot(
        index=["metric", "label"], on=["candidate", "champion"], variable_name="model", value_name="value"
    ).drop_nulls("value")
    scale = alt.Scale(domain=[0, 1]) if unit_interval else alt.Scale(zero=True)
    return (
        alt.Chart(data)
        .mark_bar()
        .encode(
            x=alt.X("label:N", title=None, sort=order, axis=alt.Axis(labelAngle=0)),
            xOffset=alt.XOffset("model:N", sort=["candidate", "champion"]),
            y=alt.Y("value:Q", title="on the candidate's holdout", scale=scale),
            color=alt.Color(
                "model:N", title=None, scale=alt.Scale(domain=["candidate", "champion"], range=["#4c78a8", "#9d9d9d"])
            ),
            tooltip=[
                alt.Tooltip("label:N", title="metric"),
                alt.Tooltip("model:N"),
                alt.Tooltip("value:Q", format=",.4f"),
            ],
        )
        .properties(height=220)
    )
