"""The cost model: what running models on this platform costs, against what a managed platform would charge.

Every rate is an assumption a person states and can change (`CostRates`, `ManagedPricing`); nothing
here knows a price of its own beyond the documented defaults. Usage comes in measured (CPU seconds,
bytes held, reviews, predictions), money goes out in the rates' currency. Pure: no I/O, no clock.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from enum import StrEnum

from governance.errors import InputError

SECONDS_PER_HOUR = 3600.0
BYTES_PER_GB = 1e9  # decimal gigabytes, as storage is billed
MINUTES_PER_HOUR = 60.0


def _check_rates(rates: Mapping[str, float]) -> None:
    for name, value in rates.items():
        if not math.isfinite(value) or value < 0:
            raise InputError(f"{name} = {value!r}: expected a finite number of at least 0")


@dataclass(frozen=True)
class CostRates:
    """What a unit of each resource costs on this platform (currency: whatever the person prices in)."""

    cpu_hour: float = 0.05  # per CPU-hour of job time (a cloud vCPU-hour)
    storage_gb_month: float = 0.023  # per GB held for a month (object storage, standard tier)
    minutes_per_review: float = 30.0  # reviewer time per approve or reject
    staff_hourly: float = 80.0  # per hour of a person's time (reviews, upkeep)
    upkeep_hours_month: float = 8.0  # people's hours a month to keep this platform running

    def __post_init__(self) -> None:
        _check_rates({item.name: getattr(self, item.name) for item in fields(self)})


@dataclass(frozen=True)
class ModelUsage:
    """What one model (or the shared platform) used in one month."""

    cpu_seconds: float
    bytes_stored: int  # held at the month's end
    reviews: int  # approve and reject decisions


@dataclass(frozen=True)
class MonthlyCost:
    compute: float
    storage: float
    review: float

    @property
    def total(self) -> float:
        return self.compute + self.storage + self.review


def monthly_cost(usage: ModelUsage, rates: CostRates) -> MonthlyCost:
    """The month's cost of `usage`: CPU-hours x rate, GB held x rate, reviews x minutes x hourly rate."""
    return MonthlyCost(
        compute=usage.cpu_seconds / SECONDS_PER_HOUR * rates.cpu_hour,
        storage=usage.bytes_stored / BYTES_PER_GB * rates.storage_gb_month,
        review=usage.reviews * rates.minutes_per_review / MINUTES_PER_HOUR * rates.staff_hourly,
    )


class CostBasis(StrEnum):
    MEASURED = "measured"  # usage read from the run records, priced by a stated rate
    ASSUMED = "assumed"  # people's time and list prices: stated, not measured


# Which parts of a month's cost rest on measured usage and which on assumptions alone.
COST_PART_BASIS: Mapping[str, CostBasis] = {
    "compute": CostBasis.MEASURED,
    "storage": CostBasis.MEASURED,
    "review": CostBasis.ASSUMED,
    "upkeep": CostBasis.ASSUMED,
}


SHARED_OWNER = "platform (shared)"


@dataclass(frozen=True)
class CostLine:
    """One owner's share of a month: a model, or the platform's shared costs."""

    owner: str
    compute: float
    storage: float
    review: float
    upkeep: float = 0.0

    @property
    def total(self) -> float:
        return self.compute + self.storage + self.review + self.upkeep


def allocate_month(models: Mapping[str, MonthlyCost], *, shared: MonthlyCost, upkeep: float) -> tuple[CostLine, ...]:
    """The month's cost as lines that add up to its total (what `compare_with_managed` calls self-hosted):
    one per model, its own usage only, most expensive first; then `SHARED_OWNER`, the runs of no one
    model plus the upkeep, which are not spread over the models so no line holds a guess."""
    lines = [
        CostLine(owner=owner, compute=cost.compute, storage=cost.storage, review=cost.review)
        for owner, cost in models.items()
    ]
    lines.sort(key=lambda line: (-line.total, line.owner))
    shared_line = CostLine(
        owner=SHARED_OWNER, compute=shared.compute, storage=shared.storage, review=shared.review, upkeep=upkeep
    )
    return (*lines, shared_line)


def upkeep_cost(rates: CostRates) -> float:
    """A month of keeping the platform itself running (upgrades, backups, on-call): not any one model's."""
    return rates.upkeep_hours_month * rates.staff_hourly


def cost_per_production_model(total: float, *, production_models: int) -> float | None:
    """The month's total spread over the models in production; None when none is."""
    return total / production_models if production_models > 0 else None


class Stage(StrEnum):
    STARTER = "starter"
    MANAGED_LIFECYCLE = "managed lifecycle"
    SCALED = "scaled"
    FULL_PLATFORM = "full platform"


@dataclass(frozen=True)
class MaturityStage:
    """What a team running `min_models` to `max_models` production models needs from its platform."""

    stage: Stage
    min_models: int
    max_models: int | None  # None: no upper bound
    calls_for: tuple[str, ...]

    @property
    def range_text(self) -> str:
        return f"{self.min_models}+" if self.max_models is None else f"{self.min_models}-{self.max_models}"


STAGES: tuple[MaturityStage, ...] = (
    MaturityStage(
        Stage.STARTER, 0, 2, ("scheduled jobs (cron)", "simple model serving", "manual monitoring of a few metrics")
    ),
    MaturityStage(
        Stage.MANAGED_LIFECYCLE,
        3,
        10,
        ("a model registry with approvals", "experiment tracking", "basic drift monitoring per batch"),
    ),
    MaturityStage(
        Stage.SCALED,
        11,
        49,
        ("a feature store", "standardised serving", "automated retraining on drift or decay"),
    ),
    MaturityStage(
        Stage.FULL_PLATFORM,
        50,
        None,
        (
            "a full self-service platform",
            "a dedicated platform team",
            "fleet-wide monitoring, cost allocation and governance",
        ),
    ),
)


def maturity_stage(production_models: int) -> MaturityStage:
    """The platform stage a count of production models calls for (0-2, 3-10, 11-49, 50+)."""
    if production_models < 0:
        raise InputError(f"production_models = {production_models}: expected a count of at least 0")
    return next(s for s in reversed(STAGES) if production_models >= s.min_models)


@dataclass(frozen=True)
class ManagedPricing:
    """A managed ML platform's list prices, as the person comparing assumes them."""

    per_model_month: float = 250.0  # per production model per month (endpoint, registry, monitoring)
    per_1000_predictions: float = 0.05  # per 1,000 predictions served

    def __post_init__(self) -> None:
        _check_rates({item.name: getattr(self, item.name) for item in fields(self)})


@dataclass(frozen=True)
class PlatformComparison:
    """One month on this platform against the same month on a managed platform.

    Review effort is the same people's time on either platform, so it is counted on both sides.
    """

    self_hosted: float
    managed: float

    @property
    def saving(self) -> float:
        """What this platform saves against the managed one (negative: it costs more)."""
        return self.managed - self.self_hosted


def compare_with_managed(
    cost: MonthlyCost,
    *,
    production_models: int,
    predictions: int,
    pricing: ManagedPricing,
    upkeep_cost: float = 0.0,
) -> PlatformComparison:
    """This platform's month (`cost` plus the upkeep of running it) against the managed platform's fees.

    The managed side pays its fees plus the same review effort; compute and storage are taken as
    included in its fees.
    """
    if production_models < 0 or predictions < 0:
        raise InputError("production_models and predictions must be counts of at least 0")
    fees = production_models * pricing.per_model_month + predictions / 1000.0 * pricing.per_1000_predictions
    return PlatformComparison(self_hosted=cost.total + upkeep_cost, managed=fees + cost.review)
