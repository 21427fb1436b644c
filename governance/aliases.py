"""Alias history: which version held an alias at any instant, and where a rollback goes.

MLflow keeps only an alias's current target. Every move is recorded as an append-only event, so
the history is a fold over them. Pure: the moves are passed in.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class MoveKind(StrEnum):
    PROMOTED = "promoted"  # the approval policy was met
    BREAK_GLASS = "break_glass"  # forced by an admin, reviewed after the fact
    ROLLED_BACK = "rolled_back"


@dataclass(frozen=True)
class AliasMove:
    model: str
    alias: str
    version: str
    previous: str | None
    kind: MoveKind
    request_id: str
    actor: str
    reason: str
    at: datetime


@dataclass(frozen=True)
class AliasInterval:
    """`version` held `alias` from `start` until `end` (None: still holds it)."""

    alias: str
    version: str
    start: datetime
    end: datetime | None
    kind: MoveKind
    request_id: str
    actor: str
    reason: str


def timeline(moves: Sequence[AliasMove], *, alias: str) -> list[AliasInterval]:
    """The intervals during which each version held `alias`, oldest first."""
    ordered = sorted((m for m in moves if m.alias == alias), key=lambda m: m.at)
    return [
        AliasInterval(
            alias=alias,
            version=move.version,
            start=move.at,
            end=ordered[i + 1].at if i + 1 < len(ordered) else None,
            kind=move.kind,
            request_id=move.request_id,
            actor=move.actor,
            reason=move.reason,
        )
        for i, move in enumerate(ordered)
    ]


def holder_at(moves: Sequence[AliasMove], *, alias: str, at: datetime) -> AliasInterval | None:
    """The interval in force at instant `at` (a move at exactly `at` is already in force)."""
    for interval in timeline(moves, alias=alias):
        if interval.start <= at and (interval.end is None or at < interval.end):
            return interval
    return None


def rollback_target(moves: Sequence[AliasMove], *, alias: str, approved: frozenset[str]) -> str | None:
    """The latest version before the current one that was approved through review and that nobody
    rolled back away from, or None: a second rollback goes further back, never back and forth.

    `approved` are the versions whose promotion met the policy (including break-glass promotions
    whose after-the-fact review passed).
    """
    intervals = timeline(moves, alias=alias)
    if not intervals:
        return None
    current = intervals[-1].version
    rolled_away = {
        earlier.version for earlier, later in itertools.pairwise(intervals) if later.kind is MoveKind.ROLLED_BACK
    }
    for interval in reversed(intervals[:-1]):
        if interval.version not in (current, *rolled_away) and interval.version in approved:
            return interval.version
    return None
