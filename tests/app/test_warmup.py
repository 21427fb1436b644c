"""The server's warm-up: what the first sign-in after a start would otherwise wait for is read once,
in the server's process, before anyone signs in."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from app import queries, warmup
from pipelines.reads import overview
from tests.conftest import Seeded


@pytest.fixture
def served(seeded: Seeded, serve_home: Callable[[Path], None]) -> Path:
    """The home the app serves: a copy of the seeded lakehouse."""
    serve_home(seeded.home)
    return seeded.home


def test_the_overview_a_sign_in_lands_on_is_read_by_the_warm_up(
    served: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    reads: list[str] = []
    model_overview = overview.model_overview

    def counted(*args: object, **kwargs: object) -> list[overview.ModelSummary]:
        reads.append("model_overview")
        return model_overview(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(overview, "model_overview", counted)

    warmup._warm_up_and_say_so()

    assert "mlgov app: warmed up in" in capsys.readouterr().err
    summaries = queries.model_summaries(str(served))  # the first page run after the warm-up
    assert [s.name for s in summaries] == ["loan_default"]
    assert reads == ["model_overview"]  # read by the warm-up, not again


def test_a_server_with_no_lakehouse_says_so_in_one_line_and_goes_on(
    tmp_path: Path, serve_home: Callable[[Path], None], capsys: pytest.CaptureFixture[str]
) -> None:
    serve_home(tmp_path / "nowhere")

    warmup._warm_up_and_say_so()

    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith("mlgov app: not warmed up: no lakehouse at ")


def test_a_warm_up_that_fails_otherwise_says_what_failed_in_one_line(
    served: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the registry went away")

    monkeypatch.setattr(overview, "model_overview", broken)

    warmup._warm_up_and_say_so()

    assert capsys.readouterr().err.strip().splitlines() == [
        "mlgov app: not warmed up: RuntimeError: the registry went away"
    ]
