"""Chart builders of the Drift, Performance and Cost pages: pure functions from frames to Vega-Lite specs."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import polars as pl

from app.charts import (
    cost_vs_models_chart,
    coverage_chart,
    distribution_chart,
    drift_heatmap,
    metric_chart,
    platform_comparison_chart,
)
from governance.cost import CostRates, ManagedPricing
from pipelines.reads.costs import USAGE_SCHEMA, model_costs, monthly_totals
from pipelines.reads.monitoring import COVERAGE_SCHEMA, PERFORMANCE_SCHEMA, feature_distribution

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

    assert spec["mark"]["type"] == "rect"
    assert spec["encoding"]["x"]["field"] == "batch"
    assert spec["encoding"]["y"]["field"] == "feature"
    assert spec["encoding"]["color"]["field"] == "verdict"
    assert spec["encoding"]["color"]["scale"]["domain"] == ["stable", "drifted"]
    tooltip = {t["field"] for t in spec["encoding"]["tooltip"]}
    assert {"method", "statistic", "threshold", "batch_id", "window"} <= tooltip
    verdicts = {(r["batch"], r["feature"]): r["verdict"] for r in rows_of(spec)}
    assert verdicts == {
        (1, "income"): "stable",
        (1, "purpose"): "drifted",
        (2, "income"): "drifted",
        (2, "purpose"): "stable",
    }
    assert rows_of(spec)[0]["window"] == "2026-06-08 to 2026-06-15"


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


def test_metrics_are_lines_per_metric_dashed_by_kind() -> None:
    performance = pl.DataFrame(
        [
            (1, "b-1", "1", "champion", "realized", "roc_auc", 0.8, 400, 400),
            (1, "b-1", "1", "champion", "estimated", "roc_auc", 0.79, 0, 400),
            (2, "b-2", "1", "champion", "estimated", "roc_auc", 0.7, 0, 400),
        ],
        schema=PERFORMANCE_SCHEMA,
        orient="row",
    )

    spec = metric_chart(performance).to_dict()

    line, points = spec["layer"]
    assert line["mark"]["type"] == "line"
    assert line["encoding"]["strokeDash"]["field"] == "kind"
    assert line["encoding"]["strokeDash"]["scale"]["domain"] == ["realized", "estimated"]
    assert {t["field"] for t in points["encoding"]["tooltip"]} >= {"metric", "kind", "value", "labelled_rows"}
    assert len(rows_of(spec)) == 3


def test_coverage_is_a_share_per_batch() -> None:
    coverage = pl.DataFrame(
        [(1, "b-1", "1", "champion", T0, 400, 400, 1.0), (2, "b-2", "1", "champion", T0, 400, 0, 0.0)],
        schema=COVERAGE_SCHEMA,
        orient="row",
    )

    spec = coverage_chart(coverage).to_dict()

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
    assert bars["encoding"]["color"]["scale"]["domain"] == ["compute", "storage", "review", "upkeep"]
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
