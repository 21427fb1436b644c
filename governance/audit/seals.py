"""Signed checkpoints ("seals") of the audit chain: what a seal vouches for, its exact signed bytes,
and parsing one back in canonical form only. Signing and storage are in lakehouse.seals."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from governance.audit.canonical import canonical_json, utc_text
from governance.audit.chain import GENESIS_HASH, AuditRecord

SEAL_FORMAT = "mlgov.audit.seal/1"
_HEX = frozenset("0123456789abcdef")


@dataclass(frozen=True)
class Checkpoint:
    """What one seal vouches for: the chain's tip at one Delta version of one audit table.

    Seals form a chain of their own: `index` counts them from 1 and `prev_seal` is the digest of the
    seal before (GENESIS_HASH for the first), so a removed, reordered or replayed seal shows.
    """

    index: int
    seq: int
    tip_hash: str
    delta_version: int
    table_id: str
    sealed_at: datetime
    prev_seal: str

    def fields(self) -> dict[str, object]:
        return {
            "format": SEAL_FORMAT,
            "index": self.index,
            "seq": self.seq,
            "tip_hash": self.tip_hash,
            "delta_version": self.delta_version,
            "table_id": self.table_id,
            "sealed_at": utc_text(self.sealed_at),
            "prev_seal": self.prev_seal,
        }


def checkpoint_payload(checkpoint: Checkpoint) -> bytes:
    """The exact bytes a seal signs: the checkpoint's fields as canonical JSON, UTF-8."""
    return canonical_json(checkpoint.fields()).encode("utf-8")


def checkpoint_digest(checkpoint: Checkpoint) -> str:
    """SHA-256 of the signed bytes; the next seal's `prev_seal`."""
    return hashlib.sha256(checkpoint_payload(checkpoint)).hexdigest()


def parse_checkpoint(fields: Mapping[str, object]) -> Checkpoint:
    """The checkpoint held in a seal's signed fields; ValueError naming the first field that is wrong.

    Only the canonical form is accepted, so the bytes re-derived from the result are the bytes that
    were signed.
    """
    expected = set(Checkpoint.__dataclass_fields__) | {"format"}
    if set(fields) != expected:
        odd = sorted(set(fields) ^ expected)
        raise ValueError(f"unexpected or missing field {odd[0]!r}")
    if fields["format"] != SEAL_FORMAT:
        raise ValueError(f"format is {fields['format']!r}, expected {SEAL_FORMAT!r}")
    tip_hash, prev_seal = _hex_digest(fields, "tip_hash"), _hex_digest(fields, "prev_seal")
    sealed_text = _text(fields, "sealed_at")
    try:
        sealed_at = datetime.fromisoformat(sealed_text)
    except ValueError:
        sealed_at = None
    if sealed_at is None or sealed_at.tzinfo is None:
        raise ValueError(f"sealed_at is {sealed_text!r}, expected a UTC timestamp")
    checkpoint = Checkpoint(
        index=_whole(fields, "index", minimum=1),
        seq=_whole(fields, "seq", minimum=1),
        tip_hash=tip_hash,
        delta_version=_whole(fields, "delta_version", minimum=0),
        table_id=_text(fields, "table_id"),
        sealed_at=sealed_at,
        prev_seal=prev_seal,
    )
    if checkpoint.fields() != dict(fields):
        raise ValueError("fields are not in canonical form")
    return checkpoint


def _whole(fields: Mapping[str, object], name: str, *, minimum: int) -> int:
    value = fields[name]
    # bool is an int subclass; a seal saying `"seq": true` does not name a record.
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} is {value!r}, expected a whole number of at least {minimum}")
    return value


def _text(fields: Mapping[str, object], name: str) -> str:
    value = fields[name]
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name} is {value!r}, expected text")
    return value


def _hex_digest(fields: Mapping[str, object], name: str) -> str:
    value = _text(fields, name)
    if len(value) != 64 or not set(value) <= _HEX:
        raise ValueError(f"{name} is {value!r}, expected 64 lowercase hex digits")
    return value


def next_checkpoint(
    *, previous: Checkpoint | None, tip: AuditRecord, delta_version: int, table_id: str, at: datetime
) -> Checkpoint:
    """The checkpoint that seals `tip`, read at `delta_version` of table `table_id`, after `previous`."""
    return Checkpoint(
        index=previous.index + 1 if previous else 1,
        seq=tip.seq,
        tip_hash=tip.hash,
        delta_version=delta_version,
        table_id=table_id,
        sealed_at=at,
        prev_seal=checkpoint_digest(previous) if previous else GENESIS_HASH,
    )


@dataclass(frozen=True)
class SealReading:
    """One seal as storage returned it, in storage order.

    `checkpoint` is None when the seal could not be parsed; `defect` says why the seal cannot be
    trusted as read (unreadable, bad signature, no key to check it), phrased to follow its name.
    """

    name: str
    checkpoint: Checkpoint | None
    defect: str | None = None
