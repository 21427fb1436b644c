from __future__ import annotations

from datetime import UTC, datetime, timedelta

from governance.zombies import ZOMBIE_AGE
from pipelines.demo.story import WEEKS, demo_start


def test_the_demo_told_today_ends_yesterday_with_its_last_week_inside_the_zombie_age() -> None:
    now = datetime(2026, 12, 4, 6, 43, tzinfo=UTC)

    start = demo_start(now)

    story_ends = start + timedelta(weeks=WEEKS, hours=6)  # the retraining after drift, the story's last step
    last_scored = start + timedelta(weeks=WEEKS, hours=2)  # the last week is scored once it has closed
    assert story_ends.date() == (now - timedelta(days=1)).date()
    assert story_ends < now
    assert now - last_scored < ZOMBIE_AGE
