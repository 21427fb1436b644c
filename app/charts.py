"""Altair chart builders: pure functions from polars frames to charts, no streamlit."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

import altair as alt
import polars as pl

from governance.cost import COST_PART_BASIS
from lakehouse.schemas import ESTIMATED, REALIZED
from pipelines.reads.batches import BATCH_ORDER
from pipelines.reads.monitoring import batch_time
from pipelines.reads.task_metrics import MetricDisplay


def drift_share_chart(history: pl.DataFrame, *, threshold: float) -> alt.LayerChart:
    """Drift share of each batch over the batches' dates, one line per model and series, with the
    dataset-drift threshold as a rule.

    `history` has the columns of `pipelines.reads.overview.drift_history` plus `model`, and `series`
    where the caller knows each batch's role (else a version is a series). Batches are placed at their
    data window (`pipelines.reads.monitoring.batch_time`), so two models' batches of one week line up;
    with one model the series are told apart by colour, with several by model (colour) and line.
    """
    named = history if "series" in history.columns else history.with_columns(series=pl.format("v{}", "model_version"))
    data = (
        named.sort("model", *BATCH_ORDER, nulls_last=True)
        .with_columns(
            _verdict(),
            batch=pl.int_range(1, pl.len() + 1).over("model"),
            batch_time=batch_time(),
            line=pl.concat_str("model", pl.lit(" "), "series"),
            # as text: Vega would show timestamps in the viewer's time zone, the lakehouse keeps UTC
            scored=pl.col("scored_at").dt.strftime("%Y-%m-%d %H:%M UTC"),
            window=_window_text(),
        )
        .select(
            "model",
            "series",
            "line",
            "batch",
            "batch_id",
            "batch_time",
            "model_version",
            "drift_share",
            "verdict",
            "scored",
            "window",
        )
    )
    one_model = data["model"].n_unique() <= 1
    color = alt.Color("series:N", title="version · role") if one_model else alt.Color("model:N", title="model")
    base = alt.Chart(data).encode(
        x=time_axis(),
        y=alt.Y("drift_share:Q", title="share of features drifted", scale=alt.Scale(domain=[0, 1])),
        color=color,
        detail="line:N",
    )
    line = base.mark_line()
    points = base.mark_point(filled=True, size=80).encode(
        shape=alt.Shape("verdict:N", title="verdict", scale=alt.Scale(domain=["stable", "drifted"])),
        tooltip=[
            alt.Tooltip("model:N", title="model"),
            alt.Tooltip("series:N", title="version · role"),
            alt.Tooltip("batch_id:N", title="batch"),
            alt.Tooltip("window:N", title="data window"),
            alt.Tooltip("scored:N", title="scored at"),
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


TIME_TITLE = "batch data window, from (UTC)"


def _utc(moment: datetime) -> alt.DateTime:
    t = moment.astimezone(UTC)
    return alt.DateTime(
        year=t.year, month=t.month, date=t.day, hours=t.hour, minutes=t.minute, seconds=t.second, utc=True
    )


def time_axis(*, domain: tuple[datetime, datetime] | None = None) -> alt.X:
    """The x axis of every chart over batches: each batch at its data window's start, in UTC; charts
    drawn one under another share `domain` (first, last) so one week is one place in each."""
    scale = alt.Scale(type="utc")
    if domain is not None and domain[0] < domain[1]:
        scale = alt.Scale(type="utc", domain=[_utc(t) for t in domain])
    return alt.X("batch_time:T", title=TIME_TITLE, scale=scale, axis=alt.Axis(labelAngle=0))


# --- Drift and Performance pages ----------------------------------------------------------------

VERDICT_COLORS = alt.Scale(domain=["stable", "drifted"], range=["#9ecae1", "#d62728"])


def _window_text() -> pl.Expr:
    return pl.concat_str(
        pl.col("window_start").dt.strftime("%Y-%m-%d").fill_null("…"),
        pl.col("window_end").dt.strftime("%Y-%m-%d").fill_null("…"),
        separator=" to ",
    ).alias("window")


def _day() -> pl.Expr:
    """A batch's day as an ordinal axis labels it; where a series scored several batches on one day (no
    data window: placed when scored), the moment, and if that is shared too, the batch's number."""
    day, moment = (pl.col("batch_time").dt.strftime(f) for f in ("%Y-%m-%d", "%Y-%m-%d %H:%M:%S"))
    alone = pl.col("batch").n_unique().over
    return (
        pl.when(alone("series", day) == 1)
        .then(day)
        .when(alone("series", moment) == 1)
        .then(moment)
        .otherwise(pl.concat_str(moment, pl.lit(" #"), pl.col("batch").cast(pl.String)))
        .alias("day")
    )


def _days_in_order(data: pl.DataFrame) -> list[str]:
    return data.sort("batch_time", "batch").unique("day", keep="first", maintain_order=True)["day"].to_list()


def _series_row(series: Sequence[str] | None) -> alt.Row:
    return alt.Row(
        "series:N",
        title=None,
        sort=list(series) if series else "ascending",
        header=alt.Header(labelAngle=0, labelAlign="left"),
    )


def _cell_tooltip() -> list[alt.Tooltip]:
    """What every drawing of one feature's drift in one batch says of it on hover."""
    return [
        alt.Tooltip("batch_id:N", title="batch"),
        alt.Tooltip("series:N", title="version · role"),
        alt.Tooltip("window:N", title="data window"),
        alt.Tooltip("statistic:Q", title="statistic", format=".4g"),
        alt.Tooltip("threshold:Q", title="threshold", format=".4g"),
        alt.Tooltip("verdict:N", title="verdict"),
    ]


def _verdict() -> pl.Expr:
    return pl.when(pl.col("drifted")).then(pl.lit("drifted")).otherwise(pl.lit("stable")).alias("verdict")


def drift_heatmap(cells: pl.DataFrame, *, series: Sequence[str] | None = None) -> alt.FacetChart:
    """Features x batch days, one row of cells per series (version · role), coloured by the stored
    verdict, with each cell's method, statistic and threshold.

    `cells` has the columns of `pipelines.reads.monitoring.drift_cells`; `series` orders the rows. The
    colour is the verdict, not the raw statistic: a p-value drifts when low and a distance when high, so
    raw values of different methods are not comparable on one scale (`drift_magnitude_chart` draws them).
    """
    data = cells.with_columns(
        _window_text(),
        _day(),
        _verdict(),
    ).select(
        "batch",
        "batch_id",
        "series",
        "batch_time",
        "day",
        "window",
        "feature",
        "method",
        "statistic",
        "threshold",
        "verdict",
    )
    return (
        alt.Chart(data, height=alt.Step(24), width=alt.Step(24))
        .mark_rect(stroke="white", strokeWidth=1)
        .encode(
            x=alt.X("day:O", title=TIME_TITLE, sort=_days_in_order(data), axis=alt.Axis(labelAngle=-45)),
            y=alt.Y("feature:N", title=None, sort=None),
            color=alt.Color("verdict:N", title="verdict", scale=VERDICT_COLORS),
            tooltip=[
                alt.Tooltip("feature:N", title="feature"),
                alt.Tooltip("method:N", title="method"),
                *_cell_tooltip(),
            ],
        )
        .facet(row=_series_row(series))
    )


def drift_magnitude_chart(magnitude: pl.DataFrame, *, series: Sequence[str] | None = None) -> alt.FacetChart:
    """Each feature's drift statistic over time against its threshold (a dashed rule), one panel per
    feature and method, one line per series (version · role).

    `magnitude` has the columns of `pipelines.reads.monitoring.drift_magnitude`. Each panel has its own
    scale and says which side of the threshold is drift: a p-value drifts below it, a distance above.
    """
    data = magnitude.with_columns(
        _window_text(),
        _verdict(),
        title=pl.format("{} (drifts {} the threshold)", "panel", "drifts_when"),
    ).select("batch_id", "series", "batch_time", "window", "title", "method", "statistic", "threshold", "verdict")
    order = list(series) if series else sorted(data["series"].unique().to_list())
    base = alt.Chart().encode(x=time_axis())
    color = alt.Color("series:N", title="version · role", sort=order)
    y = alt.Y("statistic:Q", title="statistic", scale=alt.Scale(zero=False))
    line = base.mark_line().encode(y=y, color=color)
    points = base.mark_point(filled=True, size=60).encode(
        y=y,
        color=color,
        shape=alt.Shape("verdict:N", title="verdict", scale=alt.Scale(domain=["stable", "drifted"])),
        tooltip=[alt.Tooltip("title:N", title="feature · method"), *_cell_tooltip()],
    )
    threshold = base.mark_line(strokeDash=[4, 4], color="gray").encode(y=alt.Y("threshold:Q"), detail="series:N")
    return (
        alt.layer(line, points, threshold, data=data)
        .properties(width=300, height=130)
        .facet(facet=alt.Facet("title:N", title=None, header=alt.Header(labelLimit=340)), columns=2)
        .resolve_scale(y="independent")
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
    performance: pl.DataFrame,
    *,
    displays: Mapping[str, MetricDisplay] | None = None,
    title: str | None = None,
    times: tuple[datetime, datetime] | None = None,
) -> alt.LayerChart | alt.VConcatChart:
    """Each metric over the batches' dates, one line per metric (solid: realized, dashed: estimated).

    `performance` has the columns of `pipelines.reads.monitoring.performance_history`, for one series
    (version · role, named by `title`): a champion's and a challenger's batches are charts of their own,
    never one line. Charts of several series pass the same `times` (first, last) so a week is one place
    in each. `displays` names each metric and says which axis it may share (`MetricDisplay.axis`):
    metrics on one axis make one chart; metrics on different axes (0-1 shares, errors in the target's
    units, R²) are stacked, each with its own scale, rather than squeezed onto one.
    """
    shown = displays or {}
    data = performance.select(
        "batch",
        "batch_id",
        "model_version",
        "role",
        "series",
        "batch_time",
        "kind",
        "metric",
        "value",
        "labelled_rows",
    ).with_columns(
        label=pl.col("metric").replace_strict({m: d.label for m, d in shown.items()}, default=pl.col("metric")),
        axis=pl.col("metric").replace_strict({m: _axis_title(d) for m, d in shown.items()}, default=pl.lit("value")),
        day=pl.col("batch_time").dt.strftime("%Y-%m-%d %H:%M UTC"),
    )
    axes = list(dict.fromkeys(data["axis"].to_list())) or ["value"]
    labels = list(dict.fromkeys(data["label"].to_list()))
    x = time_axis(domain=times)
    charts = [_metric_lines(data.filter(pl.col("axis") == axis), x=x, title=axis, labels=labels) for axis in axes]
    chart = charts[0] if len(charts) == 1 else alt.vconcat(*charts)
    return chart if title is None else chart.properties(title=title)


def _axis_title(display: MetricDisplay) -> str:
    return display.axis if display.higher_is_better is None else f"{display.axis} · {display.direction}"


def _metric_lines(data: pl.DataFrame, *, x: alt.X, title: str, labels: Sequence[str]) -> alt.LayerChart:
    base = alt.Chart(data).encode(
        x=x,
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
            alt.Tooltip("series:N", title="version · role"),
            alt.Tooltip("day:N", title="data window from"),
            alt.Tooltip("batch_id:N", title="batch"),
            alt.Tooltip("labelled_rows:Q", title="labelled rows", format=","),
            alt.Tooltip("metric:N", title="stored as"),
        ],
    )
    return alt.LayerChart(layer=[base.mark_line(), points])


def coverage_chart(
    coverage: pl.DataFrame,
    *,
    headline: pl.DataFrame | None = None,
    label: str = "",
    series: Sequence[str] | None = None,
) -> alt.Chart:
    """Share of each batch's rows that have a label, per batch day, side by side per series.

    `coverage` has the columns of `pipelines.reads.monitoring.label_coverage`; `headline`, those of
    `pipelines.reads.monitoring.headline_by_batch` for the metric named `label`: each bar's tooltip then
    says whether the batch's metric is realized or only estimated, with both values. `series` orders the
    bars of one day (default: by name).
    """
    data = coverage.with_columns(_day()).select(
        "batch", "batch_id", "series", "batch_time", "day", "batch_rows", "labelled_rows", "coverage"
    )
    order = list(series) if series else sorted(data["series"].unique().to_list())
    tooltip = [
        alt.Tooltip("batch_id:N", title="batch"),
        alt.Tooltip("series:N", title="version · role"),
        alt.Tooltip("day:N", title="data window from"),
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
        .mark_bar()
        .encode(
            x=alt.X("day:O", title=TIME_TITLE, sort=_days_in_order(data), axis=alt.Axis(labelAngle=0)),
            xOffset=alt.XOffset("series:N", sort=order),
            y=alt.Y(
                "coverage:Q", title="labelled share of rows", scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format="%")
            ),
            color=alt.Color("series:N", title="version · role", sort=order),
            tooltip=tooltip,
        )
    )


# --- Cost page ------------------------------------------------------------------------------------

COST_PARTS = ["compute", "storage", "review", "upkeep"]
COST_PART_LABELS = {part: f"{part} ({COST_PART_BASIS[part].value})" for part in COST_PARTS}


def cost_vs_models_chart(totals: pl.DataFrame) -> alt.LayerChart:
    """Monthly cost stacked by part (bars, left axis) against the production models (line, right axis).

    `totals` has the columns of `pipelines.reads.costs.monthly_totals`.
    """
    data = totals.with_columns(label=pl.col("month").dt.strftime("%Y-%m"))
    parts = data.unpivot(index=["label"], on=COST_PARTS, variable_name="part", value_name="cost").with_columns(
        pl.col("part").replace(COST_PART_LABELS)
    )
    legend = [COST_PART_LABELS[part] for part in COST_PARTS]
    bars = (
        alt.Chart(parts)
        .mark_bar()
        .encode(
            x=alt.X("label:O", title="month", axis=alt.Axis(labelAngle=0)),
            y=alt.Y("sum(cost):Q", title="cost per month ($)", axis=alt.Axis(format="$,.0f")),
            color=alt.Color("part:N", title="cost", sort=legend, scale=alt.Scale(domain=legend)),
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
