from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import polars as pl
import pytest

from governance.errors import InputError, NotFoundError
from lakehouse.schemas import DRIFT, QUALITY, RUNS
from pipelines.jobs.reports import write_evidently_report
from pipelines.reads.monitoring import (
    DISTRIBUTION_SCHEMA,
    DateSpan,
    batch_frames,
    batches_by_role,
    date_span,
    drift_cells,
    drift_magnitude,
    evidently_report_path,
    feature_distribution,
    label_coverage,
    model_batches,
    performance_history,
    production_series,
    quality_checks,
    series_order,
    shown_batches,
    time_span,
)
from tests.conftest import ANALYST, Seeded, context_for

MODEL = "loan_default"


# --- feature_distribution (pure) -----------------------------------------------------------------


def test_a_many_valued_number_is_binned_over_both_sides_range() -> None:
    reference = pl.Series("x", [float(v) for v in range(100)])
    current = pl.Series("x", [float(v) for v in range(50, 150)] + [None, float("inf")])

    found = feature_distribution(reference, current, numeric=True, bins=10)

    assert found.schema == DISTRIBUTION_SCHEMA
    assert found.height == 20
    ref, cur = (found.filter(pl.col("side") == side).sort("order") for side in ("reference", "current"))
    assert ref["lower"][0] == 0.0
    assert cur["upper"][-1] == pytest.approx(149.0)
    assert ref["rows"].sum() == 100
    assert cur["rows"].sum() == 100  # null and inf left out
    assert ref["share"].sum() == pytest.approx(1.0)
    assert cur["share"].sum() == pytest.approx(1.0)
    assert ref["rows"][-1] == 0  # the reference never reaches the top bin
    assert cur["rows"][0] == 0


@pytest.mark.parametrize(
    ("reference", "current", "numeric", "bins", "reference_rows", "current_rows"),
    [
        # a few-valued number is counted per value, in numeric order
        ([36, 60, 60, 12], [12, 12], True, ["12", "36", "60"], [1, 1, 2], [2, 0, 0]),
        # categories, including one only the current side has
        (["a", "b", "b"], ["c", None], False, ["a", "b", "c"], [1, 2, 0], [0, 0, 1]),
    ],
)
def test_values_are_counted_per_value_on_both_sides(
    reference: list[object],
    current: list[object],
    numeric: bool,
    bins: list[str],
    reference_rows: list[int],
    current_rows: list[int],
) -> None:
    found = feature_distribution(pl.Series("f", reference), pl.Series("f", current), numeric=numeric)

    ref, cur = (found.filter(pl.col("side") == side).sort("order") for side in ("reference", "current"))
    assert ref["bin"].to_list() == bins
    assert cur["bin"].to_list() == bins
    assert ref["rows"].to_list() == reference_rows
    assert cur["rows"].to_list() == current_rows
    assert cur["share"].sum() == pytest.approx(1.0)
    assert found["lower"].is_null().all()


def test_no_values_at_all_is_an_empty_distribution() -> None:
    empty = pl.Series("x", [None, None], dtype=pl.Float64)
    assert feature_distribution(empty, empty, numeric=True).is_empty()


# --- series and dates (pure) -----------------------------------------------------------------------

T0 = datetime(2026, 6, 1, 12, tzinfo=UTC)


def batches() -> pl.DataFrame:
    """Three weeks: v1 champion and v2 in shadow, then v2 promoted in week three."""
    rows = [
        ("1", "champion", 0, False),
        ("2", "challenger", 0, True),
        ("1", "champion", 1, True),
        ("2", "challenger", 1, True),
        ("2", "champion", 2, False),
    ]
    return pl.DataFrame(
        [
            {
                "batch": i + 1,
                "model_version": version,
                "role": role,
                "series": f"v{version} · {role}",
                "batch_time": T0 + timedelta(weeks=week),
                "drifted": drifted,
            }
            for i, (version, role, week, drifted) in enumerate(rows)
        ]
    )


def test_the_champions_series_come_first_newest_version_first() -> None:
    assert series_order(batches()) == ["v2 · champion", "v1 · champion", "v2 · challenger"]
    assert production_series(batches()) == ["v2 · champion", "v1 · champion"]


def test_without_champion_batches_every_series_is_shown() -> None:
    shadow_only = batches().filter(pl.col("role") == "challenger")
    assert production_series(shadow_only) == ["v2 · challenger"]


def test_the_date_span_is_the_batches_first_and_last_day() -> None:
    assert date_span(batches()) == DateSpan(first=date(2026, 6, 1), last=date(2026, 6, 15))
    assert date_span(batches().clear()) is None
    assert time_span(batches()) == (T0, T0 + timedelta(weeks=2))
    assert time_span(batches().clear()) is None


@pytest.mark.parametrize(
    ("series", "first", "last", "kept"),
    [
        (None, None, None, [1, 2, 3, 4, 5]),
        (["v1 · champion"], None, None, [1, 3]),
        (None, date(2026, 6, 8), None, [3, 4, 5]),
        (None, date(2026, 6, 1), date(2026, 6, 1), [1, 2]),  # one day, both ends included
        (["v2 · challenger", "v2 · champion"], date(2026, 6, 8), date(2026, 6, 15), [4, 5]),
        ([], None, None, []),
    ],
)
def test_shown_batches_keep_the_chosen_series_and_days(
    series: list[str] | None, first: date | None, last: date | None, kept: list[int]
) -> None:
    assert shown_batches(batches(), series=series, first=first, last=last)["batch"].to_list() == kept


def test_batches_are_counted_per_role_champion_first() -> None:
    assert batches_by_role(batches()) == "3 by the champion (v1, v2), 2 by the challenger (v2)"
    assert batches_by_role(batches(), drifted="drifted") == (
        "3 by the champion (v1, v2), 1 of them drifted; 2 by the challenger (v2), 2 of them drifted"
    )
    assert batches_by_role(batches().clear()) == ""


def test_drift_magnitude_panels_each_feature_and_method_with_its_side() -> None:
    cells = pl.DataFrame(
        {
            "feature": ["income", "income", "purpose"],
            "method": ["K-S p_value", "Wasserstein distance (normed)", "Jensen-Shannon distance"],
            "statistic": [0.01, 0.3, 0.05],
            "threshold": [0.05, 0.1, 0.1],
        }
    )

    found = drift_magnitude(cells)

    assert found["panel"].to_list() == [
        "income · K-S p_value",
        "income · Wasserstein distance (normed)",
        "purpose · Jensen-Shannon distance",
    ]
    assert found["drifts_when"].to_list() == ["below", "above", "above"]


# --- reads over the seeded lakehouse -------------------------------------------------------------


def test_drift_cells_number_the_batches_and_keep_each_statistic(seeded: Seeded) -> None:
    ctx = context_for(seeded.home)

    cells = drift_cells(ctx, MODEL)

    stored = ctx.store.read(DRIFT)
    assert cells.height == stored.height
    assert cells.select("batch", "batch_id").unique().sort("batch").rows() == [
        (1, seeded.batch_ids[0]),
        (2, seeded.batch_ids[1]),
    ]
    assert set(cells["series"]) == {"v1 · champion"}
    # each batch at its data window's start
    windows = model_batches(ctx, MODEL).sort("batch")["window_start"].to_list()
    assert cells.unique("batch").sort("batch")["batch_time"].to_list() == windows
    latest = cells.filter(pl.col("batch") == 2)
    assert latest["drifted"].mean() >= 0.5  # week 7 is the drifted one
    assert set(cells["method"]) <= set(stored["method"])
    assert cells["threshold"].is_not_null().all()


def test_batch_frames_are_the_training_rows_and_the_batch_window(seeded: Seeded) -> None:
    ctx = context_for(seeded.home)
    batches = model_batches(ctx, MODEL)

    frames = batch_frames(ctx, model=MODEL, batch_id=seeded.batch_ids[0])

    assert frames.reference_id == "raw/loans@0"
    assert frames.reference.height == seeded.dataset.history.height
    assert frames.current.height == batches.filter(pl.col("batch") == 1)["rows"][0]
    assert frames.current.columns == frames.reference.columns == list(frames.spec.columns)
    with pytest.raises(NotFoundError, match="no batch"):
        batch_frames(ctx, model=MODEL, batch_id="b-0000000000000000")


def test_performance_and_coverage_follow_the_labels(seeded: Seeded) -> None:
    ctx = context_for(seeded.home)

    performance = performance_history(ctx, MODEL)
    coverage = label_coverage(ctx, MODEL)

    realized = performance.filter(pl.col("kind") == "realized")
    assert set(realized["batch_id"]) == {seeded.batch_ids[0]}  # labels arrived for week 0 only
    assert "roc_auc" in set(realized["metric"])
    assert realized.group_by("metric").len()["len"].max() == 1  # the latest computation only
    estimated = performance.filter(pl.col("kind") == "estimated")
    assert set(estimated["batch_id"]) <= set(seeded.batch_ids)
    assert performance["batch"].is_sorted()
    assert coverage["batch_id"].to_list() == list(seeded.batch_ids)
    assert coverage["coverage"].to_list() == [1.0, 0.0]
    assert coverage["labelled_rows"][0] == coverage["batch_rows"][0] > 0


def test_quality_checks_come_newest_batch_first_and_failed_first(seeded: Seeded) -> None:
    ctx = context_for(seeded.home)
    stored = ctx.store.read(QUALITY).filter(pl.col("model") == MODEL)

    checks = quality_checks(ctx, MODEL)

    assert checks.height == stored.height
    assert checks["batch"].is_sorted(descending=True)
    for (_,), batch in checks.group_by("batch", maintain_order=True):
        assert batch["passed"].is_sorted()  # False (failed) before True


def test_the_evidently_report_is_written_under_reports_and_recorded_as_a_run(seeded: Seeded) -> None:
    ctx = context_for(seeded.home)
    batch_id = seeded.batch_ids[1]

    path = write_evidently_report(ctx, model=MODEL, batch_id=batch_id, actor=ANALYST)

    assert path == seeded.home / "reports" / f"{batch_id}.html"
    assert path.stat().st_size > 10_000
    assert "Drift" in path.read_text(encoding="utf-8")
    runs = ctx.store.read(RUNS).filter(pl.col("job") == "evidently_report")
    assert runs.select("actor", "model", "status").rows() == [(ANALYST, MODEL, "succeeded")]


@pytest.mark.parametrize("bad", ["../etc/passwd", "b-123", "B-0123456789ABCDEF"])
def test_a_report_path_refuses_anything_but_a_batch_id(seeded: Seeded, bad: str) -> None:
    with pytest.raises(InputError, match="batch id"):
        evidently_report_path(context_for(seeded.home), bad)
