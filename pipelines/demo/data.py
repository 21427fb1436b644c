"""Deterministic synthetic data for the three-model governance demo.

Each model gets a training history (the eight weeks before ``start``) and a
series of weekly scoring batches. From ``drift_from_week`` on, the loan and
churn populations shift (covariate shift only: the label is always the same
function of the features); the fraud population stays stable.

Everything here is pure: no I/O, no clock, no environment. The same arguments
always give identical frames.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl

__all__ = ["DemoDataset", "build_demo_datasets"]

_WEEK = timedelta(weeks=1)
_HISTORY_WEEKS = 8
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_TS_DTYPE = pl.Datetime("us", "UTC")
_MISSING_SHARE = 0.01

_Columns = dict[str, np.ndarray]
_RowGenerator = Callable[[np.random.Generator, int, bool], tuple[_Columns, np.ndarray]]


@dataclass(frozen=True)
class DemoDataset:
    """Synthetic history and weekly batches for one demo model."""

    model: str
    table: str
    key: str
    timestamp: str
    target: str
    features: tuple[str, ...]
    history: pl.DataFrame
    weeks: tuple[pl.DataFrame, ...]


@dataclass(frozen=True)
class _Spec:
    """Static description of one demo model's data."""

    model: str
    table: str
    key: str
    key_prefix: str
    timestamp: str
    target: str
    features: tuple[str, ...]
    seed_offset: int
    missing: str  # numeric feature that gets ~1% nulls
    generate: _RowGenerator


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _draw_labels(rng: np.random.Generator, logit: np.ndarray) -> np.ndarray:
    """Bernoulli labels (0/1 ints) from log-odds."""
    return (rng.random(logit.shape[0]) < _sigmoid(logit)).astype(np.int64)


# --------------------------------------------------------------------------- #
# Loan default
# --------------------------------------------------------------------------- #

_PURPOSES = (
    "debt_consolidation",
    "credit_card",
    "home_improvement",
    "car",
    "small_business",
    "medical",
    "other",
)
_PURPOSE_P = np.array([0.38, 0.22, 0.12, 0.10, 0.06, 0.05, 0.07])
# During the drift episode small-business loans surge.
_PURPOSE_P_DRIFT = np.array([0.30, 0.17, 0.10, 0.08, 0.25, 0.04, 0.06])
_PURPOSE_RISK = np.array([0.15, 0.0, -0.2, -0.25, 0.7, 0.3, 0.1])
_HOME = ("RENT", "OWN", "MORTGAGE")
_HOME_P = np.array([0.40, 0.15, 0.45])
_INCOME_BANDS = ("< 40K €", "40K - 60K €", "60K - 100K €", "> 100K €")
_INCOME_EDGES = np.array([40_000.0, 60_000.0, 100_000.0])


def _loan_rows(rng: np.random.Generator, n: int, drifted: bool) -> tuple[_Columns, np.ndarray]:
    income = np.exp(rng.normal(np.log(58_000.0), 0.45, n))
    score = rng.normal(695.0, 55.0, n)
    if drifted:
        income *= 0.75
        score -= 40.0
    income = np.round(income, 2)
    credit_score = np.clip(np.round(score), 300, 850).astype(np.int64)

    purpose_idx = rng.choice(len(_PURPOSES), size=n, p=_PURPOSE_P_DRIFT if drifted else _PURPOSE_P)
    ratio = np.clip(rng.lognormal(np.log(0.28), 0.45, n), 0.03, 1.5)
    loan_amount = np.round(np.maximum(income * ratio, 1_000.0), -2)
    term_months = rng.choice(np.array([36, 60], dtype=np.int64), size=n, p=[0.7, 0.3])
    employment_years = np.minimum(rng.poisson(6.0, n), 40).astype(np.int64)
    home_ownership = rng.choice(np.array(_HOME), size=n, p=_HOME_P)
    band_idx = np.searchsorted(_INCOME_EDGES, income, side="right")
    income_band = np.array(_INCOME_BANDS)[band_idx]
    has_cosigner = rng.random(n) < 0.12

    logit = (
        -2.85
        - 0.016 * (credit_score - 695.0)
        + 8.5 * (loan_amount / income - 0.3)
        - 0.4 * np.log(income / 58_000.0)
        + 0.8 * (term_months == 60)
        + 0.4 * (home_ownership == "RENT")
        - 0.9 * has_cosigner
        - 0.07 * (employment_years - 6.0)
        + _PURPOSE_RISK[purpose_idx]
    )
    target = _draw_labels(rng, logit)

    columns: _Columns = {
        "income": income,
        "loan_amount": loan_amount,
        "term_months": term_months,
        "credit_score": credit_score,
        "employment_years": employment_years,
        "home_ownership": home_ownership,
        "purpose": np.array(_PURPOSES)[purpose_idx],
        "income_band": income_band,
        "has_cosigner": has_cosigner,
    }
    return columns, target


# --------------------------------------------------------------------------- #
# Churn
# --------------------------------------------------------------------------- #

_CONTRACTS = ("month-to-month", "one-year", "two-year")
_CONTRACT_P = np.array([0.50, 0.25, 0.25])
_CONTRACT_RISK = np.array([0.9, -0.4, -1.2])
_PLANS = ("basic", "standard", "premium", "family")
_PLAN_P = np.array([0.30, 0.35, 0.20, 0.15])
_PLAN_PRICE = np.array([35.0, 60.0, 95.0, 80.0])
_REGIONS = ("Île-de-France", "Bayern", "Lombardia", "Cataluña", "Noord-Holland")
_REGION_P = np.array([0.30, 0.25, 0.18, 0.15, 0.12])


def _churn_rows(rng: np.random.Generator, n: int, drifted: bool) -> tuple[_Columns, np.ndarray]:
    tenure_months = rng.integers(1, 73, n).astype(np.int64)
    contract_idx = rng.choice(len(_CONTRACTS), size=n, p=_CONTRACT_P)
    plan_idx = rng.choice(len(_PLANS), size=n, p=_PLAN_P)
    charges = _PLAN_PRICE[plan_idx] * rng.lognormal(0.0, 0.15, n)
    if drifted:
        charges *= 1.15
    monthly_charges = np.round(charges, 2)
    support_calls = rng.poisson(1.3, n).astype(np.int64)
    autopay = rng.random(n) < 0.55
    data_usage_gb = np.round(rng.gamma(2.0, 12.0, n), 2)
    region = np.array(_REGIONS)[rng.choice(len(_REGIONS), size=n, p=_REGION_P)]

    logit = (
        -1.33
        + 1.3 * _CONTRACT_RISK[contract_idx]
        - 0.04 * (tenure_months - 36.0)
        + 0.5 * (support_calls - 1.3)
        - 0.7 * autopay
        + 0.012 * (monthly_charges - 62.0)
        - 0.01 * (data_usage_gb - 24.0)
    )
    target = _draw_labels(rng, logit)

    columns: _Columns = {
        "tenure_months": tenure_months,
        "monthly_charges": monthly_charges,
        "support_calls": support_calls,
        "contract": np.array(_CONTRACTS)[contract_idx],
        "plan": np.array(_PLANS)[plan_idx],
        "autopay": autopay,
        "data_usage_gb": data_usage_gb,
        "region": region,
    }
    return columns, target


# --------------------------------------------------------------------------- #
# Fraud
# --------------------------------------------------------------------------- #

_MERCHANTS = (
    "grocery",
    "restaurant",
    "fuel",
    "online_retail",
    "electronics",
    "travel",
    "jewelry",
)
_MERCHANT_P = np.array([0.28, 0.20, 0.14, 0.20, 0.08, 0.06, 0.04])
_MERCHANT_RISK = np.array([-0.6, -0.4, -0.2, 0.4, 0.8, 0.6, 1.1])
_COUNTRIES = ("France", "Germany", "Spain", "Côte d'Ivoire", "Türkiye", "Brazil")
_COUNTRY_P = np.array([0.55, 0.18, 0.12, 0.05, 0.05, 0.05])
_COUNTRY_RISK = np.array([0.0, 0.0, 0.1, 0.9, 0.7, 0.8])
# Transactions cluster in the day and evening; a thin tail runs overnight.
_HOUR_WEIGHTS = np.array(
    [1, 1, 1, 1, 1, 1, 2, 3, 5, 6, 6, 7, 8, 7, 6, 6, 7, 8, 9, 8, 6, 4, 3, 2],
    dtype=np.float64,
)
_HOUR_P = _HOUR_WEIGHTS / _HOUR_WEIGHTS.sum()


def _fraud_rows(rng: np.random.Generator, n: int, drifted: bool) -> tuple[_Columns, np.ndarray]:
    del drifted  # the fraud population is stable by design
    amount = np.round(np.exp(rng.normal(np.log(45.0), 1.0, n)), 2)
    hour = rng.choice(24, size=n, p=_HOUR_P).astype(np.int64)
    merchant_idx = rng.choice(len(_MERCHANTS), size=n, p=_MERCHANT_P)
    country_idx = rng.choice(len(_COUNTRIES), size=n, p=_COUNTRY_P)
    distance_km = np.round(rng.exponential(15.0, n), 2)
    card_present = rng.random(n) < 0.65
    customer_age = np.clip(np.round(rng.normal(44.0, 14.0, n)), 18, 90).astype(np.int64)
    txn_count_24h = rng.poisson(2.0, n).astype(np.int64)

    night = (hour <= 4).astype(np.float64)
    logit = (
        -3.8
        + 0.8 * np.log(amount / 45.0)
        + 1.2 * night
        + 1.3 * _MERCHANT_RISK[merchant_idx]
        + 1.3 * _COUNTRY_RISK[country_idx]
        + 0.7 * np.log1p(distance_km / 15.0)
        - 1.4 * card_present
        + 0.35 * (txn_count_24h - 2.0)
        - 0.01 * (customer_age - 44.0)
    )
    target = _draw_labels(rng, logit)

    columns: _Columns = {
        "amount": amount,
        "hour": hour,
        "merchant_category": np.array(_MERCHANTS)[merchant_idx],
        "distance_km": distance_km,
        "card_present": card_present,
        "country": np.array(_COUNTRIES)[country_idx],
        "customer_age": customer_age,
        "txn_count_24h": txn_count_24h,
    }
    return columns, target


# --------------------------------------------------------------------------- #
# House prices (regression) and support tickets (multiclass)
# --------------------------------------------------------------------------- #

_CITIES = ("Lyon", "München", "Milano", "Porto", "Gdańsk")
_CITY_P = np.array([0.30, 0.22, 0.20, 0.15, 0.13])
_CITY_PREMIUM = np.array([40_000.0, 120_000.0, 90_000.0, 10_000.0, -20_000.0])
_CITY_P_DRIFT = np.array([0.15, 0.40, 0.25, 0.10, 0.10])  # the market moves to the expensive cities


def _house_rows(rng: np.random.Generator, n: int, drifted: bool) -> tuple[_Columns, np.ndarray]:
    area_m2 = np.round(np.clip(rng.normal(110.0 if drifted else 90.0, 30.0, n), 20, 400), 1)
    rooms = np.clip(rng.poisson(area_m2 / 25.0), 1, 12).astype(np.int64)
    age_years = np.clip(np.round(rng.exponential(30.0, n)), 0, 150).astype(np.int64)
    city_idx = rng.choice(len(_CITIES), size=n, p=_CITY_P_DRIFT if drifted else _CITY_P)
    garden = rng.random(n) < 0.35
    price = (
        60_000.0
        + 2_400.0 * area_m2
        + 8_000.0 * rooms
        - 900.0 * age_years
        + _CITY_PREMIUM[city_idx]
        + 25_000.0 * garden
        + rng.normal(0.0, 25_000.0, n)
    )
    columns: _Columns = {
        "area_m2": area_m2,
        "rooms": rooms,
        "age_years": age_years,
        "city": np.array(_CITIES)[city_idx],
        "garden": garden,
    }
    return columns, np.round(price, -2)


_QUEUES = ("billing", "technical", "sales", "account")
_CHANNELS = ("email", "chat", "phone")
_CHANNEL_P = np.array([0.5, 0.3, 0.2])
_CHANNEL_P_DRIFT = np.array([0.25, 0.6, 0.15])  # a chat widget launched in week 6
_TIERS = ("free", "pro", "enterprise")
_TIER_P = np.array([0.6, 0.3, 0.1])


def _ticket_rows(rng: np.random.Generator, n: int, drifted: bool) -> tuple[_Columns, np.ndarray]:
    words = np.clip(np.round(rng.lognormal(3.5, 0.7, n)), 3, 2_000).astype(np.int64)
    channel_idx = rng.choice(len(_CHANNELS), size=n, p=_CHANNEL_P_DRIFT if drifted else _CHANNEL_P)
    tier_idx = rng.choice(len(_TIERS), size=n, p=_TIER_P)
    invoices_open = rng.poisson(0.6, n).astype(np.int64)
    logins_failed = rng.poisson(0.8, n).astype(np.int64)
    trial = rng.random(n) < 0.2
    # one score per queue, the ticket goes to the highest (with Gumbel noise: a multinomial logit)
    scores = np.column_stack(
        [
            1.4 * invoices_open + 0.6 * (tier_idx == 0),
            0.9 * logins_failed + 0.004 * words + 0.5 * (channel_idx == 1),
            1.8 * trial + 0.4 * (channel_idx == 2) - 0.3 * invoices_open,
            0.8 * (tier_idx == 2) + 0.5 * logins_failed * (channel_idx == 0),
        ]
    ) + rng.gumbel(size=(n, len(_QUEUES)))
    columns: _Columns = {
        "words": words,
        "channel": np.array(_CHANNELS)[channel_idx],
        "customer_tier": np.array(_TIERS)[tier_idx],
        "invoices_open": invoices_open,
        "logins_failed": logins_failed,
        "trial": trial,
    }
    return columns, np.array(_QUEUES)[scores.argmax(axis=1)]


# --------------------------------------------------------------------------- #
# Assembly
# --------------------------------------------------------------------------- #

_SPECS: tuple[_Spec, ...] = (
    _Spec(
        model="loan_default",
        table="loans",
        key="loan_id",
        key_prefix="L",
        timestamp="application_ts",
        target="defaulted",
        features=(
            "income",
            "loan_amount",
            "term_months",
            "credit_score",
            "employment_years",
            "home_ownership",
            "purpose",
            "income_band",
            "has_cosigner",
        ),
        seed_offset=101,
        missing="employment_years",
        generate=_loan_rows,
    ),
    _Spec(
        model="churn",
        table="customers",
        key="customer_id",
        key_prefix="C",
        timestamp="snapshot_ts",
        target="churned",
        features=(
            "tenure_months",
            "monthly_charges",
            "support_calls",
            "contract",
            "plan",
            "autopay",
            "data_usage_gb",
            "region",
        ),
        seed_offset=202,
        missing="support_calls",
        generate=_churn_rows,
    ),
    _Spec(
        model="fraud",
        table="transactions",
        key="txn_id",
        key_prefix="T",
        timestamp="txn_ts",
        target="is_fraud",
        features=(
            "amount",
            "hour",
            "merchant_category",
            "distance_km",
            "card_present",
            "country",
            "customer_age",
            "txn_count_24h",
        ),
        seed_offset=303,
        missing="distance_km",
        generate=_fraud_rows,
    ),
)


_TASK_SPECS: tuple[_Spec, ...] = (
    _Spec(
        model="house_price",
        table="houses",
        key="listing_id",
        key_prefix="H",
        timestamp="listed_ts",
        target="sale_price",
        features=("area_m2", "rooms", "age_years", "city", "garden"),
        seed_offset=404,
        missing="age_years",
        generate=_house_rows,
    ),
    _Spec(
        model="ticket_router",
        table="tickets",
        key="ticket_id",
        key_prefix="K",
        timestamp="opened_ts",
        target="queue",
        features=("words", "channel", "customer_tier", "invoices_open", "logins_failed", "trial"),
        seed_offset=505,
        missing="words",
        generate=_ticket_rows,
    ),
)


def _epoch_us(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(microseconds=1)


def _frame(
    spec: _Spec,
    rng: np.random.Generator,
    *,
    n: int,
    window_start_us: int,
    window_us: int,
    first_id: int,
    drifted: bool,
) -> pl.DataFrame:
    """One batch: sorted timestamps in the window, sequential keys, features, label."""
    ts_us = np.sort(rng.integers(window_start_us, window_start_us + window_us, n))
    keys = [f"{spec.key_prefix}-{i:06d}" for i in range(first_id, first_id + n)]
    columns, target = spec.generate(rng, n, drifted)
    missing_idx = np.flatnonzero(rng.random(n) < _MISSING_SHARE)

    series = [
        pl.Series(spec.key, keys, dtype=pl.Utf8),
        pl.Series(spec.timestamp, ts_us.astype(np.int64)).cast(_TS_DTYPE),
    ]
    for name in spec.features:
        s = pl.Series(name, columns[name])
        if name == spec.missing and missing_idx.size:
            s = s.scatter(missing_idx, None)
        series.append(s)
    series.append(pl.Series(spec.target, target, dtype=pl.Int64 if target.dtype.kind in "iub" else None))
    return pl.DataFrame(series)


def _build_one(
    spec: _Spec,
    *,
    start_us: int,
    seed: int,
    history_rows: int,
    batch_rows: int,
    n_weeks: int,
    drift_from_week: int,
) -> DemoDataset:
    rng = np.random.default_rng(seed + spec.seed_offset)
    week_us = _WEEK // timedelta(microseconds=1)

    history = _frame(
        spec,
        rng,
        n=history_rows,
        window_start_us=start_us - _HISTORY_WEEKS * week_us,
        window_us=_HISTORY_WEEKS * week_us,
        first_id=1,
        drifted=False,
    )
    weeks = tuple(
        _frame(
            spec,
            rng,
            n=batch_rows,
            window_start_us=start_us + i * week_us,
            window_us=week_us,
            first_id=1 + history_rows + i * batch_rows,
            drifted=i >= drift_from_week,
        )
        for i in range(n_weeks)
    )
    return DemoDataset(
        model=spec.model,
        table=spec.table,
        key=spec.key,
        timestamp=spec.timestamp,
        target=spec.target,
        features=spec.features,
        history=history,
        weeks=weeks,
    )


def build_demo_datasets(
    *,
    start: datetime,
    seed: int = 7,
    history_rows: int = 4000,
    batch_rows: int = 1500,
    n_weeks: int = 10,
    drift_from_week: int = 6,
    tasks: bool = False,
) -> tuple[DemoDataset, ...]:
    """Build loan_default, churn and fraud demo data (in that order); with `tasks`, also house_price
    (regression) and ticket_router (multiclass).

    ``start`` must be timezone-aware; history covers the 8 weeks before it and
    week ``i`` covers ``[start + i weeks, start + (i + 1) weeks)``. Loan and
    churn batches (and house and ticket ones) from ``drift_from_week`` on are covariate-shifted.
    """
    if start.tzinfo is None or start.utcoffset() is None:
        raise ValueError("start must be a timezone-aware datetime")
    if history_rows < 1 or batch_rows < 1:
        raise ValueError("history_rows and batch_rows must be positive")
    if n_weeks < 0 or drift_from_week < 0:
        raise ValueError("n_weeks and drift_from_week must not be negative")

    start_us = _epoch_us(start.astimezone(UTC))
    return tuple(
        _build_one(
            spec,
            start_us=start_us,
            seed=seed,
            history_rows=history_rows,
            batch_rows=batch_rows,
            n_weeks=n_weeks,
            drift_from_week=drift_from_week,
        )
        for spec in (*_SPECS, *(_TASK_SPECS if tasks else ()))
    )
