from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import streamlit as st


@pytest.fixture(autouse=True)
def _clear_streamlit_caches() -> Iterator[None]:
    # AppTest runs scripts in this process: cached contexts and reads would leak between tests.
    st.cache_data.clear()
    st.cache_resource.clear()
    yield
    st.cache_data.clear()
    st.cache_resource.clear()


@pytest.fixture
def serve_home(monkeypatch: pytest.MonkeyPatch) -> Callable[[Path], None]:
    """Point the app (through MLGOV_HOME) at a lakehouse home, and at that home's own registry."""

    def point(home: Path) -> None:
        monkeypatch.setenv("MLGOV_HOME", str(home))
        # mlflow.set_tracking_uri also exports MLFLOW_TRACKING_URI, so any model logged earlier in
        # this process (the session's seeded lakehouse) would otherwise become every app's registry.
        monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)

    return point
