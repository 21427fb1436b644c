"""The audit chain: canonical JSON, UTC timestamps, chaining and what verification does and does not catch."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from itertools import pairwise

import pytest

from governance.audit import (
    GENESIS_HASH,
    AuditEntry,
    canonical_json,
    chain,
    record_hash,
    utc_text,
    verify_chain,
)

T0 = datetime(2026, 6, 1, 9, 30, tzinfo=UTC)

# --- canonical_json ---------------------------------------------------------------------------


def test_canonical_json_sorts_keys_at_every_level():
    assert canonical_json({"b": 1, "a": {"z": 1, "y": 2}}) == '{"a":{"y":2,"z":1},"b":1}'


def test_canonical_json_is_compact():
    text = canonical_json({"a": [1, 2, {"b": "x y"}], "c": None, "d": True})
    assert text == '{"a":[1,2,{"b":"x y"}],"c":null,"d":true}'


def test_canonical_json_does_not_depend_on_insertion_order():
    assert canonical_json({"x": "1", "y": "2"}) == canonical_json({"y": "2", "x": "1"})


def test_canonical_json_keeps_non_ascii_text():
    text = canonical_json({"reason": "ok für Zürich ✓", "actor": "渡辺"})
    assert text == '{"actor":"渡辺","reason":"ok für Zürich ✓"}'
    assert "\\u" not in text


@pytest.mark.parametrize(
    "value",
    [
        {"score": 0.5},
        {"score": 1.0},
        {"nested": {"deeper": {"auc": 0.91}}},
        {"list": [1, 2, 3.0]},
        {"tuple": ("a", 0.1)},
        {"list_of_maps": [{"ok": 1}, {"bad": float("nan")}]},
    ],
)
def test_canonical_json_refuses_floats_anywhere(value):
    with pytest.raises(ValueError, match="floats are not allowed"):
        canonical_json(value)


def test_canonical_json_accepts_integers_and_floats_as_strings():
    assert canonical_json({"n": 3, "auc": "0.91", "ok": False}) == '{"auc":"0.91","n":3,"ok":false}'


def test_canonical_json_refuses_float_keys_in_nested_maps():
    with pytest.raises(ValueError, match="floats are not allowed"):
        canonical_json({"thresholds": {1.5: "high"}})


# --- utc_text ---------------------------------------------------------------------------------


def test_utc_text_refuses_naive_datetimes():
    with pytest.raises(ValueError, match="timezone-aware"):
        utc_text(datetime(2026, 6, 1, 9, 30))


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (datetime(2026, 6, 1, 9, 30, tzinfo=UTC), "2026-06-01T09:30:00.000000Z"),
        (datetime(2026, 6, 1, 9, 30, 5, 123456, tzinfo=UTC), "2026-06-01T09:30:05.123456Z"),
        (datetime(2026, 6, 1, 11, 30, tzinfo=timezone(timedelta(hours=2))), "2026-06-01T09:30:00.000000Z"),
        (datetime(2026, 5, 31, 23, 0, tzinfo=timezone(timedelta(hours=-5))), "2026-06-01T04:00:00.000000Z"),
        (datetime(2026, 6, 1, 5, 15, tzinfo=timezone(timedelta(hours=5, minutes=45))), "2026-05-31T23:30:00.000000Z"),
    ],
)
def test_utc_text_is_utc_with_microseconds_and_z(at, expected):
    assert utc_text(at) == expected


def test_the_same_instant_in_two_zones_has_one_text():
    assert utc_text(T0) == utc_text(T0.astimezone(timezone(timedelta(hours=-7))))


# --- chain and verify_chain -------------------------------------------------------------------


def entry(n, **changes):
    base = AuditEntry(
        event_id=f"e{n}",
        at=T0 + timedelta(minutes=n),
        actor="rita",
        action="approve",
        object_type="promotion_request",
        object_id=f"r{n}",
        outcome="allowed",
        reason=f"reason {n}",
        details=canonical_json({"n": n}),
    )
    return replace(base, **changes)


def build_chain(n=5):
    records, last = [], None
    for i in range(1, n + 1):
        last = chain(entry(i), after=last)
        records.append(last)
    return records


def rechain_from(records, index):
    """Recompute seq-consistent hashes for records[index:], as an attacker with write access would."""
    fixed = list(records[:index])
    for record in records[index:]:
        prev = fixed[-1].hash if fixed else GENESIS_HASH
        fixed.append(
            replace(record, prev_hash=prev, hash=record_hash(seq=record.seq, entry=record.entry, prev_hash=prev))
        )
    return fixed


def test_chain_links_each_record_to_the_previous_one():
    records = build_chain()
    assert [r.seq for r in records] == [1, 2, 3, 4, 5]
    assert records[0].prev_hash == GENESIS_HASH
    for before, after in pairwise(records):
        assert after.prev_hash == before.hash
    assert len({r.hash for r in records}) == 5
    assert all(len(r.hash) == 64 for r in records)


def test_an_intact_chain_verifies():
    verdict = verify_chain(build_chain())
    assert verdict.ok is True
    assert verdict.records == 5
    assert verdict.first_bad_seq is None
    assert verdict.problem is None


def test_an_empty_chain_verifies():
    verdict = verify_chain([])
    assert (verdict.ok, verdict.records, verdict.first_bad_seq) == (True, 0, None)


def test_storage_order_does_not_matter():
    records = build_chain()
    random.Random(7).shuffle(records)
    assert verify_chain(records).ok is True


def test_the_hash_covers_every_field():
    record = build_chain(1)[0]
    changes = {
        "event_id": "e9",
        "at": T0 + timedelta(microseconds=1),
        "actor": "raj",
        "action": "reject",
        "object_type": "model",
        "object_id": "r9",
        "outcome": "denied",
        "reason": "reason 1 ",
        "details": canonical_json({"n": 2}),
    }
    for field, value in changes.items():
        tampered = replace(record.entry, **{field: value})
        assert record_hash(seq=1, entry=tampered, prev_hash=GENESIS_HASH) != record.hash, field
    assert record_hash(seq=2, entry=record.entry, prev_hash=GENESIS_HASH) != record.hash


def _edit_reason(records):
    records[2] = replace(records[2], entry=replace(records[2].entry, reason="approved, nothing to see"))
    return records


def _edit_timestamp(records):
    records[2] = replace(records[2], entry=replace(records[2].entry, at=records[2].entry.at - timedelta(hours=1)))
    return records


def _delete_third(records):
    del records[2]
    return records


def _delete_first(records):
    del records[0]
    return records


def _swap_seq_of_second_and_third(records):
    records[1], records[2] = replace(records[1], seq=3), replace(records[2], seq=2)
    return records


def _rewrite_prev_hash_and_own_hash(records):
    record = records[2]
    forged_prev = "f" * 64
    records[2] = replace(
        record, prev_hash=forged_prev, hash=record_hash(seq=record.seq, entry=record.entry, prev_hash=forged_prev)
    )
    return records


def _edit_and_rehash_only_that_record(records):
    record = records[2]
    edited = replace(record.entry, outcome="denied")
    records[2] = replace(record, entry=edited, hash=record_hash(seq=3, entry=edited, prev_hash=record.prev_hash))
    return records


@pytest.mark.parametrize(
    ("tamper", "first_bad_seq", "problem"),
    [
        pytest.param(_edit_reason, 3, "record 3 was altered", id="edited-reason"),
        pytest.param(_edit_timestamp, 3, "record 3 was altered", id="edited-timestamp"),
        pytest.param(_delete_third, 3, "record 3 is missing", id="deleted-record"),
        pytest.param(_delete_first, 1, "record 1 is missing", id="deleted-first-record"),
        pytest.param(_swap_seq_of_second_and_third, 2, "record 2 does not point at", id="swapped-seq"),
        pytest.param(_rewrite_prev_hash_and_own_hash, 3, "record 3 does not point at", id="rewritten-prev-hash"),
        # Re-hashing only the edited record leaves record 4 pointing at the old hash.
        pytest.param(_edit_and_rehash_only_that_record, 4, "record 4 does not point at", id="rehashed-one-record"),
    ],
)
def test_tampering_is_caught_at_the_first_bad_record(tamper, first_bad_seq, problem):
    verdict = verify_chain(tamper(build_chain()))
    assert verdict.ok is False
    assert verdict.first_bad_seq == first_bad_seq
    assert verdict.problem is not None
    assert problem in verdict.problem


@pytest.mark.parametrize("duplicate", [1, 3, 5])
def test_a_duplicated_record_is_caught(duplicate):
    records = build_chain()
    records.insert(duplicate, records[duplicate - 1])
    verdict = verify_chain(records)
    assert verdict.ok is False
    assert verdict.records == 6
    assert verdict.problem == f"record {duplicate} appears more than once"


def test_a_duplicated_record_is_named_by_its_own_seq():
    records = build_chain()
    records.insert(3, records[2])
    assert verify_chain(records).first_bad_seq == 3


def test_a_duplicated_seq_with_different_content_is_caught():
    records = build_chain()
    forged = chain(entry(99), after=records[1])  # a second, different record 3
    verdict = verify_chain([*records, forged])
    assert verdict.ok is False


def test_rewriting_the_whole_tail_needs_an_outside_anchor():
    """An attacker who edits record 3 and re-hashes 3..5 consistently is NOT detected.

    The chain only proves internal consistency; it cannot tell an honest tail from a fully
    recomputed one. Catching this needs the latest hash anchored outside the table (signed
    checkpoints), which is why they are planned.
    """
    records = build_chain()
    original_head = records[-1].hash
    records[2] = replace(records[2], entry=replace(records[2].entry, reason="rewritten history"))
    forged = rechain_from(records, 2)

    verdict = verify_chain(forged)
    assert verdict.ok is True
    assert verdict.first_bad_seq is None
    # ...only comparing the head against a hash kept elsewhere reveals it.
    assert forged[-1].hash != original_head


def test_truncating_the_tail_also_needs_an_outside_anchor():
    records = build_chain()
    assert verify_chain(records[:3]).ok is True
