"""Local accounts on Delta: scrypt password hashes and each user's credential history.

The credentials table is append-only and holds salted hashes, never passwords. Only this module
reads it; callers get credential events, and to check a password a yes or no.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import secrets
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime

import polars as pl

from governance.errors import MlgovError
from governance.identity import CredentialEvent, CredentialEventKind
from lakehouse.delta import DeltaStore
from lakehouse.schemas import CREDENTIALS

SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
SALT_BYTES = 16
KEY_BYTES = 32
_SCHEME = "scrypt"
# A stored hash names its own cost, so costs can rise later; these bounds stop a tampered row
# from making one login take all the memory or time of the machine.
_MAX_N = 2**20
_MAX_RP = 64


def hash_password(password: str) -> str:
    """A new salted hash of `password`: 'scrypt$n$r$p$salt_b64$hash_b64'. Each call draws a fresh salt."""
    salt = secrets.token_bytes(SALT_BYTES)
    key = _derive(password, salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, length=KEY_BYTES)
    return "$".join([_SCHEME, str(SCRYPT_N), str(SCRYPT_R), str(SCRYPT_P), _b64(salt), _b64(key)])


def verify_password(password: str, stored: str | None) -> bool:
    """Whether `password` matches the stored hash, compared in constant time.

    With no stored hash it still derives a key (and returns False), so a login for a user without
    a password takes as long as one with a wrong password and does not reveal which it was.
    """
    if stored is None:
        _check(password, _dummy_hash())
        return False
    return _check(password, stored)


def _check(password: str, stored: str) -> bool:
    parsed = _parse(stored)
    if parsed is None:
        raise MlgovError("a stored password hash is not a valid scrypt hash; an admin must reset the password")
    key = _derive(password, salt=parsed.salt, n=parsed.n, r=parsed.r, p=parsed.p, length=len(parsed.key))
    return hmac.compare_digest(key, parsed.key)


@dataclass(frozen=True)
class _ScryptHash:
    n: int
    r: int
    p: int
    salt: bytes
    key: bytes


def _parse(stored: str) -> _ScryptHash | None:
    parts = stored.split("$")
    if len(parts) != 6 or parts[0] != _SCHEME:
        return None
    try:
        n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
        salt, key = base64.b64decode(parts[4], validate=True), base64.b64decode(parts[5], validate=True)
    except ValueError:
        return None
    if not (1 < n <= _MAX_N and 0 < r <= _MAX_RP and 0 < p <= _MAX_RP) or not salt or len(key) < 16:
        return None
    return _ScryptHash(n=n, r=r, p=p, salt=salt, key=key)


def _derive(password: str, *, salt: bytes, n: int, r: int, p: int, length: int) -> bytes:
    # NFKC, so the same password typed on two keyboards (composed or decomposed accents) matches.
    secret = unicodedata.normalize("NFKC", password).encode("utf-8")
    return hashlib.scrypt(secret, salt=salt, n=n, r=r, p=p, dklen=length, maxmem=2 * 128 * n * r * p + 2**20)


@functools.cache
def _dummy_hash() -> str:
    return hash_password(secrets.token_urlsafe(24))


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


@dataclass(frozen=True)
class Credentials:
    """One user's credential events in the order they were recorded, and their current hash."""

    user: str
    events: tuple[CredentialEvent, ...]
    password_hash: str | None = field(repr=False)  # kept out of reprs, tracebacks and logs
    next_seq: int


_KIND_RANK = {kind.value: rank for rank, kind in enumerate(CredentialEventKind)}


def _ordered(frame: pl.LazyFrame) -> pl.LazyFrame:
    """Rows in recorded order: `seq` per user, then time; kind only breaks ties of concurrent writers."""
    rank = pl.col("kind").replace_strict(_KIND_RANK, default=len(_KIND_RANK), return_dtype=pl.Int32)
    return frame.sort([pl.col("user"), pl.col("seq"), pl.col("at"), rank])


def credentials_of(store: DeltaStore, *, user: str) -> Credentials:
    """The credential history of `user` (empty for a user never seen)."""
    rows = _ordered(store.scan(CREDENTIALS).filter(pl.col("user") == user)).collect()
    events = tuple(_event(row) for row in rows.iter_rows(named=True))
    hashes = [
        row["secret_hash"] for row in rows.iter_rows(named=True) if row["kind"] == CredentialEventKind.PASSWORD_SET
    ]
    last_seq = max(rows["seq"].to_list(), default=0)
    return Credentials(user=user, events=events, password_hash=hashes[-1] if hashes else None, next_seq=last_seq + 1)


def credential_histories(store: DeltaStore) -> dict[str, tuple[CredentialEvent, ...]]:
    """Every user's credential events in recorded order; hashes are not read at all."""
    rows = _ordered(store.scan(CREDENTIALS).select("user", "seq", "kind", "at")).collect()
    histories: dict[str, list[CredentialEvent]] = {}
    for row in rows.iter_rows(named=True):
        histories.setdefault(row["user"], []).append(_event(row))
    return {user: tuple(events) for user, events in histories.items()}


def _event(row: dict[str, object]) -> CredentialEvent:
    at = row["at"]
    assert isinstance(at, datetime)
    return CredentialEvent(kind=CredentialEventKind(str(row["kind"])), at=at)


def credential_frame(
    *,
    user: str,
    kind: CredentialEventKind,
    seq: int,
    actor: str,
    at: datetime,
    run_id: str,
    secret_hash: str = "",
) -> pl.DataFrame:
    """One credentials row. Refuses anything but a scrypt hash as the secret, so a password can never be stored."""
    if (kind is CredentialEventKind.PASSWORD_SET) != bool(secret_hash):
        raise ValueError("a password_set event needs a hash, and only that event may carry one")
    if secret_hash and _parse(secret_hash) is None:
        raise ValueError("refusing to store a secret that is not a scrypt hash")
    return pl.DataFrame(
        [
            {
                "user": user,
                "seq": seq,
                "kind": kind.value,
                "secret_hash": secret_hash,
                "actor": actor,
                "at": at,
                "run_id": run_id,
            }
        ]
    )
