from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from app import services
from app.auth import SESSION_KEY
from governance.identity import SignedIn
from governance.roles import Role
from tests.conftest import FixedClock, Seeded
from tests.review_setup import Pending, copy_pending, pending_template


@pytest.fixture(autouse=True)
def _clear_streamlit_caches() -> Iterator[None]:
    # AppTest runs scripts in this process: cached contexts and reads would leak between tests, and
    # it leaves the last script as sys.modules["__main__"], which "spawn" subprocesses of later
    # tests on this worker would then run.
    main = sys.modules["__main__"]
    st.cache_data.clear()
    st.cache_resource.clear()
    yield
    st.cache_data.clear()
    st.cache_resource.clear()
    sys.modules["__main__"] = main


@pytest.fixture
def serve_home(monkeypatch: pytest.MonkeyPatch) -> Callable[[Path], None]:
    """Point the app (through MLGOV_HOME) at a lakehouse home, and at that home's own registry."""

    def point(home: Path) -> None:
        monkeypatch.setenv("MLGOV_HOME", str(home))
        # mlflow.set_tracking_uri also exports MLFLOW_TRACKING_URI, so any model logged earlier in
        # this process (the session's seeded lakehouse) would otherwise become every app's registry.
        monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)

    return point


@pytest.fixture
def app_clock(serve_home: Callable[[Path], None]) -> Callable[[Path, datetime], None]:
    """Serve a lakehouse home on a clock stopped at a given time (the app reads the wall clock)."""

    def serve_at(home: Path, at: datetime) -> None:
        serve_home(home)
        # The app's context is a process-wide resource: the AppTest run in this process gets this one.
        services.get_context().clock = FixedClock(at)

    return serve_at


MAIN = Path(__file__).resolve().parents[2] / "app" / "main.py"


def open_app(user: str | None, *roles: Role, page: str | None = None) -> AppTest:
    """The app run once as `user` holding `roles` (None: nobody signed in), optionally on `page`."""
    at = AppTest.from_file(str(MAIN), default_timeout=90)
    if user is not None:
        at.session_state[SESSION_KEY] = SignedIn(user=user, roles=frozenset(roles))
    at.run()
    if page is not None:
        at.switch_page(page).run()
    return at


def chart_rows(at: AppTest, index: int) -> list[dict[str, object]]:
    """The rows of every dataset of the index-th chart, as Streamlit sent them (Arrow IPC)."""
    chart = at.get("vega_lite_chart")[index].proto
    rows: list[dict[str, object]] = []
    for named in chart.datasets:
        rows.extend(pa.ipc.open_stream(named.data.data).read_all().to_pylist())
    return rows


def chart_spec(at: AppTest, index: int) -> dict[str, Any]:
    """The Vega-Lite spec of the index-th chart, as Streamlit sent it (its data travels separately)."""
    spec: dict[str, Any] = json.loads(at.get("vega_lite_chart")[index].proto.spec)
    return spec


def captions(at: AppTest) -> str:
    """Every caption of the page, one per line."""
    return "\n".join(c.value for c in at.caption)


def metric(at: AppTest, label: str) -> str:
    """The value shown by the metric labelled `label`."""
    return next(m.value for m in at.metric if m.label == label)


# A lakehouse with a pending request (loan_default v2, trained by maya), built once per session and
# copied for each test that changes it.
@pytest.fixture(scope="session")
def pending_home(seeded_template: Seeded, tmp_path_factory: pytest.TempPathFactory) -> Pending:
    return pending_template(seeded_template, tmp_path_factory)


@pytest.fixture
def pending(pending_home: Pending, tmp_path: Path, serve_home: Callable[[Path], None]) -> Pending:
    copied = copy_pending(pending_home, tmp_path / "home")
    serve_home(copied.home)
    return copied
