"""The audit chain: canonical JSON, UTC timestamps, chaining and what verification does and does not catch."""

from __future__ import annotations

import hashlib
import json
import random
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from itertools import pairwise

import pytest

from governance.audit.canonical import canonical_json, utc_text
from governance.audit.chain import (
    GENESIS_HASH,
    HASHED_KEYS,
    AuditEntry,
    ChainChecker,
    RepeatedEvent,
    chain,
    first_repeated_event,
    record_hash,
    record_payload,
    verify_chain,
)
from governance.audit.seals import SealReading, checkpoint_digest, checkpoint_payload, next_checkpoint, parse_checkpoint
from governance.audit.verify import (
    AuditVerdict,
    LogGap,
    RewriteOrigin,
    TableState,
    UnlistedPart,
    UnreadablePart,
    rewritten_span,
    scan_records,
    sealed_seqs,
    verify_scan,
    verify_trail,
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


# --- duplicated events --------------------------------------------------------------------------


def test_a_record_replayed_at_the_end_with_a_fresh_hash_is_caught_by_its_event_id():
    records = build_chain(4)
    replayed = chain(records[1].entry, after=records[-1])  # a correct link and hash, an old event
    verdict = verify_chain([*records, replayed])
    assert verdict.ok is False
    assert verdict.first_bad_seq == 5
    assert verdict.problem == "record 5 repeats event 'e2' of record 2"


# --- checkpoints: payload, parsing, chaining -----------------------------------------------------

TABLE = "4f0c2f3e-table"
SEALED_AT = datetime(2026, 6, 2, 8, 0, 0, 250000, tzinfo=UTC)


def checkpoint_after(previous, tip, *, version=None, table_id=TABLE, at=SEALED_AT):
    return next_checkpoint(
        previous=previous, tip=tip, delta_version=tip.seq if version is None else version, table_id=table_id, at=at
    )


def seal_chain(records, seqs, **kwargs):
    """Seals of `records` at the given seqs, as SealReadings named like the files."""
    readings, previous = [], None
    for seq in seqs:
        previous = checkpoint_after(previous, records[seq - 1], **kwargs)
        readings.append(SealReading(name=f"seal-{previous.index:06d}.json", checkpoint=previous))
    return readings


def test_the_signed_payload_is_canonical_json_of_every_field():
    checkpoint = checkpoint_after(None, build_chain(3)[-1])
    payload = checkpoint_payload(checkpoint)
    assert isinstance(payload, bytes)
    assert payload.decode("utf-8") == canonical_json(checkpoint.fields())
    assert list(json.loads(payload)) == sorted(checkpoint.fields())
    assert json.loads(payload) == {
        "format": "mlgov.audit.seal/1",
        "index": 1,
        "seq": 3,
        "tip_hash": build_chain(3)[-1].hash,
        "delta_version": 3,
        "table_id": TABLE,
        "sealed_at": "2026-06-02T08:00:00.250000Z",
        "prev_seal": GENESIS_HASH,
    }


def test_the_payload_does_not_depend_on_the_zone_the_seal_time_was_given_in():
    tip = build_chain(2)[-1]
    in_utc = checkpoint_after(None, tip)
    in_chicago = checkpoint_after(None, tip, at=SEALED_AT.astimezone(timezone(timedelta(hours=-5))))
    assert checkpoint_payload(in_utc) == checkpoint_payload(in_chicago)


def test_checkpoints_chain_to_the_previous_seal():
    records = build_chain(5)
    first = checkpoint_after(None, records[1])
    second = checkpoint_after(first, records[4])
    assert (first.index, first.prev_seal) == (1, GENESIS_HASH)
    assert second.index == 2
    assert second.prev_seal == checkpoint_digest(first)
    assert len(checkpoint_digest(first)) == 64
    assert checkpoint_digest(first) != checkpoint_digest(replace(first, seq=1))


def test_parse_checkpoint_round_trips():
    checkpoint = checkpoint_after(None, build_chain(3)[-1])
    parsed = parse_checkpoint(json.loads(checkpoint_payload(checkpoint)))
    assert parsed == checkpoint
    assert checkpoint_payload(parsed) == checkpoint_payload(checkpoint)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"format": "mlgov.audit.seal/0"}, "format is"),
        ({"seq": True}, "seq is True"),
        ({"seq": 0}, "seq is 0"),
        ({"index": "1"}, "index is '1'"),
        ({"delta_version": -1}, "delta_version is -1"),
        ({"tip_hash": "ABC"}, "tip_hash is 'ABC'"),
        ({"prev_seal": "g" * 64}, "prev_seal"),
        ({"table_id": ""}, "table_id is ''"),
        ({"sealed_at": "yesterday"}, "sealed_at is 'yesterday'"),
        ({"sealed_at": "2026-06-02T08:00:00"}, "sealed_at"),
        ({"sealed_at": "2026-06-02T10:00:00.250000+02:00"}, "canonical form"),
        ({"extra": 1}, "'extra'"),
    ],
)
def test_parse_checkpoint_refuses_what_is_not_a_canonical_checkpoint(change, message):
    fields = {**checkpoint_after(None, build_chain(3)[-1]).fields(), **change}
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_checkpoint(fields)


def test_parse_checkpoint_names_a_missing_field():
    fields = checkpoint_after(None, build_chain(3)[-1]).fields()
    del fields["tip_hash"]
    with pytest.raises(ValueError, match="'tip_hash'"):
        parse_checkpoint(fields)


# --- verify_trail: the chain, the storage and the seals together ---------------------------------


def test_an_unsealed_trail_verifies_and_says_nothing_is_sealed():
    verdict = verify_trail(build_chain(5), table=TableState(version=5, table_id=TABLE))
    assert verdict == AuditVerdict(
        ok=True, records=5, first_bad_seq=None, problem=None, sealed_through=None, unsealed_records=5, seals=0
    )


def test_an_empty_trail_without_a_table_verifies():
    verdict = verify_trail([], table=None)
    assert (verdict.ok, verdict.records, verdict.sealed_through, verdict.unsealed_records) == (True, 0, None, 0)


def test_seals_that_match_report_how_far_the_trail_is_sealed():
    records = build_chain(7)
    verdict = verify_trail(records, table=TableState(version=9, table_id=TABLE), seals=seal_chain(records, [2, 5]))
    assert verdict.ok is True
    assert verdict.sealed_through == 5
    assert verdict.unsealed_records == 2
    assert verdict.seals == 2


def test_a_fully_recomputed_tail_is_caught_by_the_seal_and_named_from_the_last_good_seal():
    records = build_chain(8)
    seals = seal_chain(records, [3, 8])
    records[4] = replace(records[4], entry=replace(records[4].entry, reason="rewritten history"))
    forged = rechain_from(records, 4)
    assert verify_chain(forged).ok is True  # the chain alone cannot tell

    verdict = verify_trail(forged, table=TableState(version=8, table_id=TABLE), seals=seals)
    assert verdict.ok is False
    assert verdict.first_bad_seq == 4
    assert verdict.problem == "records 4..8 were rewritten: record 8 no longer has the hash sealed by seal-000002.json"
    assert verdict.sealed_through == 3
    assert verdict.unsealed_records == 5


def test_a_truncated_trail_is_caught_by_the_seal():
    records = build_chain(6)
    verdict = verify_trail(records[:4], table=TableState(version=6, table_id=TABLE), seals=seal_chain(records, [2, 6]))
    assert verdict.ok is False
    assert verdict.first_bad_seq == 5
    assert verdict.problem is not None
    assert verdict.problem.startswith("records 5..6 are gone, though sealed by seal-000002.json")
    assert "rolled back" not in verdict.problem  # the sealed version 6 is still the table's version
    assert verdict.sealed_through == 2


def test_a_table_rebuilt_with_the_same_records_is_named_even_though_every_record_matches():
    records = build_chain(4)
    verdict = verify_trail(records, table=TableState(version=0, table_id="rebuilt"), seals=seal_chain(records, [4]))
    assert verdict.ok is False
    assert verdict.first_bad_seq is None
    assert verdict.problem is not None
    assert "was recreated after seal seal-000001.json" in verdict.problem
    assert "every record still matches its seal" in verdict.problem
    assert verdict.sealed_through == 4


def test_a_rebuilt_table_leaves_the_records_after_the_last_seal_unvouched():
    records = build_chain(6)
    verdict = verify_trail(records, table=TableState(version=0, table_id="rebuilt"), seals=seal_chain(records, [4]))
    assert verdict.first_bad_seq == 5
    assert "records from 5 on are not vouched for" in (verdict.problem or "")


def test_a_table_rolled_back_to_an_older_version_is_named():
    records = build_chain(4)
    verdict = verify_trail(records, table=TableState(version=2, table_id=TABLE), seals=seal_chain(records, [4]))
    assert verdict.ok is False
    assert "at Delta version 2, before version 4 sealed by seal-000001.json" in (verdict.problem or "")


def test_an_old_seal_copied_as_the_newest_is_named_as_a_replay():
    records = build_chain(6)
    seals = seal_chain(records, [2, 4, 6])
    replayed = [*seals, replace(seals[0], name="seal-000004.json")]
    verdict = verify_trail(records, table=TableState(version=6, table_id=TABLE), seals=replayed)
    assert verdict.ok is False
    assert verdict.problem == "seal seal-000004.json is a replay of seal seal-000001.json"
    assert verdict.first_bad_seq is None  # every record is still sealed by the genuine seals
    assert verdict.sealed_through == 6


def test_a_replayed_seal_that_hides_a_truncation_names_the_first_unvouched_record():
    records = build_chain(6)
    seals = seal_chain(records, [2, 4, 6])
    # The tail was cut to 4 records, seal 3 removed and seal 1 put in its place.
    verdict = verify_trail(
        records[:4],
        table=TableState(version=6, table_id=TABLE),
        seals=[*seals[:2], replace(seals[0], name="seal-000003.json")],
    )
    # Every record left is still sealed: what was cut cannot be named, only the replay that hides it.
    assert verdict.first_bad_seq is None
    assert verdict.problem == "seal seal-000003.json is a replay of seal seal-000001.json"
    assert verdict.sealed_through == 4


@pytest.mark.parametrize(
    ("order", "problem"),
    [
        ([0, 2], "seal number 2 is missing: the next one found is seal-000003.json"),
        ([0, 2, 1], "seal number 2 is missing"),
        ([1, 0], "seal number 1 is missing"),
    ],
)
def test_removed_or_reordered_seals_are_named(order, problem):
    records = build_chain(6)
    seals = seal_chain(records, [2, 4, 6])
    verdict = verify_trail(records, table=TableState(version=6, table_id=TABLE), seals=[seals[i] for i in order])
    assert verdict.ok is False
    assert problem in (verdict.problem or "")


def test_a_seal_renamed_to_another_place_is_named():
    records = build_chain(6)
    seals = seal_chain(records, [2, 4])
    moved = [seals[0], replace(seals[0], name="seal-000002.json", checkpoint=replace(seals[0].checkpoint, seq=3))]
    verdict = verify_trail(records, table=TableState(version=6, table_id=TABLE), seals=moved)
    assert "says it is seal number 1 but is number 2" in (verdict.problem or "")


def test_a_seal_that_does_not_link_to_the_one_before_is_named():
    records = build_chain(6)
    first, second = seal_chain(records, [2, 4])
    unlinked = replace(second, checkpoint=replace(second.checkpoint, prev_seal="a" * 64))
    verdict = verify_trail(records, table=TableState(version=6, table_id=TABLE), seals=[first, unlinked])
    assert verdict.problem == "seal seal-000002.json does not follow seal-000001.json: a seal before it was replaced"
    assert verdict.sealed_through == 2
    assert verdict.first_bad_seq == 3


def test_a_seal_for_a_delta_version_that_moved_backwards_is_named():
    records = build_chain(6)
    first = checkpoint_after(None, records[1], version=10)
    second = checkpoint_after(first, records[3], version=7)  # signed after the table was rolled back
    seals = [
        SealReading(name="seal-000001.json", checkpoint=first),
        SealReading(name="seal-000002.json", checkpoint=second),
    ]
    verdict = verify_trail(records, table=TableState(version=12, table_id=TABLE), seals=seals)
    assert verdict.ok is False
    assert "is for Delta version 7, before version 10 sealed by seal-000001.json" in (verdict.problem or "")
    assert verdict.first_bad_seq == 3


def test_a_seal_that_goes_back_in_the_chain_is_named():
    records = build_chain(6)
    first = checkpoint_after(None, records[3])
    second = checkpoint_after(first, records[1], version=8)
    seals = [
        SealReading(name="seal-000001.json", checkpoint=first),
        SealReading(name="seal-000002.json", checkpoint=second),
    ]
    verdict = verify_trail(records, table=TableState(version=8, table_id=TABLE), seals=seals)
    assert "goes back to record 2 after seal-000001.json sealed record 4" in (verdict.problem or "")


def test_a_seal_storage_could_not_trust_stops_trust_from_there():
    records = build_chain(6)
    first, second = seal_chain(records, [2, 4])
    forged = replace(second, defect="has a signature that does not match: it was edited or forged")
    verdict = verify_trail(records, table=TableState(version=6, table_id=TABLE), seals=[first, forged])
    assert verdict.ok is False
    assert verdict.problem == "seal seal-000002.json has a signature that does not match: it was edited or forged"
    assert verdict.first_bad_seq == 3
    assert verdict.sealed_through == 2


def test_a_seal_that_could_not_be_parsed_is_named():
    records = build_chain(3)
    verdict = verify_trail(
        records,
        table=TableState(version=3, table_id=TABLE),
        seals=[SealReading(name="seal-000001.json", checkpoint=None)],
    )
    assert verdict.problem == "seal seal-000001.json cannot be read"
    assert verdict.first_bad_seq == 1


def test_an_unreadable_data_file_is_named_with_the_records_it_held():
    records = build_chain(6)
    present = records[:2] + records[4:]
    part = UnreadablePart(location="/lake/audit/part-3.parquet", first_seq=3, last_seq=4)
    verdict = verify_trail(present, table=TableState(version=6, table_id=TABLE), unreadable=[part])
    assert verdict.ok is False
    assert verdict.first_bad_seq == 3
    assert (
        verdict.problem == "records 3..4 cannot be read: data file /lake/audit/part-3.parquet is missing or unreadable"
    )


def test_an_unreadable_tip_is_caught_though_the_rest_of_the_chain_holds():
    records = build_chain(4)
    part = UnreadablePart(location="tip.parquet", first_seq=4, last_seq=4)
    verdict = verify_trail(records[:3], table=TableState(version=4, table_id=TABLE), unreadable=[part])
    assert (verdict.ok, verdict.first_bad_seq) == (False, 4)
    assert verdict.problem == "record 4 cannot be read: data file tip.parquet is missing or unreadable"


def test_the_earliest_finding_wins_and_caps_what_counts_as_sealed():
    records = build_chain(8)
    seals = seal_chain(records, [2, 6])
    records[3] = replace(records[3], entry=replace(records[3].entry, reason="edited"))  # hash left as it was
    verdict = verify_trail(records, table=TableState(version=8, table_id=TABLE), seals=seals)
    assert verdict.first_bad_seq == 4
    assert "record 4 was altered" in (verdict.problem or "")
    assert verdict.sealed_through == 2  # seal 2 still matches record 6's stored hash, but cannot vouch past 4
    assert verdict.unsealed_records == 6


def test_a_first_seal_that_points_at_an_earlier_one_is_named():
    records = build_chain(3)
    (first,) = seal_chain(records, [3])
    orphan = replace(first, checkpoint=replace(first.checkpoint, prev_seal="b" * 64))
    verdict = verify_trail(records, table=TableState(version=3, table_id=TABLE), seals=[orphan])
    assert verdict.problem == "seal seal-000001.json does not start the seals: a seal before it was replaced"
    assert verdict.first_bad_seq == 1


def test_a_replayed_seal_claims_nothing_new_so_the_unsealed_tail_is_not_blamed():
    records = build_chain(7)
    seals = seal_chain(records, [5])
    verdict = verify_trail(
        records, table=TableState(version=7, table_id=TABLE), seals=[*seals, replace(seals[0], name="seal-000002.json")]
    )
    assert verdict.ok is False
    assert verdict.first_bad_seq is None
    assert (verdict.sealed_through, verdict.unsealed_records) == (5, 2)


# --- the chain checked as it is read -------------------------------------------------------------


def test_record_hash_is_sha256_of_the_canonical_payload_as_before():
    record = build_chain(2)[1]
    payload = {"seq": 2, "prev_hash": record.prev_hash, **record.entry.hashed_fields()}
    expected = hashlib.sha256(canonical_json(payload).encode("utf-8")).hexdigest()
    assert record.hash == expected
    assert record_payload(seq=2, prev_hash=record.prev_hash, fields=record.entry.hashed_fields()) == (
        canonical_json(payload).encode("utf-8")
    )
    assert list(json.loads(canonical_json(payload))) == list(HASHED_KEYS)


def _feed_in_batches(records, size):
    ordered = sorted(records, key=lambda r: r.seq)
    checker = ChainChecker()
    for start in range(0, len(ordered), size):
        part = ordered[start : start + size]
        checker.feed(
            [r.seq for r in part],
            [r.prev_hash for r in part],
            [r.hash for r in part],
            None if checker.broken else [record_hash(seq=r.seq, entry=r.entry, prev_hash=r.prev_hash) for r in part],
        )
    return checker


@pytest.mark.parametrize("size", [1, 2, 3, 100])
@pytest.mark.parametrize(
    "tamper",
    [
        lambda rs: rs,
        _edit_reason,
        _edit_timestamp,
        _delete_third,
        _delete_first,
        _swap_seq_of_second_and_third,
        _rewrite_prev_hash_and_own_hash,
        _edit_and_rehash_only_that_record,
        lambda rs: [*rs[:3], rs[2], *rs[3:]],
    ],
)
def test_the_checker_fed_in_batches_finds_what_verify_chain_finds(tamper, size):
    records = tamper(build_chain(7))
    verdict = verify_chain(records)
    checker = _feed_in_batches(records, size)
    assert checker.records == len(records)
    found = (checker.broken.seq, checker.broken.problem) if checker.broken else (None, None)
    assert found == (verdict.first_bad_seq, verdict.problem)


def test_the_checker_can_start_inside_a_chain():
    records = build_chain(6)
    checker = ChainChecker(first_seq=4, prev_hash=records[2].hash)
    checker.feed(
        [r.seq for r in records[3:]],
        [r.prev_hash for r in records[3:]],
        [r.hash for r in records[3:]],
        [r.hash for r in records[3:]],
    )
    assert (checker.broken, checker.next_seq, checker.last_hash) == (None, 7, records[-1].hash)


def test_the_checker_needs_content_hashes_until_the_chain_breaks():
    with pytest.raises(ValueError, match="content hashes are needed"):
        ChainChecker().feed([1], [GENESIS_HASH], ["a" * 64], None)


def test_a_repeated_event_is_the_first_record_whose_event_an_earlier_record_has():
    assert first_repeated_event([3, 1, 2, 4], ["a", "b", "c", "b"]) == RepeatedEvent(seq=4, event_id="b", first_seq=1)
    assert first_repeated_event([1, 1, 2], ["a", "a", "b"]) is None  # one record twice: the chain names it
    assert first_repeated_event([], []) is None


# --- a consistent rewrite of sealed records (issue #9) ---------------------------------------------


def _rewritten_from(records, seq):
    index = seq - 1
    records = list(records)
    records[index] = replace(records[index], entry=replace(records[index].entry, reason="nothing happened"))
    return rechain_from(records, index)


def test_a_consistent_rewrite_from_record_10_is_named_from_the_last_good_seal_when_only_seals_speak():
    """Seals at 5 and 20, records 10..25 rewritten with recomputed hashes.

    The seal at 5 still matches; the one at 20 does not. It signs only record 20's hash, so records
    6..9 may or may not have changed: the first record it can no longer vouch for is 6.
    """
    records = build_chain(25)
    seals = seal_chain(records, [5, 20])
    forged = _rewritten_from(records, 10)
    table = TableState(version=30, table_id=TABLE)

    verdict = verify_trail(forged, table=table, seals=seals)
    assert (verdict.ok, verdict.first_bad_seq, verdict.sealed_through) == (False, 6, 5)
    assert (
        verdict.problem == "records 6..20 were rewritten: record 20 no longer has the hash sealed by seal-000002.json"
    )

    span = rewritten_span(scan_records(forged, sealed_seqs=sealed_seqs(seals)), table=table, seals=seals)
    assert span is not None
    assert (span.seal, span.after, span.after_hash, span.checkpoint.seq) == ("seal-000002.json", 5, records[4].hash, 20)


def test_a_consistent_rewrite_is_named_at_its_first_record_when_the_tables_history_tells():
    records = build_chain(25)
    seals = seal_chain(records, [5, 20])
    forged = _rewritten_from(records, 10)
    scan = scan_records(forged, sealed_seqs=sealed_seqs(seals))
    origin = RewriteOrigin(seal="seal-000002.json", seq=10, delta_version=20)

    verdict = verify_scan(scan, table=TableState(version=30, table_id=TABLE), seals=seals, origin=origin)
    assert (verdict.ok, verdict.first_bad_seq, verdict.sealed_through, verdict.unsealed_records) == (False, 10, 5, 20)
    assert verdict.problem == (
        "records 10..20 were rewritten: record 10 no longer has the hash it had at Delta version 20, which "
        "seal-000002.json vouches for, and record 20 no longer has the hash sealed by seal-000002.json"
    )


@pytest.mark.parametrize(
    "origin",
    [
        RewriteOrigin(seal="seal-000001.json", seq=10, delta_version=5),  # another seal's
        RewriteOrigin(seal="seal-000002.json", seq=5, delta_version=20),  # before the last good seal
        RewriteOrigin(seal="seal-000002.json", seq=21, delta_version=20),  # after the sealed record
    ],
)
def test_a_rewrite_origin_that_does_not_fit_the_seal_is_ignored(origin):
    records = build_chain(25)
    seals = seal_chain(records, [5, 20])
    scan = scan_records(_rewritten_from(records, 10), sealed_seqs=sealed_seqs(seals))
    verdict = verify_scan(scan, table=TableState(version=30, table_id=TABLE), seals=seals, origin=origin)
    assert verdict.first_bad_seq == 6


def test_no_rewritten_span_when_every_seal_matches():
    records = build_chain(8)
    seals = seal_chain(records, [3, 8])
    scan = scan_records(records, sealed_seqs=sealed_seqs(seals))
    assert rewritten_span(scan, table=TableState(version=8, table_id=TABLE), seals=seals) is None


# --- what only storage shows: commits missing from the log, data files it does not list ------------


def test_a_missing_commit_names_the_first_record_after_what_could_be_read():
    records = build_chain(6)
    gap = LogGap(version=2, location="/lake/_delta_log/00000000000000000002.json", next_first_seq=9)
    verdict = verify_scan(scan_records(records), table=TableState(version=4, table_id=TABLE), log_gap=gap)
    assert (verdict.ok, verdict.first_bad_seq, verdict.records) == (False, 7, 6)
    assert verdict.problem == (
        "commit 2 of the Delta log (/lake/_delta_log/00000000000000000002.json) is missing, so the table cannot be "
        "read past Delta version 1: records 7..8, which it wrote, and every record after them cannot be vouched for"
    )


@pytest.mark.parametrize(
    ("version", "next_first_seq", "tail"),
    [
        (3, None, "read past Delta version 2: records from 4 on cannot be vouched for"),
        (3, 4, "read past Delta version 2: records from 4 on cannot be vouched for"),
        (3, 5, "read past Delta version 2: record 4, which it wrote, and every record after them"),
        (0, None, "read at all: records from 4 on cannot be vouched for"),
    ],
)
def test_a_missing_commit_says_what_it_held_when_the_next_commit_tells(version, next_first_seq, tail):
    gap = LogGap(version=version, location="c.json", next_first_seq=next_first_seq)
    verdict = verify_scan(scan_records(build_chain(3)), table=TableState(version=5, table_id=TABLE), log_gap=gap)
    assert verdict.first_bad_seq == 4
    assert tail in (verdict.problem or "")


def test_a_missing_commit_comes_before_the_seals_that_it_hides():
    records = build_chain(8)
    seals = seal_chain(records, [2, 8])
    gap = LogGap(version=3, location="c.json", next_first_seq=None)
    verdict = verify_scan(
        scan_records(records[:3], sealed_seqs={2, 8}),
        table=TableState(version=8, table_id=TABLE),
        seals=seals,
        log_gap=gap,
    )
    assert (verdict.first_bad_seq, verdict.sealed_through) == (4, 2)
    assert (verdict.problem or "").startswith("commit 3 of the Delta log (c.json) is missing")


def test_records_in_a_data_file_the_log_does_not_list_are_named():
    part = UnlistedPart(location="/lake/audit/part-9.parquet", first_seq=5, last_seq=7)
    verdict = verify_scan(scan_records(build_chain(4)), table=TableState(version=3, table_id=TABLE), unlisted=[part])
    assert (verdict.ok, verdict.first_bad_seq) == (False, 5)
    assert verdict.problem == (
        "records 5..7 in data file /lake/audit/part-9.parquet, which the Delta log does not list, carry the chain on "
        "after its last record: the commit that added them was deleted, or its writer stopped before committing it"
    )
