from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from governance.roles import Role
from pipelines.jobs.labels import load_labels
from tests.app.conftest import open_app
from tests.conftest import MAKER, START, FixedClock, Seeded, context_for


def test_the_overview_shows_risk_tier_challenger_and_no_zombie(
    seeded: Seeded, serve_home: Callable[[Path], None]
) -> None:
    serve_home(seeded.home)

    at = open_app("ana", Role.ANALYST)

    assert not at.exception
    row = at.dataframe[0].value.iloc[0]
    assert row["risk_tier"] == "medium"
    assert row["challenger_version"] is None
    assert not row["zombie"]
    assert not any("Zombie" in w.value for w in at.warning)


def test_a_zombie_is_flagged_with_its_reason(seeded: Seeded, serve_home: Callable[[Path], None]) -> None:
    ctx = context_for(seeded.home, clock=FixedClock(START + timedelta(days=30)))
    labels = seeded.files / "labels7.csv"
    load_labels(
        ctx, model="loan_default", path=labels, key=seeded.dataset.key, label=seeded.dataset.target, actor=MAKER
    )
    serve_home(seeded.home)

    at = open_app("ana", Role.ANALYST)

    assert not at.exception
    assert bool(at.dataframe[0].value.iloc[0]["zombie"])
    (warning,) = [w.value for w in at.warning if "Zombie" in w.value]
    assert warning.replace("\\", "") == (
        "Zombie model loan_default: in production but not scored for over 14 days (last scored 2026-06-01)."
    )
