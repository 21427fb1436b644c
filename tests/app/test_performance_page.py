from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest
from streamlit.testing.v1 import AppTest

from app.auth import SESSION_KEY
from app.text import plain
from governance.identity import SignedIn
from governance.roles import Role
from lakehouse.schemas import BATCHES, PERFORMANCE
from tests.app.conftest import MAIN, chart_rows, chart_spec, metric, open_app
from tests.conftest import ANALYST, Seeded, context_for

PAGE = "views/performance.py"


def test_realized_metrics_label_coverage_and_no_challenger(seeded: Seeded, serve_home: Callable[[Path], None]) -> None:
    serve_home(seeded.home)
    stored = context_for(seeded.home).store.read(PERFORMANCE)
    auc = stored.filter((pl.col("kind") == "realized") & (pl.col("metric") == "roc_auc"))["value"][-1]

    at = open_app(ANALYST, Role.ANALYST, page=PAGE)

    assert not at.exception
    assert not at.error
    assert at.title[0].value == "Performance"
    assert metric(at, "Batches scored") == "2"
    assert metric(at, "Batches with labels") == "1"  # labels arrived for week 0 only
    assert metric(at, "Rows labelled") == "50%"
    assert metric(at, "Realized ROC AUC") == f"{auc:.3f}"
    assert len(at.get("vega_lite_chart")) == 2  # metrics per batch, label coverage
    realized = [r for r in chart_rows(at, 0) if r["kind"] == "realized"]
    assert {r["metric"] for r in realized} == {"roc_auc", "accuracy", "f1"}
    assert {r["batch"] for r in realized} == {1}
    coverage = sorted((r["batch"], r["coverage"]) for r in chart_rows(at, 1))
    assert coverage == [(1, 1.0), (2, 0.0)]
    assert "No challenger" in at.info[0].value
    versions = at.dataframe[0].value
    assert versions[["model_version", "role"]].values.tolist() == [["1", "champion"]]


def test_performance_is_drawn_over_the_batches_dates(seeded: Seeded, serve_home: Callable[[Path], None]) -> None:
    serve_home(seeded.home)
    windows = dict(context_for(seeded.home).store.read(BATCHES).select("batch_id", "window_start").iter_rows())

    at = open_app(ANALYST, Role.ANALYST, page=PAGE)

    line = chart_spec(at, 0)["layer"][0]["encoding"]["x"]
    assert (line["field"], line["type"], line["scale"]["type"]) == ("batch_time", "temporal", "utc")
    assert all(r["batch_time"] == windows[r["batch_id"]] for r in chart_rows(at, 0))
    assert chart_spec(at, 1)["encoding"]["x"]["field"] == "day"
    assert {r["day"] for r in chart_rows(at, 1)} == {f"{w:%Y-%m-%d}" for w in windows.values()}


def test_the_date_range_keeps_only_the_batches_of_those_days(
    seeded: Seeded, serve_home: Callable[[Path], None]
) -> None:
    serve_home(seeded.home)
    batches = context_for(seeded.home).store.read(BATCHES).sort("window_start")
    first, last = (w.date() for w in batches["window_start"])
    at = open_app(ANALYST, Role.ANALYST, page=PAGE)
    assert at.date_input(key="performance.batches.loan_default.dates").value == (first, last)

    at.date_input(key="performance.batches.loan_default.dates").set_value((last, last)).run()

    assert not at.exception
    assert metric(at, "Batches scored") == "1"
    assert metric(at, "Batches with labels") == "0"  # the labelled week is outside the range
    assert metric(at, "Realized ROC AUC") == "–"
    assert {r["batch_id"] for r in chart_rows(at, 0)} <= {batches["batch_id"][-1]}
    assert [r["batch_id"] for r in chart_rows(at, 1)] == [batches["batch_id"][-1]]


def test_estimated_metrics_are_drawn_dashed_when_they_exist(seeded: Seeded, serve_home: Callable[[Path], None]) -> None:
    serve_home(seeded.home)
    estimated = context_for(seeded.home).store.read(PERFORMANCE).filter(pl.col("kind") == "estimated")

    at = open_app(ANALYST, Role.ANALYST, page=PAGE)

    kinds = {r["kind"] for r in chart_rows(at, 0)}
    text = "\n".join(c.value for c in at.caption)
    if estimated.height:
        assert "estimated" in kinds
        assert plain("Dashed: estimated") in text
    else:
        assert kinds == {"realized"}
        assert plain("No estimated performance") in text


def test_choosing_metrics_redraws_the_chart(seeded: Seeded, serve_home: Callable[[Path], None]) -> None:
    serve_home(seeded.home)
    at = open_app(ANALYST, Role.ANALYST, page=PAGE)

    at.multiselect(key="performance.metrics.loan_default").set_value(["brier"]).run()

    assert not at.exception
    assert {r["metric"] for r in chart_rows(at, 0)} == {"brier"}


@pytest.mark.parametrize("role", [Role.MAKER, Role.REVIEWER, Role.AUDITOR, Role.ADMIN])
def test_every_role_may_read_performance(seeded: Seeded, serve_home: Callable[[Path], None], role: Role) -> None:
    serve_home(seeded.home)

    at = open_app("someone", role, page=PAGE)

    assert not at.exception
    assert not at.error
    assert metric(at, "Batches scored") == "2"


def test_someone_without_a_role_is_refused(seeded: Seeded, serve_home: Callable[[Path], None]) -> None:
    serve_home(seeded.home)
    page = AppTest.from_file(str(MAIN.parent / "views" / "performance.py"), default_timeout=60)
    page.session_state[SESSION_KEY] = SignedIn(user="nobody", roles=frozenset())

    page.run()

    assert "You may not open Performance: it needs" in page.error[0].value.replace("\\", "")
    assert not page.metric


def test_an_empty_lakehouse_points_to_the_demo(empty_home: Path, serve_home: Callable[[Path], None]) -> None:
    serve_home(empty_home)

    at = open_app(ANALYST, Role.ANALYST, page=PAGE)

    assert not at.exception
    assert "mlgov demo" in at.info[0].value
    assert not at.metric
