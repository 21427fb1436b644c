from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest

from governance.cost import SHARED_OWNER, CostRates, ManagedPricing, Stage, upkeep_cost
from lakehouse.schemas import BATCHES, RUNS
from pipelines.jobs.monitor import monitor
from pipelines.reads.costs import (
    MONTHLY_TOTALS_SCHEMA,
    PLATFORM,
    USAGE_SCHEMA,
    model_costs,
    month_lines,
    monthly_totals,
    monthly_usage,
)
from tests.conftest import START, FixedClock, Seeded, context_for

JUNE, JULY = date(2026, 6, 1), date(2026, 7, 1)
MODEL = "loan_default"
RATES = CostRates(cpu_hour=36.0, storage_gb_month=1e6, minutes_per_review=30, staff_hourly=60, upkeep_hours_month=2)
PRICING = ManagedPricing(per_model_month=100.0, per_1000_predictions=10.0)


def row(usage: pl.DataFrame, month: date, model: str) -> dict[str, object]:
    (found,) = usage.filter((pl.col("month") == month) & (pl.col("model") == model)).iter_rows(named=True)
    return found


def test_usage_of_the_seeded_lakehouse_per_model_and_month(seeded: Seeded) -> None:
    ctx = context_for(seeded.home)
    runs = ctx.store.read(RUNS)
    own_runs = runs.filter(pl.col("model") == MODEL)

    usage = monthly_usage(ctx)

    assert usage.schema == USAGE_SCHEMA
    assert usage.select("month", "model").rows() == [(JUNE, PLATFORM), (JUNE, MODEL)]  # every job ran on START
    loan = row(usage, JUNE, MODEL)
    assert loan["runs"] == own_runs.height
    assert loan["cpu_seconds"] == pytest.approx(own_runs["cpu_seconds"].sum())
    assert loan["bytes_written"] == own_runs["bytes_written"].sum() > 0
    assert loan["bytes_stored"] == loan["bytes_written"]
    assert loan["reviews"] == 2  # rita's and raj's approvals
    assert loan["predictions"] == ctx.store.read(BATCHES)["rows"].sum() > 0
    assert loan["in_production"] is True
    platform = row(usage, JUNE, PLATFORM)
    assert platform["runs"] == runs.filter(pl.col("model").is_null() | (pl.col("model") == "")).height > 0
    assert platform["reviews"] == platform["predictions"] == 0
    assert platform["in_production"] is False


def test_a_later_month_carries_the_storage_forward_and_the_champion(seeded: Seeded) -> None:
    later = context_for(seeded.home, clock=FixedClock(START + timedelta(days=40)))
    monitor(later, model=MODEL)  # a July run of the model

    usage = monthly_usage(context_for(seeded.home))

    june, july = row(usage, JUNE, MODEL), row(usage, JULY, MODEL)
    assert july["runs"] == 1
    assert july["bytes_stored"] == june["bytes_stored"] + july["bytes_written"]
    assert july["reviews"] == july["predictions"] == 0
    assert july["in_production"] is True
    platform_july = row(usage, JULY, PLATFORM)  # every model has a row in every month, zeros when idle
    assert (platform_july["runs"], platform_july["cpu_seconds"], platform_july["bytes_written"]) == (0, 0.0, 0)
    assert platform_july["bytes_stored"] == row(usage, JUNE, PLATFORM)["bytes_stored"]


def test_costs_and_monthly_totals_of_the_seeded_lakehouse(seeded: Seeded) -> None:
    usage = monthly_usage(context_for(seeded.home))

    costs = model_costs(usage, RATES)
    totals = monthly_totals(costs, rates=RATES, pricing=PRICING)

    loan = row(costs, JUNE, MODEL)
    assert loan["compute"] == pytest.approx(loan["cpu_seconds"] / 3600 * 36.0)
    assert loan["storage"] == pytest.approx(loan["bytes_stored"] / 1e9 * 1e6)
    assert loan["review"] == pytest.approx(2 * 30 / 60 * 60)
    assert loan["total"] == pytest.approx(loan["compute"] + loan["storage"] + loan["review"])
    assert totals.schema == MONTHLY_TOTALS_SCHEMA
    (june,) = totals.iter_rows(named=True)
    assert june["production_models"] == 1
    assert june["predictions"] == loan["predictions"]
    assert june["upkeep"] == pytest.approx(120.0)
    assert june["total"] == pytest.approx(costs["total"].sum() + 120.0)
    assert june["per_production_model"] == pytest.approx(june["total"])
    assert june["managed"] == pytest.approx(100.0 + loan["predictions"] / 1000 * 10.0 + loan["review"])
    assert june["saving"] == pytest.approx(june["managed"] - june["total"])
    assert june["stage"] == Stage.STARTER.value


def test_repricing_needs_no_new_read(seeded: Seeded) -> None:
    usage = monthly_usage(context_for(seeded.home))

    cheap = monthly_totals(
        model_costs(usage, CostRates(staff_hourly=0)), rates=CostRates(staff_hourly=0), pricing=PRICING
    )
    dear = monthly_totals(
        model_costs(usage, CostRates(staff_hourly=100)), rates=CostRates(staff_hourly=100), pricing=PRICING
    )

    assert cheap["review"].sum() == 0
    assert dear["review"].sum() == pytest.approx(2 * 30 / 60 * 100)
    assert dear["total"].sum() > cheap["total"].sum()


def test_a_lakehouse_without_models_has_no_production_model(empty_home: Path) -> None:
    usage = monthly_usage(context_for(empty_home))

    assert set(usage["model"]) == {PLATFORM}  # init_lakehouse ran
    totals = monthly_totals(model_costs(usage, RATES), rates=RATES, pricing=PRICING)
    (month,) = totals.iter_rows(named=True)
    assert month["production_models"] == 0
    assert month["per_production_model"] is None
    assert month["managed"] == 0.0
    assert month["stage"] == Stage.STARTER.value


def test_each_month_s_lines_add_up_to_its_total_with_the_shared_line_last(seeded: Seeded) -> None:
    later = context_for(seeded.home, clock=FixedClock(START + timedelta(days=40)))
    monitor(later, model=MODEL)  # a July run of the model
    costs = model_costs(monthly_usage(context_for(seeded.home)), RATES)
    totals = monthly_totals(costs, rates=RATES, pricing=PRICING)

    assert totals["month"].to_list() == [JUNE, JULY]  # from the first run's month to the last's
    for month in (JUNE, JULY):
        lines = month_lines(costs, month=month, rates=RATES)
        assert lines["model"].to_list() == [MODEL, SHARED_OWNER]
        assert lines["total"].sum() == pytest.approx(totals.filter(pl.col("month") == month)["total"].item())
        assert lines.row(-1, named=True)["upkeep"] == upkeep_cost(RATES)
        assert lines.row(0, named=True)["compute"] > 0  # the model ran in both months
