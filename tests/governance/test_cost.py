"""The cost model: monthly cost of usage, cost per production model, maturity stages, managed comparison."""

from __future__ import annotations

import itertools
import math

import pytest

from governance.cost import (
    COST_PART_BASIS,
    SHARED_OWNER,
    STAGES,
    CostBasis,
    CostRates,
    ManagedPricing,
    ModelUsage,
    MonthlyCost,
    PlatformComparison,
    Stage,
    allocate_month,
    compare_with_managed,
    cost_per_production_model,
    maturity_stage,
    monthly_cost,
    upkeep_cost,
)
from governance.errors import InputError

RATES = CostRates(cpu_hour=0.10, storage_gb_month=0.02, minutes_per_review=30, staff_hourly=60, upkeep_hours_month=5)


# --- monthly cost of one model's usage ------------------------------------------------------------


@pytest.mark.parametrize(
    ("usage", "expected"),
    [
        (ModelUsage(cpu_seconds=0, bytes_stored=0, reviews=0), MonthlyCost(compute=0, storage=0, review=0)),
        # one CPU-hour at 0.10
        (ModelUsage(cpu_seconds=3600, bytes_stored=0, reviews=0), MonthlyCost(compute=0.10, storage=0, review=0)),
        # 5 GB (decimal) held at 0.02 per GB-month
        (
            ModelUsage(cpu_seconds=0, bytes_stored=5_000_000_000, reviews=0),
            MonthlyCost(compute=0, storage=0.10, review=0),
        ),
        # 3 reviews x 30 min x 60 per hour = 90
        (ModelUsage(cpu_seconds=0, bytes_stored=0, reviews=3), MonthlyCost(compute=0, storage=0, review=90.0)),
        (
            ModelUsage(cpu_seconds=1800, bytes_stored=1_000_000_000, reviews=1),
            MonthlyCost(compute=0.05, storage=0.02, review=30.0),
        ),
    ],
)
def test_monthly_cost_prices_each_part_by_its_rate(usage: ModelUsage, expected: MonthlyCost) -> None:
    cost = monthly_cost(usage, RATES)

    assert cost.compute == pytest.approx(expected.compute)
    assert cost.storage == pytest.approx(expected.storage)
    assert cost.review == pytest.approx(expected.review)
    assert cost.total == pytest.approx(expected.compute + expected.storage + expected.review)


@pytest.mark.parametrize(
    ("rates", "expected"),
    [
        (CostRates(upkeep_hours_month=0, staff_hourly=80), 0.0),
        (CostRates(upkeep_hours_month=8, staff_hourly=80), 640.0),
        (RATES, 300.0),
    ],
)
def test_upkeep_is_hours_times_the_hourly_rate(rates: CostRates, expected: float) -> None:
    assert upkeep_cost(rates) == pytest.approx(expected)


@pytest.mark.parametrize(
    "bad",
    [
        {"cpu_hour": -0.01},
        {"storage_gb_month": math.nan},
        {"minutes_per_review": math.inf},
        {"staff_hourly": -1},
        {"upkeep_hours_month": -2},
    ],
)
def test_a_negative_or_non_finite_rate_is_refused_by_name(bad: dict[str, float]) -> None:
    with pytest.raises(InputError, match=next(iter(bad))):
        CostRates(**bad)


@pytest.mark.parametrize("bad", [{"per_model_month": -1.0}, {"per_1000_predictions": math.nan}])
def test_a_bad_managed_price_is_refused_by_name(bad: dict[str, float]) -> None:
    with pytest.raises(InputError, match=next(iter(bad))):
        ManagedPricing(**bad)


def test_the_defaults_are_stated_rates() -> None:
    assert CostRates() == CostRates(
        cpu_hour=0.05, storage_gb_month=0.023, minutes_per_review=30.0, staff_hourly=80.0, upkeep_hours_month=8.0
    )
    assert ManagedPricing() == ManagedPricing(per_model_month=250.0, per_1000_predictions=0.05)


# --- cost per production model --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("total", "models", "expected"),
    [(900.0, 3, 300.0), (900.0, 1, 900.0), (0.0, 2, 0.0), (900.0, 0, None)],
)
def test_cost_per_production_model(total: float, models: int, expected: float | None) -> None:
    assert cost_per_production_model(total, production_models=models) == expected


# --- maturity stage -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("models", "stage"),
    [
        (0, Stage.STARTER),
        (1, Stage.STARTER),
        (2, Stage.STARTER),
        (3, Stage.MANAGED_LIFECYCLE),
        (10, Stage.MANAGED_LIFECYCLE),
        (11, Stage.SCALED),
        (49, Stage.SCALED),
        (50, Stage.FULL_PLATFORM),
        (500, Stage.FULL_PLATFORM),
    ],
)
def test_maturity_stage_by_model_count(models: int, stage: Stage) -> None:
    found = maturity_stage(models)

    assert found.stage is stage
    assert found.min_models <= models
    assert found.max_models is None or models <= found.max_models


@pytest.mark.parametrize(
    ("stage", "calls_for"),
    [
        (Stage.STARTER, "cron"),
        (Stage.MANAGED_LIFECYCLE, "registry"),
        (Stage.SCALED, "feature store"),
        (Stage.FULL_PLATFORM, "full self-service platform"),
    ],
)
def test_each_stage_says_what_it_calls_for(stage: Stage, calls_for: str) -> None:
    (found,) = (s for s in STAGES if s.stage is stage)
    assert any(calls_for in need for need in found.calls_for)


def test_the_stages_cover_every_count_without_gaps() -> None:
    for lower, upper in itertools.pairwise(STAGES):
        assert lower.max_models is not None
        assert upper.min_models == lower.max_models + 1
    assert STAGES[0].min_models == 0
    assert STAGES[-1].max_models is None
    assert [s.range_text for s in STAGES] == ["0-2", "3-10", "11-49", "50+"]


def test_a_negative_model_count_is_refused() -> None:
    with pytest.raises(InputError, match="production_models"):
        maturity_stage(-1)


# --- managed platform comparison ------------------------------------------------------------------

PRICING = ManagedPricing(per_model_month=200.0, per_1000_predictions=0.5)


@pytest.mark.parametrize(
    ("cost", "models", "predictions", "upkeep", "expected"),
    [
        # nothing in production, nothing measured: the upkeep alone against nothing
        (MonthlyCost(0, 0, 0), 0, 0, 300.0, PlatformComparison(self_hosted=300.0, managed=0.0)),
        # 3 models x 200 + 10,000 predictions x 0.5/1000 = 605; review 60 counted on both sides
        (MonthlyCost(1.0, 2.0, 60.0), 3, 10_000, 300.0, PlatformComparison(self_hosted=363.0, managed=665.0)),
        # without upkeep
        (MonthlyCost(1.0, 2.0, 0.0), 1, 0, 0.0, PlatformComparison(self_hosted=3.0, managed=200.0)),
    ],
)
def test_compare_with_managed(
    cost: MonthlyCost, models: int, predictions: int, upkeep: float, expected: PlatformComparison
) -> None:
    found = compare_with_managed(
        cost, production_models=models, predictions=predictions, pricing=PRICING, upkeep_cost=upkeep
    )

    assert found.self_hosted == pytest.approx(expected.self_hosted)
    assert found.managed == pytest.approx(expected.managed)
    assert found.saving == pytest.approx(expected.managed - expected.self_hosted)


def test_a_negative_count_in_the_comparison_is_refused() -> None:
    with pytest.raises(InputError):
        compare_with_managed(MonthlyCost(0, 0, 0), production_models=-1, predictions=0, pricing=PRICING)


def test_a_month_allocates_to_lines_that_add_up_to_its_self_hosted_total() -> None:
    models = {
        "small": MonthlyCost(compute=0.0001, storage=0.00002, review=0.0),
        "reviewed": MonthlyCost(compute=0.0002, storage=0.00001, review=40.0),
    }
    shared = MonthlyCost(compute=0.00005, storage=0.00003, review=0.0)

    lines = allocate_month(models, shared=shared, upkeep=640.0)

    assert [line.owner for line in lines] == ["reviewed", "small", SHARED_OWNER]
    assert lines[-1].upkeep == 640.0
    assert lines[-1].compute == 0.00005
    month = MonthlyCost(
        compute=sum(c.compute for c in (*models.values(), shared)),
        storage=sum(c.storage for c in (*models.values(), shared)),
        review=40.0,
    )
    self_hosted = compare_with_managed(
        month, production_models=2, predictions=0, pricing=ManagedPricing(), upkeep_cost=640.0
    ).self_hosted
    assert sum(line.total for line in lines) == pytest.approx(self_hosted)


def test_compute_and_storage_are_measured_people_and_list_prices_assumed() -> None:
    assert {part for part, basis in COST_PART_BASIS.items() if basis is CostBasis.MEASURED} == {"compute", "storage"}
    assert {part for part, basis in COST_PART_BASIS.items() if basis is CostBasis.ASSUMED} == {"review", "upkeep"}
