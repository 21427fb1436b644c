"""Column-wise record hashes are bit-identical to governance's `record_hash`, whatever the records hold."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from governance.audit.canonical import canonical_json
from governance.audit.chain import GENESIS_HASH, AuditEntry, chain, record_hash, record_payload
from lakehouse.audit.hashing import content_hashes
from lakehouse.audit.snapshot import frame_of
from tests.lakehouse.test_audit_log import entry

EVERY_CHARACTER = [chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]  # text cannot hold surrogates


def chained(entries: list[AuditEntry]) -> list:
    records, last = [], None
    for item in entries:
        last = chain(item, after=last)
        records.append(last)
    return records


def test_every_unicode_character_hashes_as_record_hash_does() -> None:
    base = entry(1)
    count = len(EVERY_CHARACTER)
    frame = pl.DataFrame(
        {
            "seq": range(1, count + 1),
            "event_id": [base.event_id] * count,
            "at": [base.at] * count,
            "actor": [base.actor] * count,
            "action": [base.action] * count,
            "object_type": [base.object_type] * count,
            "object_id": [base.object_id] * count,
            "outcome": [base.outcome] * count,
            "reason": [f"a{c}b" for c in EVERY_CHARACTER],
            "details": [base.details] * count,
            "prev_hash": [GENESIS_HASH] * count,
            "hash": [""] * count,
        },
        schema=frame_of([]).schema,
    )
    hashes = content_hashes(frame)
    # record_hash for a million records is slow: check it on a spread, the rest against the same reference.
    for seq in [*range(1, 300), *range(300, count + 1, 997), count]:
        item = replace(base, reason=f"a{EVERY_CHARACTER[seq - 1]}b")
        assert hashes[seq - 1] == record_hash(seq=seq, entry=item, prev_hash=GENESIS_HASH), hex(ord(item.reason[1]))
    reasons = frame["reason"].to_list()
    for seq in range(1, count + 1, 13):
        fields = {**base.hashed_fields(), "reason": reasons[seq - 1]}
        payload = record_payload(seq=seq, prev_hash=GENESIS_HASH, fields=fields)
        assert hashes[seq - 1] == hashlib.sha256(payload).hexdigest()


TEXT = st.text(
    alphabet=st.characters(exclude_categories=("Cs",)) | st.sampled_from(['"', "\\", "\n", "\x00", "\x1f", "\u2028"]),
    max_size=40,
)


@settings(max_examples=200, deadline=None)
@given(
    texts=st.lists(st.tuples(TEXT, TEXT, TEXT, TEXT), min_size=1, max_size=8),
    micros=st.integers(min_value=0, max_value=10**15),
)
def test_generated_records_hash_as_record_hash_does(texts: list[tuple[str, str, str, str]], micros: int) -> None:
    at = datetime(1990, 1, 1, tzinfo=UTC) + timedelta(microseconds=micros)
    entries = [
        AuditEntry(
            event_id=event_id,
            at=at + timedelta(microseconds=i),
            actor=actor,
            action="approve",
            object_type="model",
            object_id=object_id,
            outcome="ok",
            reason=reason,
            details=canonical_json({"note": reason, "n": i}),
        )
        for i, (event_id, actor, object_id, reason) in enumerate(texts)
    ]
    records = chained(entries)
    assert content_hashes(frame_of(records)) == [r.hash for r in records]


def test_years_polars_writes_otherwise_are_hashed_by_the_reference() -> None:
    records = chained([entry(1, at=datetime(999, 12, 31, 23, 59, 59, 5, tzinfo=UTC)), entry(2)])
    assert content_hashes(frame_of(records)) == [r.hash for r in records]


def test_a_value_storage_lost_hashes_as_null_and_cannot_match() -> None:
    record = chained([entry(1)])[0]
    frame = frame_of([record]).with_columns(pl.lit(None, pl.String).alias("actor"))
    (recomputed,) = content_hashes(frame)
    fields = {**record.entry.hashed_fields(), "actor": None}
    assert recomputed == hashlib.sha256(record_payload(seq=1, prev_hash=GENESIS_HASH, fields=fields)).hexdigest()
    assert recomputed != record.hash


def test_an_empty_frame_has_no_hashes() -> None:
    assert content_hashes(frame_of([])) == []
