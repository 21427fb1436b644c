"""Tests for the synthetic demo data generators."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from pipelines.demo.data import DemoDataset, build_demo_datasets

START = datetime(2025, 3, 3, tzinfo=UTC)
WEEK = timedelta(weeks=1)
DRIFT_FROM = 6

_DATASETS = build_demo_datasets(start=START)
_BY_MODEL = {d.model: d for d in _DATASETS}


def _frames(ds: DemoDataset) -> list[pl.DataFrame]:
    return [ds.history, *ds.weeks]


def test_shape_of_result() -> None:
    assert [d.model for d in _DATASETS] == ["loan_default", "churn", "fraud"]
    assert [d.table for d in _DATASETS] == ["loans", "customers", "transactions"]
    assert [d.key for d in _DATASETS] == ["loan_id", "customer_id", "txn_id"]
    for ds in _DATASETS:
        assert ds.history.height == 4000
        assert len(ds.weeks) == 10
        expected = [ds.key, ds.timestamp, *ds.features, ds.target]
        for frame in _frames(ds):
            assert frame.columns == expected
            assert frame.schema[ds.key] == pl.Utf8
            assert frame.schema[ds.timestamp] == pl.Datetime("us", "UTC")
            assert set(frame[ds.target].unique().to_list()) <= {0, 1}
        dtypes = {ds.history.schema[f] for f in ds.features}
        assert {pl.Float64, pl.Int64, pl.Boolean, pl.Utf8} <= dtypes


def test_deterministic() -> None:
    again = build_demo_datasets(start=START)
    for first, second in zip(_DATASETS, again, strict=True):
        assert first.features == second.features
        for a, b in zip(_frames(first), _frames(second), strict=True):
            assert a.equals(b)


def test_seed_changes_data() -> None:
    other = build_demo_datasets(start=START, seed=8, history_rows=50, n_weeks=1)
    small = build_demo_datasets(start=START, history_rows=50, n_weeks=1)
    assert not other[0].history.equals(small[0].history)


def test_keys_unique_across_history_and_weeks() -> None:
    for ds in _DATASETS:
        keys = pl.concat([f.select(ds.key) for f in _frames(ds)])[ds.key]
        assert keys.null_count() == 0
        assert keys.n_unique() == keys.len() == 4000 + 10 * 1500


def test_timestamps_in_windows() -> None:
    for ds in _DATASETS:
        hist = ds.history[ds.timestamp]
        assert hist.min() >= START - 8 * WEEK
        assert hist.max() < START
        for i, week in enumerate(ds.weeks):
            ts = week[ds.timestamp]
            assert ts.min() >= START + i * WEEK
            assert ts.max() < START + (i + 1) * WEEK


def test_non_ascii_categories_present() -> None:
    loans = _BY_MODEL["loan_default"].history
    assert "40K - 60K €" in loans["income_band"].to_list()
    fraud = _BY_MODEL["fraud"].history
    assert "Côte d'Ivoire" in fraud["country"].to_list()


def test_some_missing_values_are_nulls() -> None:
    for ds in _DATASETS:
        frame = pl.concat(_frames(ds))
        nulls = frame.null_count().row(0, named=True)
        total = sum(nulls[f] for f in ds.features)
        assert 0 < total < 0.05 * frame.height
        floats = [f for f in ds.features if frame.schema[f] == pl.Float64]
        assert all(frame[f].is_nan().sum() == 0 for f in floats)


@pytest.mark.parametrize(
    ("model", "low", "high"),
    [("loan_default", 0.10, 0.21), ("churn", 0.18, 0.32), ("fraud", 0.02, 0.07)],
)
def test_base_rates(model: str, low: float, high: float) -> None:
    ds = _BY_MODEL[model]
    stable = pl.concat([ds.history, *ds.weeks[:DRIFT_FROM]])
    rate = stable[ds.target].mean()
    assert isinstance(rate, float)
    assert low < rate < high


def _mean(frames: list[pl.DataFrame] | tuple[pl.DataFrame, ...], col: str) -> float:
    value = pl.concat(frames)[col].mean()
    assert isinstance(value, float)
    return value


def test_drift_in_loans_but_not_fraud() -> None:
    loans = _BY_MODEL["loan_default"]
    drifted = loans.weeks[DRIFT_FROM:]
    assert _mean(drifted, "income") < 0.85 * _mean([loans.history], "income")
    assert _mean(loans.weeks[:DRIFT_FROM], "income") > 0.92 * _mean([loans.history], "income")
    assert _mean(drifted, "credit_score") < _mean([loans.history], "credit_score") - 25

    churn = _BY_MODEL["churn"]
    assert _mean(churn.weeks[DRIFT_FROM:], "monthly_charges") > 1.08 * _mean([churn.history], "monthly_charges")

    fraud = _BY_MODEL["fraud"]
    hist_amount = _mean([fraud.history], "amount")
    drift_amount = _mean(fraud.weeks[DRIFT_FROM:], "amount")
    assert abs(drift_amount / hist_amount - 1.0) < 0.1


def test_rejects_naive_start() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        build_demo_datasets(start=datetime(2025, 1, 1))
