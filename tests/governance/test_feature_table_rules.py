from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from governance.errors import InputError
from governance.feature_tables import (
    FeatureTableDefinition,
    FeatureTableRef,
    Freshness,
    check_join_names,
    definition_change,
    freshness,
    parse_ttl,
    ttl_text,
)

NOW = datetime(2026, 6, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30d", 30 * 86400), ("12h", 43200), ("90m", 5400), ("45s", 45), ("2w", 14 * 86400), ("1d12h", 129600)],
)
def test_ttl_durations(text: str, seconds: int) -> None:
    assert parse_ttl(text) == seconds


@pytest.mark.parametrize("text", ["", "30", "d", "30 days", "-1d", "0d", "1.5h", "3y", "1d 2h", "thirty"])
def test_ttl_that_is_not_a_duration_is_refused(text: str) -> None:
    with pytest.raises(InputError, match="not a duration"):
        parse_ttl(text)


@pytest.mark.parametrize(("seconds", "text"), [(None, "none"), (86400 * 30, "30d"), (129600, "36h"), (45, "45s")])
def test_ttl_text(seconds: int | None, text: str) -> None:
    assert ttl_text(seconds) == text


def _table(name: str, *columns: str, key: str = "customer_id") -> FeatureTableDefinition:
    return FeatureTableDefinition(
        table=f"features/{name}", source=f"raw/{name}", key=key, timestamp="as_of", columns=columns
    )


@pytest.mark.parametrize(
    ("spine", "time", "tables", "needle"),
    [
        (["customer_id", "x"], None, [_table("a", "f")], "no event timestamp"),
        (["x"], "at", [_table("a", "f")], "lacks column 'customer_id'"),
        (["customer_id"], "at", [_table("a", "f"), _table("b", "f")], "'f' is defined in both"),
        (["customer_id", "f"], "at", [_table("a", "f")], "'f' is defined in both 'raw/loans'"),
        (["customer_id"], "at", [_table("a", "f"), _table("a", "g")], "named twice"),
    ],
)
def test_ambiguous_joins_are_refused(
    spine: list[str], time: str | None, tables: list[FeatureTableDefinition], needle: str
) -> None:
    with pytest.raises(InputError, match=needle):
        check_join_names("raw/loans", spine, tables, spine_time=time)


def test_distinct_names_join() -> None:
    check_join_names("raw/loans", ["customer_id", "x"], [_table("a", "f"), _table("b", "g")], spine_time="at")


def test_a_refill_may_not_change_the_definition() -> None:
    known = _table("a", "f")
    assert definition_change(known, known) is None
    changed = FeatureTableDefinition(**{**known.__dict__, "ttl_seconds": 60})
    assert "has ttl 'none', not '1m'" in str(definition_change(known, changed))


@pytest.mark.parametrize(
    ("newest", "cadence", "state"),
    [
        (None, None, Freshness.EMPTY),
        (NOW - timedelta(days=1), 86400.0, Freshness.FRESH),
        (NOW - timedelta(days=3), 86400.0, Freshness.LATE),  # more than two usual intervals
        (NOW - timedelta(days=300), None, Freshness.FRESH),  # no key with two rows: no cadence to be late against
    ],
)
def test_freshness_is_age_against_cadence(newest: datetime | None, cadence: float | None, state: Freshness) -> None:
    assert freshness(newest=newest, cadence_seconds=cadence, now=NOW).state is state


def test_reference_round_trips_through_its_document() -> None:
    ref = FeatureTableRef(table="features/a", version=3, ttl_seconds=60)
    assert FeatureTableRef.from_document(ref.document()) == ref
