from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import date
from pathlib import Path

import polars as pl
import pytest
from streamlit.testing.v1 import AppTest

from app.auth import SESSION_KEY
from app.text import plain
from governance.identity import SignedIn
from governance.roles import Role
from lakehouse.schemas import BATCHES, DRIFT, QUALITY, RUNS
from tests.app.conftest import MAIN, captions, chart_rows, chart_spec, open_app
from tests.conftest import ANALYST, Seeded, context_for

PAGE = "views/drift.py"


def test_the_drift_page_shows_the_heatmap_history_and_the_drifted_feature(
    seeded: Seeded, serve_home: Callable[[Path], None]
) -> None:
    serve_home(seeded.home)
    stored = context_for(seeded.home).store.read(DRIFT)
    first_drifted = stored.filter((pl.col("batch_id") == seeded.batch_ids[1]) & pl.col("drifted"))["feature"]

    at = open_app(ANALYST, Role.ANALYST, page=PAGE)

    assert not at.exception
    assert not at.error
    assert at.title[0].value == "Drift"
    assert at.selectbox(key="drift.model").value == "loan_default"
    assert plain("2 by the champion (v1), 1 of them drifted") in captions(at)
    # heatmap, drift share, drift magnitude, one feature's distribution, the score's distribution (output drift)
    assert len(at.get("vega_lite_chart")) == 5
    heatmap = chart_rows(at, 0)
    assert len(heatmap) == stored.height  # one cell per batch x feature
    assert {row["verdict"] for row in heatmap} == {"stable", "drifted"}
    assert {"method", "statistic", "threshold"} <= set(heatmap[0])
    assert {row["series"] for row in heatmap} == {"v1 · champion"}
    # the drill-down opens on the latest batch and on its first drifted feature
    assert at.selectbox(key="drift.batch.loan_default").value == seeded.batch_ids[1]
    feature = at.selectbox(key="drift.feature.loan_default").value
    assert feature in set(first_drifted)
    assert plain(f"{feature}: drifted by") in captions(at)
    distribution = chart_rows(at, 3)
    assert {row["side"] for row in distribution} == {"reference", "current"}


def batch_days(seeded: Seeded) -> list[date]:
    """The first day of each seeded batch's data window, oldest first."""
    batches = context_for(seeded.home).store.read(BATCHES).filter(pl.col("model") == "loan_default")
    return sorted(batches["window_start"].dt.date().to_list())


def test_drift_is_drawn_over_the_batches_dates(seeded: Seeded, serve_home: Callable[[Path], None]) -> None:
    serve_home(seeded.home)
    days = batch_days(seeded)

    at = open_app(ANALYST, Role.ANALYST, page=PAGE)

    assert not at.exception
    heatmap = chart_spec(at, 0)
    assert heatmap["spec"]["encoding"]["x"]["field"] == "day"
    assert heatmap["facet"]["row"]["field"] == "series"  # one row of cells per version and role
    assert sorted({row["day"] for row in chart_rows(at, 0)}) == [f"{d:%Y-%m-%d}" for d in days]
    share = chart_spec(at, 1)["layer"][0]["encoding"]["x"]
    assert (share["field"], share["type"]) == ("batch_time", "temporal")
    assert sorted({row["batch_time"].date() for row in chart_rows(at, 1) if "batch_time" in row}) == days


def test_drift_magnitude_is_each_features_statistic_against_its_threshold(
    seeded: Seeded, serve_home: Callable[[Path], None]
) -> None:
    serve_home(seeded.home)
    stored = context_for(seeded.home).store.read(DRIFT).filter(pl.col("model") == "loan_default")

    at = open_app(ANALYST, Role.ANALYST, page=PAGE)

    spec = chart_spec(at, 2)
    assert spec["facet"]["field"] == "title"  # a panel per feature and method
    line, _points, threshold = spec["spec"]["layer"]
    assert (line["encoding"]["y"]["field"], threshold["encoding"]["y"]["field"]) == ("statistic", "threshold")
    assert line["encoding"]["color"]["field"] == "series"  # one line per version and role
    rows = chart_rows(at, 2)
    assert len(rows) == stored.height
    drawn = {(r["batch_id"], r["title"].split(" · ")[0]): (r["statistic"], r["threshold"]) for r in rows}
    assert drawn == {
        (r["batch_id"], r["feature"]): (r["statistic"], r["threshold"]) for r in stored.iter_rows(named=True)
    }
    # a p-value drifts below its threshold, a distance above it
    for row in rows:
        side = "above" if row["method"] in {"Wasserstein distance (normed)", "Jensen-Shannon distance"} else "below"
        assert row["title"].endswith(f"(drifts {side} the threshold)")


def test_the_date_range_keeps_only_the_batches_of_those_days(
    seeded: Seeded, serve_home: Callable[[Path], None]
) -> None:
    serve_home(seeded.home)
    first, last = batch_days(seeded)
    at = open_app(ANALYST, Role.ANALYST, page=PAGE)
    assert at.date_input(key="drift.batches.loan_default.dates").value == (first, last)

    at.date_input(key="drift.batches.loan_default.dates").set_value((first, first)).run()

    assert not at.exception
    assert plain("1 by the champion (v1), 0 of them drifted") in captions(at)
    assert {row["batch_id"] for row in chart_rows(at, 0)} == {seeded.batch_ids[0]}
    assert {row["batch_id"] for row in chart_rows(at, 2)} == {seeded.batch_ids[0]}
    (only,) = at.selectbox(key="drift.batch.loan_default").options
    assert only.startswith(f"batch 1 · {first:%Y-%m-%d} · v1 · champion")


def test_a_categorical_feature_is_drawn_per_value(seeded: Seeded, serve_home: Callable[[Path], None]) -> None:
    serve_home(seeded.home)
    categorical = seeded.dataset.history.select(pl.col(pl.String)).columns
    at = open_app(ANALYST, Role.ANALYST, page=PAGE)
    feature = next(f for f in at.selectbox(key="drift.feature.loan_default").options if f in categorical)

    at.selectbox(key="drift.batch.loan_default").set_value(seeded.batch_ids[0])
    at.selectbox(key="drift.feature.loan_default").set_value(feature).run()

    assert not at.exception
    distribution = chart_rows(at, 3)
    values = set(seeded.dataset.history[feature].drop_nulls().unique())
    assert {row["bin"] for row in distribution} >= values
    assert all(row["lower"] is None for row in distribution)
    assert plain(f"{feature}: stable by") in captions(at) or plain(f"{feature}: drifted by") in captions(at)


def test_the_evidently_report_is_generated_on_demand_and_offered(
    seeded: Seeded, serve_home: Callable[[Path], None]
) -> None:
    serve_home(seeded.home)
    report = seeded.home / "reports" / f"{seeded.batch_ids[1]}.html"
    at = open_app(ANALYST, Role.ANALYST, page=PAGE)
    assert not report.exists()
    assert "generated on demand" in captions(at)
    assert not at.get("download_button")

    at.button(key="drift.generate_report").click().run()

    assert not at.exception
    assert not at.error
    assert report.is_file()
    assert report.stat().st_size > 10_000
    assert len(at.get("download_button")) == 1
    runs = context_for(seeded.home).store.read(RUNS).filter(pl.col("job") == "evidently_report")
    assert runs["actor"].to_list() == [ANALYST]


def test_quality_alerts_are_listed_from_the_quality_table(seeded: Seeded, serve_home: Callable[[Path], None]) -> None:
    serve_home(seeded.home)
    quality = context_for(seeded.home).store.read(QUALITY).filter(pl.col("model") == "loan_default")
    failed = quality.filter(~pl.col("passed")).height

    at = open_app(ANALYST, Role.ANALYST, page=PAGE)

    assert not at.exception
    if failed:
        assert f"{failed} quality alerts" in at.warning[0].value
    else:
        assert "No quality alerts" in at.success[0].value
    assert quality.height > 0
    # every check of the selected batch, each with where its threshold comes from
    shown = next(d.value for d in at.dataframe if "threshold_origin" in d.value.columns)
    origins = dict(zip(zip(shown["check"], shown["column"], strict=True), shown["threshold_origin"], strict=True))
    assert origins["unseen_categories", "purpose"] == "default: any unseen category"
    assert origins["missing_share_increase", "income"].startswith("derived from 10 reference chunks")


def test_without_quality_rows_the_page_says_checks_have_not_run(
    seeded: Seeded, serve_home: Callable[[Path], None]
) -> None:
    shutil.rmtree(seeded.home / "lakehouse" / QUALITY)
    serve_home(seeded.home)

    at = open_app(ANALYST, Role.ANALYST, page=PAGE)

    assert not at.exception
    assert plain("Quality checks have not run for loan_default") in captions(at)


@pytest.mark.parametrize("role", [Role.MAKER, Role.REVIEWER, Role.AUDITOR, Role.ADMIN])
def test_every_role_may_read_drift(seeded: Seeded, serve_home: Callable[[Path], None], role: Role) -> None:
    serve_home(seeded.home)

    at = open_app("someone", role, page=PAGE)

    assert not at.exception
    assert not at.error
    assert len(at.get("vega_lite_chart")) == 5


def test_someone_without_a_role_is_refused(seeded: Seeded, serve_home: Callable[[Path], None]) -> None:
    serve_home(seeded.home)
    page = AppTest.from_file(str(MAIN.parent / "views" / "drift.py"), default_timeout=60)
    page.session_state[SESSION_KEY] = SignedIn(user="nobody", roles=frozenset())

    page.run()

    assert "You may not open Drift: it needs" in page.error[0].value.replace("\\", "")
    assert not page.get("vega_lite_chart")
