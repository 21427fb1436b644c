"""Chart builders of the Drift, Performance and Cost pages: pure functions from frames to Vega-Lite specs."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import polars as pl

from app.charts import (
    cost_vs_models_chart,
    coverage_chart,
    distribution_chart,
    drift_heatmap,
    drift_magnitude_chart,
    metric_chart,
    platform_comparison_chart,
)
from governance.cost import CostRates, ManagedPricing
from pipelines.reads.costs import USAGE_SCHEMA, model_costs, monthly_totals
from pipelines.reads.monitoring import COVERAGE_SCHEMA, PERFORMANCE_SCHEMA, drift_magnitude, feature_distribution

T0 = datetime(2026, 6, 1, tzinfo=UTC)


def rows_of(spec: dict[str, object]) -> list[dict[str, object]]:
    datasets = spec["datasets"]
    assert isinstance(datasets, dict)
    return [row for rows in datasets.values() for row in rows]


def cells() -> pl.DataFrame:
    return pl.DataFrame(
        [
            {
                "batch": batch,
                "batch_id": f"b-{batch}",
                "model_version": "1",
                "role": "champion",
                "series": "v1 · champion",
                "batch_time": T0 + timedelta(weeks=batch),
                "window_start": T0 + timedelta(weeks=batch),
                "window_end": T0 + timedelta(weeks=batch + 1),
                "feature": feature,
                "method": method,
                "statistic": statistic,
                "threshold": threshold,
                "drifted": drifted,
                "reference_id": "raw/loans@0#x",
            }
            for batch, feature, method, statistic, threshold, drifted in [
                (1, "income", "K-S p_value", 0.4, 0.05, False),
                (1, "purpose", "chi-square p_value", 0.01, 0.05, True),
                (2, "income", "Wasserstein distance (normed)", 0.3, 0.1, True),
                (2, "purpose", "Jensen-Shannon distance", 0.02, 0.1, False),
            ]
        ]
    )


def test_the_heatmap_colours_by_verdict_and_explains_each_cell() -> None:
    spec = drift_heatmap(cells()).to_dict()

    assert spec["facet"]["row"]["field"] == "series"
    cell = spec["spec"]
    assert cell["mark"]["type"] == "rect"
    assert cell["encoding"]["x"]["field"] == "day"
    assert cell["encoding"]["x"]["sort"] == ["2026-06-08", "2026-06-15"]
    assert cell["encoding"]["y"]["field"] == "feature"
    assert cell["encoding"]["color"]["field"] == "verdict"
    assert cell["encoding"]["color"]["scale"]["domain"] == ["stable", "drifted"]
    tooltip = {t["field"] for t in cell["encoding"]["tooltip"]}
    assert {"method", "statistic", "threshold", "batch_id", "window", "series"} <= tooltip
    verdicts = {(r["batch"], r["feature"]): r["verdict"] for r in rows_of(spec)}
    assert verdicts == {
        (1, "income"): "stable",
        (1, "purpose"): "drifted",
        (2, "income"): "drifted",
        (2, "purpose"): "stable",
    }
    assert rows_of(spec)[0]["window"] == "2026-06-08 to 2026-06-15"


def test_a_series_batches_of_one_day_are_told_apart_by_time_then_number() -> None:
    same_day = cells().with_columns(batch_time=T0 + pl.duration(minutes=pl.col("batch")))
    same_moment = cells().with_columns(batch_time=pl.lit(T0))

    assert {r["day"] for r in rows_of(drift_heatmap(same_day).to_dict())} == {
        "2026-06-01 00:01:00",
        "2026-06-01 00:02:00",
    }
    assert {r["day"] for r in rows_of(drift_heatmap(same_moment).to_dict())} == {
        "2026-06-01 00:00:00 #1",
        "2026-06-01 00:00:00 #2",
    }


def test_drift_magnitude_draws_each_statistic_against_its_threshold_per_series() -> None:
    two_series = pl.concat(
        [cells(), cells().with_columns(batch_id=pl.format("{}-shadow", "batch_id"), series=pl.lit("v2 · challenger"))]
    )

    spec = drift_magnitude_chart(drift_magnitude(two_series), series=["v1 · champion", "v2 · challenger"]).to_dict()

    assert spec["facet"]["field"] == "title"
    assert spec["resolve"]["scale"]["y"] == "independent"  # a p-value and a distance share no axis
    line, points, threshold = spec["spec"]["layer"]
    assert line["encoding"]["x"]["field"] == "batch_time"
    assert line["encoding"]["y"]["field"] == "statistic"
    assert line["encoding"]["color"]["field"] == "series"
    assert line["encoding"]["color"]["sort"] == ["v1 · champion", "v2 · challenger"]
    assert threshold["encoding"]["y"]["field"] == "threshold"
    assert threshold["mark"]["strokeDash"] == [4, 4]
    assert {t["field"] for t in points["encoding"]["tooltip"]} >= {"statistic", "threshold", "verdict", "series"}
    titles = {r["title"] for r in rows_of(spec)}
    assert titles == {
        "income · K-S p_value (drifts below the threshold)",
        "purpose · chi-square p_value (drifts below the threshold)",
        "income · Wasserstein distance (normed) (drifts above the threshold)",
        "purpose · Jensen-Shannon distance (drifts above the threshold)",
    }
    assert len(rows_of(spec)) == 8


def test_a_binned_number_is_an_overlaid_histogram() -> None:
    distribution = feature_distribution(
        pl.Series([float(v) for v in range(100)]), pl.Series([float(v) for v in range(40, 140)]), numeric=True
    )

    spec = distribution_chart(distribution, feature="income").to_dict()

    assert spec["encoding"]["x"]["field"] == "lower"
    assert spec["encoding"]["x"]["bin"] == "binned"
    assert spec["encoding"]["x2"]["field"] == "upper"
    assert spec["encoding"]["y"]["stack"] is None  # overlaid, not stacked
    assert "xOffset" not in spec["encoding"]


def test_categories_are_side_by_side_bars_in_value_order() -> None:
    distribution = feature_distribution(pl.Series(["b", "a", "a"]), pl.Series(["c"]), numeric=False)

    spec = distribution_chart(distribution, feature="purpose").to_dict()

    assert spec["encoding"]["x"]["field"] == "bin"
    assert spec["encoding"]["x"]["sort"] == ["a", "b", "c"]
    assert spec["encoding"]["xOffset"]["field"] == "side"


CHAMPION, CHALLENGER = "v1 · champion", "v2 · challenger"


def performance() -> pl.DataFrame:
    week = timedelta(weeks=1)
    return pl.DataFrame(
        [
            (1, "b-1", "1", "champion", "realized", "roc_auc", 0.8, 400, 400, CHAMPION, T0),
            (1, "b-1", "1", "champion", "estimated", "roc_auc", 0.79, 0, 400, CHAMPION, T0),
            (2, "b-2", "1", "champion", "estimated", "roc_auc", 0.7, 0, 400, CHAMPION, T0 + week),
        ],
        schema=PERFORMANCE_SCHEMA,
        orient="row",
    )


def test_metrics_are_lines_per_metric_dashed_by_kind() -> None:
    spec = metric_chart(performance()).to_dict()

    line, points = spec["layer"]
    assert line["mark"]["type"] == "line"
    assert (line["encoding"]["x"]["field"], line["encoding"]["x"]["type"]) == ("batch_time", "temporal")
    assert line["encoding"]["strokeDash"]["field"] == "kind"
    assert line["encoding"]["strokeDash"]["scale"]["domain"] == ["realized", "estimated"]
    assert {t["field"] for t in points["encoding"]["tooltip"]} >= {"metric", "kind", "value", "labelled_rows", "series"}
    assert len(rows_of(spec)) == 3


def test_a_series_chart_is_titled_and_shares_the_time_axis_it_is_given() -> None:
    times = (T0 - timedelta(weeks=1), T0 + timedelta(weeks=3))

    spec = metric_chart(performance(), title=CHAMPION, times=times).to_dict()

    assert spec["title"] == CHAMPION
    x = spec["layer"][0]["encoding"]["x"]
    assert [(d["year"], d["month"], d["date"], d["utc"]) for d in x["scale"]["domain"]] == [
        (2026, 5, 25, True),
        (2026, 6, 22, True),
    ]
    assert {r["batch_time"][:10] for r in rows_of(spec)} == {"2026-06-01", "2026-06-08"}


def test_coverage_is_a_share_per_batch() -> None:
    coverage = pl.DataFrame(
        [
            (1, "b-1", "1", "champion", T0, 400, 400, 1.0, CHAMPION, T0),
            (2, "b-2", "2", "challenger", T0, 400, 0, 0.0, CHALLENGER, T0),
        ],
        schema=COVERAGE_SCHEMA,
        orient="row",
    )

    spec = coverage_chart(coverage, series=[CHAMPION, CHALLENGER]).to_dict()

    assert spec["encoding"]["x"]["field"] == "day"
    assert spec["encoding"]["xOffset"]["field"] == "series"  # a week's champion and challenger side by side
    assert spec["encoding"]["xOffset"]["sort"] == [CHAMPION, CHALLENGER]
    assert {r["day"] for r in rows_of(spec)} == {"2026-06-01"}
    assert spec["encoding"]["y"]["field"] == "coverage"
    assert spec["encoding"]["y"]["scale"]["domain"] == [0, 1]
    assert [(r["batch"], r["coverage"]) for r in rows_of(spec)] == [(1, 1.0), (2, 0.0)]


def totals() -> pl.DataFrame:
    usage = pl.DataFrame(
        [
            (date(2026, 6, 1), "a", 3, 3600.0, 10, 10, 2, 1000, True),
            (date(2026, 7, 1), "a", 1, 0.0, 0, 10, 0, 1000, True),
            (date(2026, 7, 1), "b", 2, 7200.0, 5, 5, 1, 500, True),
        ],
        schema=USAGE_SCHEMA,
        orient="row",
    )
    rates = CostRates()
    return monthly_totals(model_costs(usage, rates), rates=rates, pricing=ManagedPricing())


def test_cost_bars_stack_the_parts_against_the_model_count_on_its_own_axis() -> None:
    spec = cost_vs_models_chart(totals()).to_dict()

    bars, models = spec["layer"]
    assert spec["resolve"]["scale"]["y"] == "independent"
    assert bars["mark"]["type"] == "bar"
    assert bars["encoding"]["color"]["scale"]["domain"] == [
        "compute (measured)",
        "storage (measured)",
        "review (assumed)",
        "upkeep (assumed)",
    ]
    assert models["encoding"]["y"]["field"] == "production_models"
    counts = sorted((r["label"], r["production_models"]) for r in rows_of(spec) if "production_models" in r)
    assert counts == [("2026-06", 1), ("2026-07", 2)]


def test_the_comparison_draws_both_platforms_per_month() -> None:
    spec = platform_comparison_chart(totals()).to_dict()

    platforms = {(r["label"], r["platform"]) for r in rows_of(spec)}
    assert platforms == {
        ("2026-06", "this platform"),
        ("2026-06", "managed platform"),
        ("2026-07", "this platform"),
        ("2026-07", "managed platform"),
    }
