"""Alias history: the timeline of who held an alias, the holder at an instant, and rollback targets."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from governance.aliases import AliasInterval, AliasMove, MoveKind, holder_at, rollback_target, timeline

T0 = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
MODEL, CHAMPION, CHALLENGER = "loan_default", "champion", "challenger"
PROMOTED, BREAK_GLASS, ROLLED_BACK = MoveKind.PROMOTED, MoveKind.BREAK_GLASS, MoveKind.ROLLED_BACK


def move(version, hour, *, kind=PROMOTED, previous=None, alias=CHAMPION, actor="raj", request_id=None):
    return AliasMove(
        model=MODEL,
        alias=alias,
        version=version,
        previous=previous,
        kind=kind,
        request_id=f"pr-{version}" if request_id is None else request_id,
        actor=actor,
        reason=f"{kind.value} v{version}",
        at=T0 + timedelta(hours=hour),
    )


def at(hour, **delta):
    return T0 + timedelta(hours=hour, **delta)


# v1 at 0h, v2 at 2h, v3 at 5h, rolled back to v2 at 7h
HISTORY = [
    move("1", 0),
    move("2", 2, previous="1"),
    move("3", 5, previous="2"),
    move("2", 7, kind=ROLLED_BACK, previous="3", actor="ada", request_id=""),
]


# --- timeline ---------------------------------------------------------------------------------


def test_timeline_joins_consecutive_moves_into_intervals():
    assert [(i.version, i.start, i.end, i.kind) for i in timeline(HISTORY, alias=CHAMPION)] == [
        ("1", at(0), at(2), PROMOTED),
        ("2", at(2), at(5), PROMOTED),
        ("3", at(5), at(7), PROMOTED),
        ("2", at(7), None, ROLLED_BACK),
    ]


def test_an_interval_carries_who_moved_the_alias_and_why():
    last = timeline(HISTORY, alias=CHAMPION)[-1]
    assert last == AliasInterval(
        alias=CHAMPION,
        version="2",
        start=at(7),
        end=None,
        kind=ROLLED_BACK,
        request_id="",
        actor="ada",
        reason="rolled_back v2",
    )


def test_timeline_orders_moves_by_time_whatever_order_they_are_read_in():
    shuffled = HISTORY[:]
    random.Random(7).shuffle(shuffled)
    assert shuffled != HISTORY
    assert timeline(shuffled, alias=CHAMPION) == timeline(HISTORY, alias=CHAMPION)


def test_timeline_of_one_alias_ignores_the_others():
    moves = [*HISTORY, move("9", 3, alias=CHALLENGER), move("8", 6, alias=CHALLENGER)]
    assert timeline(moves, alias=CHAMPION) == timeline(HISTORY, alias=CHAMPION)
    assert [(i.version, i.start, i.end) for i in timeline(moves, alias=CHALLENGER)] == [
        ("9", at(3), at(6)),
        ("8", at(6), None),
    ]


def test_no_moves_no_timeline():
    assert timeline([], alias=CHAMPION) == []
    assert timeline(HISTORY, alias=CHALLENGER) == []


# --- holder_at --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("instant", "expected"),
    [
        pytest.param(at(0, microseconds=-1), None, id="before-the-first-move"),
        pytest.param(at(0), "1", id="exactly-at-the-first-move"),
        pytest.param(at(1), "1", id="inside-the-first-interval"),
        pytest.param(at(2, microseconds=-1), "1", id="just-before-the-second-move"),
        pytest.param(at(2), "2", id="exactly-at-the-second-move"),
        pytest.param(at(5), "3", id="exactly-at-the-third-move"),
        pytest.param(at(6, minutes=59), "3", id="just-before-the-rollback"),
        pytest.param(at(7), "2", id="exactly-at-the-rollback"),
        pytest.param(at(24 * 365), "2", id="long-after-the-last-move"),
    ],
)
def test_holder_at_an_instant(instant, expected):
    held = holder_at(HISTORY, alias=CHAMPION, at=instant)
    assert (held.version if held else None) == expected
    if held is not None:
        assert held.start <= instant
        assert held.end is None or instant < held.end


def test_holder_at_tells_the_rollback_apart_from_the_promotion_of_the_same_version():
    promoted, rolled_back = holder_at(HISTORY, alias=CHAMPION, at=at(3)), holder_at(HISTORY, alias=CHAMPION, at=at(8))
    assert promoted is not None
    assert rolled_back is not None
    assert (promoted.version, promoted.kind, promoted.actor) == ("2", PROMOTED, "raj")
    assert (rolled_back.version, rolled_back.kind, rolled_back.actor) == ("2", ROLLED_BACK, "ada")


def test_holder_at_of_an_alias_that_never_moved_is_none():
    assert holder_at([], alias=CHAMPION, at=at(1)) is None
    assert holder_at(HISTORY, alias=CHALLENGER, at=at(1)) is None


# --- rollback_target --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("moves", "approved", "target"),
    [
        pytest.param([], frozenset(), None, id="no-history"),
        pytest.param([move("1", 0)], frozenset({"1"}), None, id="only-the-current-version"),
        pytest.param([move("1", 0), move("2", 1)], frozenset({"1", "2"}), "1", id="the-previous-version"),
        pytest.param(
            [move("1", 0), move("2", 1), move("3", 2, kind=BREAK_GLASS)],
            frozenset({"1", "2"}),
            "2",
            id="from-an-unreviewed-break-glass",
        ),
        pytest.param(
            [move("1", 0), move("2", 1, kind=BREAK_GLASS), move("3", 2)],
            frozenset({"1", "3"}),
            "1",
            id="skips-an-unapproved-version",
        ),
        pytest.param(
            [move("1", 0), move("2", 1, kind=BREAK_GLASS), move("3", 2)],
            frozenset({"3"}),
            None,
            id="no-earlier-approved-version",
        ),
        pytest.param(
            [move("1", 0), move("2", 1), move("1", 2, kind=ROLLED_BACK), move("3", 3), move("1", 4)],
            frozenset({"1", "2", "3"}),
            "3",
            id="skips-earlier-intervals-of-the-current-version",
        ),
        pytest.param(
            [move("1", 0), move("2", 1), move("2", 2)],
            frozenset({"1", "2"}),
            "1",
            id="skips-a-repeated-move-to-the-current-version",
        ),
        pytest.param(
            [move("1", 0), move("9", 1, alias=CHALLENGER), move("2", 2)],
            frozenset({"1", "2", "9"}),
            "1",
            id="ignores-other-aliases",
        ),
    ],
)
def test_rollback_target(moves, approved, target):
    assert rollback_target(moves, alias=CHAMPION, approved=approved) == target


def test_a_second_rollback_walks_further_back_instead_of_returning_to_the_version_rolled_away_from():
    assert rollback_target(HISTORY, alias=CHAMPION, approved=frozenset({"1", "2", "3"})) == "1"
    assert rollback_target(HISTORY, alias=CHAMPION, approved=frozenset({"1", "2"})) == "1"
