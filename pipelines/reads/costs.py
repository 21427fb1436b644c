"""What the platform used, per model per month, read from the run records; and the cost of it.

`monthly_usage` reads the lakehouse once (ops/runs, governance/promotions, scoring/batches,
governance/aliases) into one row per month x model. Everything after it is a pure transform that
prices the usage with `governance.cost`, so changing a rate never reads the lakehouse again.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import polars as pl

from governance.cost import (
    SHARED_OWNER,
    CostRates,
    ManagedPricing,
    ModelUsage,
    MonthlyCost,
    allocate_month,
    compare_with_managed,
    cost_per_production_model,
    maturity_stage,
    monthly_cost,
    upkeep_cost,
)
from governance.promotion import PRODUCTION_ALIAS, PromotionEventKind
from lakehouse.schemas import ALIASES, BATCHES, PROMOTIONS, RUNS
from pipelines.context import Context

# Runs that belong to no model (ingest, sign-in, user management) are the platform's own.
PLATFORM = "(platform)"
REVIEW_KINDS = (PromotionEventKind.APPROVED.value, PromotionEventKind.REJECTED.value)

USAGE_SCHEMA = pl.Schema(
    {
        "month": pl.Date(),
        "model": pl.String(),
        "runs": pl.Int64(),
        "cpu_seconds": pl.Float64(),
        "bytes_written": pl.Int64(),
        "bytes_stored": pl.Int64(),
        "reviews": pl.Int64(),
        "predictions": pl.Int64(),
        "in_production": pl.Boolean(),
    }
)


def _month(column: str) -> pl.Expr:
    return pl.col(column).dt.date().dt.truncate("1mo").alias("month")


def monthly_usage(ctx: Context) -> pl.DataFrame:
    """One row per month x model (columns: USAGE_SCHEMA), every month from the first job run to the last.

    No month before the first run or after the last is shown: there is nothing measured in it. A month
    between them with no run is kept, since the platform's upkeep was paid in it all the same.

    `bytes_stored` is what the model's runs wrote up to the month's end (nothing is ever vacuumed
    from an append-only lakehouse); `in_production` is whether the model held the champion alias at
    any time in the month; `reviews` counts approve and reject decisions on its promotion requests.
    """
    runs = (
        ctx.store.scan(RUNS)
        .select(
            _month("started_at"),
            pl.col("model").fill_null(PLATFORM).replace("", PLATFORM),
            "cpu_seconds",
            "bytes_written",
        )
        .group_by("month", "model")
        .agg(
            runs=pl.len().cast(pl.Int64),
            cpu_seconds=pl.col("cpu_seconds").fill_null(0.0).sum(),
            bytes_written=pl.col("bytes_written").fill_null(0).sum().cast(pl.Int64),
        )
        .collect()
    )
    reviews = (
        ctx.store.scan(PROMOTIONS)
        .filter(pl.col("kind").is_in(REVIEW_KINDS))
        .group_by(_month("at"), "model")
        .agg(reviews=pl.len().cast(pl.Int64))
        .collect()
    )
    predictions = (
        ctx.store.scan(BATCHES)
        .group_by(_month("scored_at"), "model")
        .agg(predictions=pl.col("rows").sum().cast(pl.Int64))
        .collect()
    )
    first_champion = (
        ctx.store.scan(ALIASES)
        .filter(pl.col("alias") == PRODUCTION_ALIAS)
        .group_by("model")
        .agg(_month("at").min().alias("since"))
        .collect()
    )
    if runs.is_empty():
        return pl.DataFrame(schema=USAGE_SCHEMA)
    # Every review, batch and alias move is itself a job run, so the run months hold them all.
    months = runs["month"].sort()
    first, last = months[0], months[-1]
    models = pl.concat([runs["model"], reviews["model"], predictions["model"], first_champion["model"]]).unique()
    grid = pl.DataFrame({"month": pl.date_range(first, last, "1mo", eager=True)}).join(
        pl.DataFrame({"model": models.sort()}), how="cross"
    )
    keys = ["month", "model"]
    usage = (
        grid.join(runs, on=keys, how="left")
        .join(reviews, on=keys, how="left")
        .join(predictions, on=keys, how="left")
        .join(first_champion, on="model", how="left")
        .with_columns(pl.col("runs", "bytes_written", "reviews", "predictions").fill_null(0))
        .with_columns(pl.col("cpu_seconds").fill_null(0.0))
        .sort(keys)
        .with_columns(
            bytes_stored=pl.col("bytes_written").cum_sum().over("model"),
            in_production=pl.col("since").is_not_null() & (pl.col("since") <= pl.col("month")),
        )
    )
    return usage.select(USAGE_SCHEMA.names()).cast(USAGE_SCHEMA)


def model_costs(usage: pl.DataFrame, rates: CostRates) -> pl.DataFrame:
    """`usage` with the month's compute, storage, review and total cost of each row, priced by `rates`."""
    costs = [
        monthly_cost(
            ModelUsage(cpu_seconds=row["cpu_seconds"], bytes_stored=row["bytes_stored"], reviews=row["reviews"]),
            rates,
        )
        for row in usage.select("cpu_seconds", "bytes_stored", "reviews").iter_rows(named=True)
    ]
    return usage.with_columns(
        pl.Series("compute", [c.compute for c in costs], dtype=pl.Float64),
        pl.Series("storage", [c.storage for c in costs], dtype=pl.Float64),
        pl.Series("review", [c.review for c in costs], dtype=pl.Float64),
        pl.Series("total", [c.total for c in costs], dtype=pl.Float64),
    )


MONTHLY_TOTALS_SCHEMA = pl.Schema(
    {
        "month": pl.Date(),
        "production_models": pl.Int64(),
        "predictions": pl.Int64(),
        "compute": pl.Float64(),
        "storage": pl.Float64(),
        "review": pl.Float64(),
        "upkeep": pl.Float64(),
        "total": pl.Float64(),
        "per_production_model": pl.Float64(),
        "managed": pl.Float64(),
        "saving": pl.Float64(),
        "stage": pl.String(),
    }
)


def monthly_totals(costs: pl.DataFrame, *, rates: CostRates, pricing: ManagedPricing) -> pl.DataFrame:
    """One row per month (columns: MONTHLY_TOTALS_SCHEMA) from `model_costs`: the platform's total with
    its upkeep, the models in production, the cost per production model, the managed platform's price
    for the same month, and the maturity stage the month's model count calls for."""
    upkeep = upkeep_cost(rates)
    months = (
        costs.group_by("month")
        .agg(
            production_models=pl.col("in_production").sum().cast(pl.Int64),
            predictions=pl.col("predictions").sum().cast(pl.Int64),
            compute=pl.col("compute").sum(),
            storage=pl.col("storage").sum(),
            review=pl.col("review").sum(),
        )
        .sort("month")
    )
    rows = []
    for month in months.iter_rows(named=True):
        cost = MonthlyCost(compute=month["compute"], storage=month["storage"], review=month["review"])
        comparison = compare_with_managed(
            cost,
            production_models=month["production_models"],
            predictions=month["predictions"],
            pricing=pricing,
            upkeep_cost=upkeep,
        )
        rows.append(
            {
                **month,
                "upkeep": upkeep,
                "total": comparison.self_hosted,
                "per_production_model": cost_per_production_model(
                    comparison.self_hosted, production_models=month["production_models"]
                ),
                "managed": comparison.managed,
                "saving": comparison.saving,
                "stage": maturity_stage(month["production_models"]).stage.value,
            }
        )
    return pl.DataFrame(rows, schema=MONTHLY_TOTALS_SCHEMA)


MONTH_LINES_SCHEMA = pl.Schema(
    {
        "model": pl.String(),
        "in_production": pl.Boolean(),
        "cpu_seconds": pl.Float64(),
        "bytes_stored": pl.Int64(),
        "reviews": pl.Int64(),
        "compute": pl.Float64(),
        "storage": pl.Float64(),
        "review": pl.Float64(),
        "upkeep": pl.Float64(),
        "total": pl.Float64(),
    }
)


def month_lines(costs: pl.DataFrame, *, month: date, rates: CostRates) -> pl.DataFrame:
    """`month` of `model_costs` as lines that add up to that month's `monthly_totals` total (columns:
    MONTH_LINES_SCHEMA): one per model with its own usage, then the platform's shared line (the runs of
    no one model and the upkeep)."""
    rows = {row["model"]: row for row in costs.filter(pl.col("month") == month).iter_rows(named=True)}
    shared = rows.pop(PLATFORM, None)

    def cost_of(row: dict[str, Any] | None) -> MonthlyCost:
        if row is None:
            return MonthlyCost(compute=0.0, storage=0.0, review=0.0)
        return MonthlyCost(compute=row["compute"], storage=row["storage"], review=row["review"])

    lines = allocate_month(
        {model: cost_of(row) for model, row in rows.items()}, shared=cost_of(shared), upkeep=upkeep_cost(rates)
    )
    usage_of = {**rows, SHARED_OWNER: shared or {}}
    return pl.DataFrame(
        [
            {
                "model": line.owner,
                "in_production": usage_of[line.owner].get("in_production", False),
                "cpu_seconds": usage_of[line.owner].get("cpu_seconds", 0.0),
                "bytes_stored": usage_of[line.owner].get("bytes_stored", 0),
                "reviews": usage_of[line.owner].get("reviews", 0),
                "compute": line.compute,
                "storage": line.storage,
                "review": line.review,
                "upkeep": line.upkeep,
                "total": line.total,
            }
            for line in lines
        ],
        schema=MONTH_LINES_SCHEMA,
    )
