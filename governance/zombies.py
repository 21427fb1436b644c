"""Zombie models: in production, but nobody is scoring or watching them any more. Pure.

A model whose champion alias is set is in production. It is a zombie when its latest scored batch,
or its latest monitoring (drift or realized performance), is missing or older than `max_age` at
`now`. Both must be recent: a model scored without monitoring is unwatched, and monitoring without
scoring watches a model nobody uses. `now` is the caller's clock (the wall clock in the app and the
jobs, so a model's age does not move when someone acts on another model).
"""

from __future__ import annotations

from datetime import datetime, timedelta

ZOMBIE_AGE = timedelta(days=14)


def zombie_reason(
    *,
    in_production: bool,
    last_scored: datetime | None,
    last_monitored: datetime | None,
    now: datetime,
    max_age: timedelta = ZOMBIE_AGE,
) -> str | None:
    """Why a model is a zombie at `now` (one line), or None when it is not."""
    if not in_production:
        return None
    days = f"{max_age.days} days" if max_age.days else str(max_age)
    if last_scored is None:
        return "in production but never scored"
    if now - last_scored > max_age:
        return f"in production but not scored for over {days} (last scored {last_scored:%Y-%m-%d})"
    if last_monitored is None:
        return "in production but never monitored"
    if now - last_monitored > max_age:
        return f"in production but not monitored for over {days} (last monitored {last_monitored:%Y-%m-%d})"
    return None


def is_zombie(
    *,
    in_production: bool,
    last_scored: datetime | None,
    last_monitored: datetime | None,
    now: datetime,
    max_age: timedelta = ZOMBIE_AGE,
) -> bool:
    """Whether a model is in production but not scored, or not monitored, within `max_age` of `now`."""
    reason = zombie_reason(
        in_production=in_production, last_scored=last_scored, last_monitored=last_monitored, now=now, max_age=max_age
    )
    return reason is not None
