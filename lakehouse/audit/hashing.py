"""Record hashes recomputed a column at a time: what verification hashes, without an object per record.

The hash of a record is SHA-256 of its canonical payload (`governance.audit.chain.record_payload`):
sorted-key, compact JSON of its seq, its previous hash and its hashed fields. Here polars writes
that JSON for a whole batch at once (`struct.json_encode` over the keys in canonical order), and it
is byte for byte what `canonical_json` writes, because polars writes each value the way
`json.dumps(..., ensure_ascii=False)` does:

* text: in quotes, with `"` and `\\` escaped, control characters as `\\n`, `\\t`, ... or `\\u00XX`,
  and every other character, non-ASCII included, as it is;
* `seq`: the integer's digits; a value storage lost: `null`;
* `at` is written first as `utc_text` writes it (UTC, microseconds, `Z`), which polars does alike
  for the years 1000 to 9999. A record outside them is built by `record_payload` itself.

`tests/lakehouse/test_audit_hashing.py` checks the equality for every Unicode character and on
generated records.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

import polars as pl

from governance.audit.canonical import utc_text
from governance.audit.chain import HASHED_KEYS, record_payload

_UTC_TEXT = "%Y-%m-%dT%H:%M:%S%.6fZ"


def content_hashes(frame: pl.DataFrame) -> list[str]:
    """Each row's record hash recomputed from its stored columns (the audit schema), in row order."""
    if frame.height == 0:
        return []
    utc = pl.col("at").dt.convert_time_zone("UTC")
    built = frame.select(
        pl.struct(_value(key) for key in HASHED_KEYS).struct.json_encode().cast(pl.Binary).alias("payload"),
        (utc.is_not_null() & ~utc.dt.year().is_between(1000, 9999)).alias("odd"),
    )
    blobs = built["payload"].to_list()
    for index in built["odd"].arg_true().to_list():
        blobs[index] = _python_payload(frame.row(index, named=True))
    sha256 = hashlib.sha256
    return [sha256(blob).hexdigest() for blob in blobs]


def _value(key: str) -> pl.Expr:
    if key == "at":
        return pl.col(key).dt.convert_time_zone("UTC").dt.strftime(_UTC_TEXT).alias(key)
    return pl.col(key)


def _python_payload(row: dict[str, object]) -> bytes:
    at = row["at"]
    fields = {key: row[key] for key in HASHED_KEYS if key not in ("seq", "prev_hash")}
    fields["at"] = utc_text(at) if isinstance(at, datetime) else None
    seq, prev_hash = row["seq"], row["prev_hash"]
    if not isinstance(seq, int):
        raise ValueError("an audit record without a sequence number cannot be hashed")
    return record_payload(seq=seq, prev_hash=prev_hash if isinstance(prev_hash, str) else None, fields=fields)
