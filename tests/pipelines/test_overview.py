from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest

from governance.drift import dataset_drifted
from lakehouse.schemas import DRIFT
from pipelines.jobs.promote import request_promotion
from pipelines.jobs.score import score
from pipelines.reads.overview import (
    DRIFT_HISTORY_SCHEMA,
    DriftStatus,
    drift_history,
    model_overview,
    overview_frame,
    overview_totals,
)
from tests.conftest import MAKER, START, FixedClock, Seeded, context_for, train_loan_model


def test_overview_summarises_the_seeded_model(seeded: Seeded) -> None:
    (summary,) = model_overview(context_for(seeded.home), now=START)

    assert summary.name == "loan_default"
    assert summary.champion_version == "1"
    assert summary.latest_version == "1"
    assert summary.versions == 1
    assert summary.pending_requests == 0
    assert summary.batches == 2
    assert summary.last_scored_at == START
    assert summary.latest_batch_id == seeded.batch_ids[-1]
    assert summary.latest_drift_share is not None
    assert summary.latest_drift_share >= 0.5
    assert summary.latest_drifted is True
    assert summary.drift_status is DriftStatus.DRIFTED


def test_totals_and_frame_follow_the_summaries(seeded: Seeded) -> None:
    summaries = model_overview(context_for(seeded.home), now=START)

    totals = overview_totals(summaries)
    frame = overview_frame(summaries)

    assert (totals.models, totals.in_production, totals.pending_requests, totals.drifted_latest_batches) == (1, 1, 0, 1)
    assert frame.select("name", "champion_version", "drift_status").rows() == [("loan_default", "1", "drifted")]


def test_drift_history_has_one_row_per_monitored_batch_oldest_first(seeded: Seeded) -> None:
    ctx = context_for(seeded.home)

    history = drift_history(ctx, "loan_default")

    assert history.schema == DRIFT_HISTORY_SCHEMA
    assert history["batch_id"].to_list() == list(seeded.batch_ids)
    stored = ctx.store.read(DRIFT).group_by("batch_id").agg(pl.col("drifted").mean().alias("share"))
    shares = dict(stored.iter_rows())
    for row in history.iter_rows(named=True):
        assert row["drift_share"] == pytest.approx(shares[row["batch_id"]])
        assert row["drifted"] is dataset_drifted(row["drift_share"])
    assert history["drifted"].to_list() == [False, True]


def test_drift_history_of_an_unknown_model_is_empty(seeded: Seeded) -> None:
    history = drift_history(context_for(seeded.home), "no_such_model")

    assert history.is_empty()
    assert history.schema == DRIFT_HISTORY_SCHEMA


def test_an_empty_lakehouse_has_no_models(empty_home: Path) -> None:
    assert model_overview(context_for(empty_home), now=START) == []


def test_a_new_version_counts_as_pending_and_an_unmonitored_batch_is_not_judged(seeded: Seeded) -> None:
    clock = FixedClock(START + timedelta(weeks=9))
    ctx = context_for(seeded.home, clock=clock)
    trained = train_loan_model(ctx, seeded.dataset)
    request_promotion(ctx, model="loan_default", version=trained.version, reason="retrained", actor=MAKER)
    week = START + timedelta(weeks=7)
    batch = score(
        ctx, model="loan_default", table="applications", start=week, end=week + timedelta(days=3), actor=MAKER
    )

    (summary,) = model_overview(ctx, now=ctx.clock())

    assert summary.pending_requests == 1
    assert summary.versions == 2
    assert summary.latest_version == trained.version
    assert summary.champion_version == "1"
    assert summary.batches == 3
    assert summary.latest_batch_id == batch.batch_id
    assert summary.last_scored_at == clock.at
    assert summary.latest_drifted is None
    assert summary.drift_status is DriftStatus.NOT_MONITORED
    assert overview_totals([summary]).drifted_latest_batches == 0
