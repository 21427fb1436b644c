"""Zombie models: in production, but not scored or not monitored within the allowed age."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from governance.zombies import ZOMBIE_AGE, is_zombie, zombie_reason

NOW = datetime(2026, 8, 1, tzinfo=UTC)
FRESH = NOW - timedelta(days=3)
EDGE = NOW - ZOMBIE_AGE  # exactly 14 days: still recent
STALE = NOW - ZOMBIE_AGE - timedelta(seconds=1)


@pytest.mark.parametrize(
    ("in_production", "last_scored", "last_monitored", "zombie", "says"),
    [
        (True, FRESH, FRESH, False, None),
        (True, EDGE, EDGE, False, None),
        (True, None, None, True, "never scored"),
        (True, STALE, FRESH, True, "not scored for over 14 days (last scored 2026-07-17)"),
        (True, FRESH, None, True, "never monitored"),
        (True, FRESH, STALE, True, "not monitored for over 14 days"),
        (True, STALE, STALE, True, "not scored"),
        (False, None, None, False, None),  # not in production: never a zombie
        (False, STALE, STALE, False, None),
    ],
)
def test_zombie_rule(
    in_production: bool,
    last_scored: datetime | None,
    last_monitored: datetime | None,
    zombie: bool,
    says: str | None,
) -> None:
    reason = zombie_reason(in_production=in_production, last_scored=last_scored, last_monitored=last_monitored, now=NOW)

    assert (
        is_zombie(in_production=in_production, last_scored=last_scored, last_monitored=last_monitored, now=NOW)
        is zombie
    )
    if says is None:
        assert reason is None
    else:
        assert reason is not None
        assert says in reason


def test_max_age_is_an_option() -> None:
    week_old = NOW - timedelta(days=7)

    assert not is_zombie(in_production=True, last_scored=week_old, last_monitored=week_old, now=NOW)
    assert is_zombie(
        in_production=True, last_scored=week_old, last_monitored=week_old, now=NOW, max_age=timedelta(days=5)
    )
