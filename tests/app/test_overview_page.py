from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest
from streamlit.testing.v1 import AppTest

from governance.roles import Role
from lakehouse.schemas import DRIFT
from tests.app.conftest import metric, open_app
from tests.conftest import Seeded, context_for


def run_app() -> AppTest:
    return open_app("ana", Role.ANALYST)


def test_overview_shows_the_champion_and_the_drifted_latest_batch(
    seeded: Seeded, serve_home: Callable[[Path], None]
) -> None:
    serve_home(seeded.home)
    latest = seeded.batch_ids[-1]  # week 7, the drifted one
    drift = context_for(seeded.home).store.read(DRIFT).filter(pl.col("batch_id") == latest)
    assert drift.height > 0
    assert drift["drifted"].mean() >= 0.5  # the fixture's latest batch really is drifted

    at = run_app()

    assert not at.exception
    assert not at.error
    table = at.dataframe[0].value
    row = table[table["name"] == "loan_default"].iloc[0]
    assert row["champion_version"] == "1"
    assert row["latest_batch_id"] == latest
    assert row["drift_status"] == "drifted"
    assert metric(at, "Models") == "1"
    assert metric(at, "In production") == "1"
    assert metric(at, "Pending requests") == "0"
    assert metric(at, "Drifted latest batches") == "1"
    assert len(at.get("vega_lite_chart")) == 1


def test_an_empty_lakehouse_points_to_the_demo(empty_home: Path, serve_home: Callable[[Path], None]) -> None:
    serve_home(empty_home)

    at = run_app()

    assert not at.exception
    assert len(at.info) == 1
    assert "mlgov demo" in at.info[0].value
    assert not at.dataframe
    assert not at.metric


def test_a_bad_setting_is_one_error_line(
    empty_home: Path, serve_home: Callable[[Path], None], monkeypatch: pytest.MonkeyPatch
) -> None:
    serve_home(empty_home)
    monkeypatch.setenv("MLGOV_BOGUS", "1")

    at = run_app()

    assert not at.exception
    assert len(at.error) == 1
    message = at.error[0].value
    assert len(message.splitlines()) == 1
    assert "unknown setting" in message
    assert "BOGUS" in message
    assert not at.dataframe
    assert not at.metric


def test_markdown_in_an_error_is_shown_as_typed(
    empty_home: Path, serve_home: Callable[[Path], None], monkeypatch: pytest.MonkeyPatch
) -> None:
    serve_home(empty_home)
    monkeypatch.setenv("MLGOV_REQUIRED_APPROVALS", "**two**")

    at = run_app()

    assert not at.exception
    assert r"\*\*two\*\*" in at.error[0].value
