from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from governance.roles import Role
from tests.app.conftest import open_app
from tests.conftest import START, Seeded


def test_the_overview_shows_risk_tier_challenger_and_no_zombie(
    seeded: Seeded, app_clock: Callable[[Path, datetime], None]
) -> None:
    app_clock(seeded.home, START + timedelta(days=1))

    at = open_app("ana", Role.ANALYST)

    assert not at.exception
    row = at.dataframe[0].value.iloc[0]
    assert row["risk_tier"] == "medium"
    assert row["challenger_version"] is None
    assert not row["zombie"]
    assert not any("Zombie" in w.value for w in at.warning)


def test_a_zombie_is_flagged_with_its_reason_by_the_wall_clock(
    seeded: Seeded, serve_home: Callable[[Path], None]
) -> None:
    # The seeded lakehouse was scored on its fixed clock's day, months before any real today.
    serve_home(seeded.home)

    at = open_app("ana", Role.ANALYST)

    assert not at.exception
    assert bool(at.dataframe[0].value.iloc[0]["zombie"])
    (warning,) = [w.value for w in at.warning if "Zombie" in w.value]
    assert warning.replace("\\", "") == (
        "Zombie model loan_default: in production but not scored for over 14 days (last scored 2026-06-01)."
    )
