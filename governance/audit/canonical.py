"""The canonical form of what the audit trail hashes and signs: sorted-key JSON without floats, and
UTC timestamps with microseconds. One form, so every hash and digest is reproducible byte for byte."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime


def utc_text(at: datetime) -> str:
    """The canonical text of a timestamp: UTC, microseconds, 'Z' suffix."""
    if at.tzinfo is None:
        raise ValueError("audit timestamps must be timezone-aware")
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_json(value: Mapping[str, object]) -> str:
    """Sorted keys, no whitespace, UTF-8 text; refuses floats anywhere in the value."""
    _refuse_floats(value)
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


# Values that need no look inside. Checked by exact type before recursing: verifying a long trail
# hashes every record, and a call per field was most of the time.
_LEAVES = frozenset({str, int, bool, type(None)})


def _refuse_floats(value: object) -> None:
    if isinstance(value, float):
        raise ValueError("floats are not allowed in hashed audit fields; store them as strings")
    if isinstance(value, Mapping):
        for key, item in value.items():
            if type(key) not in _LEAVES:
                _refuse_floats(key)
            if type(item) not in _LEAVES:
                _refuse_floats(item)
    elif isinstance(value, list | tuple):
        for item in value:
            if type(item) not in _LEAVES:
                _refuse_floats(item)
