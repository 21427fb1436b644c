"""Feature tables (`features/<name>`): what a table's definition says, and the rules of joining them.

Not to be confused with `governance.features`, which names a model's input columns. A feature table
holds an entity key, an event timestamp and feature columns, with an optional time-to-live: a value
older than the TTL at the time it is asked for is not known any more. A training set or a scored
batch joins each feature table "as of" its own rows' event times, so no row ever sees a value that
was recorded after it (no leakage).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from governance.errors import InputError

_TTL = re.compile(r"(\d+)([smhdw])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_ttl(text: str) -> int:
    """A time-to-live such as `30d`, `12h`, `90m`, `45s` or `2w` (one or more parts, e.g. `1d12h`),
    in seconds; anything else is refused."""
    compact = text.strip().lower()
    parts = _TTL.findall(compact)
    if not compact or "".join(f"{n}{u}" for n, u in parts) != compact:
        raise InputError(
            f"--ttl {text!r} is not a duration: expected a number and a unit (s, m, h, d, w), such as 30d or 12h"
        )
    seconds = sum(int(number) * _UNIT_SECONDS[unit] for number, unit in parts)
    if seconds <= 0:
        raise InputError(f"--ttl {text!r} is not a duration: it must be longer than zero")
    return seconds


def ttl_text(seconds: int | None) -> str:
    """A TTL in the largest whole unit (`30d`, `36h`), or "none"."""
    if seconds is None:
        return "none"
    for unit, size in sorted(_UNIT_SECONDS.items(), key=lambda item: -item[1]):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"  # pragma: no cover - every whole number of seconds divides by 1


@dataclass(frozen=True)
class FeatureTableDefinition:
    """What `mlgov features create` declared: the source table, the key and timestamp columns, the
    feature columns and the optional TTL (seconds)."""

    table: str  # features/<name>
    source: str  # raw/<name>
    key: str
    timestamp: str
    columns: tuple[str, ...]
    ttl_seconds: int | None = None


@dataclass(frozen=True)
class FeatureTableRef:
    """A feature table as a model version (or a scored batch) used it: pinned at one Delta version,
    with the TTL it was joined with."""

    table: str
    version: int
    ttl_seconds: int | None = None

    def document(self) -> dict[str, object]:
        return {"table": self.table, "version": self.version, "ttl_seconds": self.ttl_seconds}

    @classmethod
    def from_document(cls, document: Mapping[str, object]) -> FeatureTableRef:
        ttl = document.get("ttl_seconds")
        return cls(
            table=str(document["table"]),
            version=int(str(document["version"])),
            ttl_seconds=int(str(ttl)) if ttl is not None else None,
        )


def definition_change(known: FeatureTableDefinition, given: FeatureTableDefinition) -> str | None:
    """What a refill would change in a table's definition (None: the same), in words."""
    for label, stored, passed in (
        ("source", known.source, given.source),
        ("key", known.key, given.key),
        ("timestamp", known.timestamp, given.timestamp),
        ("columns", ",".join(known.columns), ",".join(given.columns)),
        ("ttl", ttl_text(known.ttl_seconds), ttl_text(given.ttl_seconds)),
    ):
        if stored != passed:
            return f"feature table {known.table!r} has {label} {stored!r}, not {passed!r}: create another feature table"
    return None


def check_join_names(
    spine_table: str, spine_columns: Sequence[str], joined: Sequence[FeatureTableDefinition], *, spine_time: str | None
) -> None:
    """Refuse a join whose names are ambiguous: a spine without an event time, a feature table whose
    key the spine lacks, the same table twice, or a feature column defined by two joined tables (or
    already a spine column)."""
    if spine_time is None:
        raise InputError(
            f"table {spine_table!r} has no event timestamp: feature tables join as of each row's time "
            "(ingest it with --timestamp)"
        )
    owner: dict[str, str] = dict.fromkeys(spine_columns, spine_table)
    seen: set[str] = set()
    for definition in joined:
        if definition.table in seen:
            raise InputError(f"feature table {definition.table!r} is named twice in --feature-tables")
        seen.add(definition.table)
        if definition.key not in spine_columns:
            raise InputError(
                f"table {spine_table!r} lacks column {definition.key!r}, the key of feature table "
                f"{definition.table!r} (columns: {', '.join(spine_columns)})"
            )
        for column in definition.columns:
            if column in owner:
                raise InputError(
                    f"feature {column!r} is defined in both {owner[column]!r} and {definition.table!r}: "
                    "a joined feature must have one source"
                )
            owner[column] = definition.table


class Freshness(StrEnum):
    FRESH = "fresh"
    LATE = "late"  # the newest row is older than the table's usual cadence allows
    EMPTY = "empty"


# A table is late when its newest row is older than this many of its usual intervals between fills.
LATE_AFTER_INTERVALS = 2


@dataclass(frozen=True)
class FreshnessVerdict:
    state: Freshness
    age_seconds: float | None  # of the newest row, at `now`
    cadence_seconds: float | None  # the table's usual interval between a key's consecutive rows


def freshness(*, newest: datetime | None, cadence_seconds: float | None, now: datetime) -> FreshnessVerdict:
    """How fresh a table is: the age of its newest row against its usual cadence (late beyond
    LATE_AFTER_INTERVALS of it; a table without a cadence is fresh)."""
    if newest is None:
        return FreshnessVerdict(state=Freshness.EMPTY, age_seconds=None, cadence_seconds=None)
    age = max((now - newest).total_seconds(), 0.0)
    late = cadence_seconds is not None and cadence_seconds > 0 and age > LATE_AFTER_INTERVALS * cadence_seconds
    return FreshnessVerdict(
        state=Freshness.LATE if late else Freshness.FRESH, age_seconds=age, cadence_seconds=cadence_seconds
    )


def ttl_delta(seconds: int | None) -> timedelta | None:
    return timedelta(seconds=seconds) if seconds is not None else None
