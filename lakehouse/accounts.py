"""Local accounts on Delta: Argon2id password hashes and each user's credential history.

The credentials table is append-only and holds salted hashes, never passwords. Only this module
reads it; callers get credential events, and to check a password a yes or no.

New hashes are Argon2id. Salted scrypt hashes written by earlier releases still verify; they, and
Argon2id hashes with other costs than today's, are replaced at the user's next sign-in.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import re
import secrets
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime

import polars as pl
from argon2 import PasswordHasher, Type
from argon2.exceptions import VerificationError, VerifyMismatchError

from governance.errors import ConflictError, MlgovError
from governance.identity import CredentialEvent, CredentialEventKind
from lakehouse.delta import CommitInfo, DeltaStore, WriteResult
from lakehouse.schemas import CREDENTIALS

# OWASP's Password Storage Cheat Sheet recommends Argon2id with at least 19 MiB of memory, two
# passes and one lane. These are exactly that: 20-40 ms per hash on a development machine, against
# 160 ms or more for argon2-cffi's own defaults (64 MiB, t=3, p=4), which keeps a sign-in quick and
# the test suite fast. Raising them later is safe: hashes with other costs are rehashed at the
# next sign-in.
ARGON2_TIME_COST = 2
ARGON2_MEMORY_KIB = 19 * 1024
ARGON2_PARALLELISM = 1
_HASHER = PasswordHasher(
    time_cost=ARGON2_TIME_COST,
    memory_cost=ARGON2_MEMORY_KIB,
    parallelism=ARGON2_PARALLELISM,
    hash_len=32,
    salt_len=16,
    type=Type.ID,
)

# Earlier releases stored salted scrypt hashes, 'scrypt$n$r$p$salt_b64$hash_b64'; they are only
# verified now (and then replaced), but hash_scrypt stays to write them in tests of that upgrade.
SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
SALT_BYTES = 16
KEY_BYTES = 32
_SCRYPT = "scrypt"
# A stored hash names its own cost, so costs can rise later; these bounds stop a tampered row
# from making one login take all the memory or time of the machine.
_MAX_N = 2**20
_MAX_RP = 64
_MAX_ARGON2_MEMORY_KIB = 2**20  # 1 GiB
_MAX_ARGON2_TIME_COST = 16
# Only the form argon2-cffi writes: Argon2id, version 1.3 (19), unpadded standard base64.
_ARGON2ID = re.compile(r"\$argon2id\$v=19\$m=(\d{1,10}),t=(\d{1,10}),p=(\d{1,10})\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)")
_INVALID_HASH = "a stored password hash is not a valid scrypt hash or Argon2id hash; an admin must reset the password"


def hash_password(password: str) -> str:
    """A new salted Argon2id hash of `password`: '$argon2id$v=19$m=..,t=..,p=..$salt$hash' (the PHC
    string format). Each call draws a fresh salt.
    """
    return _HASHER.hash(_normalized(password))


def verify_password(password: str, stored: str | None) -> bool:
    """Whether `password` matches the stored hash (Argon2id, or an earlier release's scrypt).

    With no stored hash it still hashes (and returns False), so a login for a user without a
    password takes as long as one with a wrong password and does not reveal which it was. A stored
    hash that is neither raises MlgovError.
    """
    if stored is None:
        _check(password, _dummy_hash())
        return False
    return _check(password, stored)


def needs_rehash(stored: str) -> bool:
    """Whether a valid stored hash should be replaced by hash_password's: scrypt, or Argon2id with other costs."""
    if _parse_argon2id(stored) is not None:
        return _HASHER.check_needs_rehash(stored)
    if _parse_scrypt(stored) is not None:
        return True
    raise MlgovError(_INVALID_HASH)


def describe_hash(stored: str) -> str:
    """The scheme and costs of a stored hash, such as 'argon2id m=19456,t=2,p=1': never its salt or digest."""
    if (argon := _parse_argon2id(stored)) is not None:
        return f"argon2id m={argon.memory_kib},t={argon.time_cost},p={argon.parallelism}"
    if (scrypt := _parse_scrypt(stored)) is not None:
        return f"scrypt n={scrypt.n},r={scrypt.r},p={scrypt.p}"
    raise MlgovError(_INVALID_HASH)


def is_password_hash(secret: str) -> bool:
    """Whether `secret` is a hash this module writes (Argon2id) or still verifies (scrypt)."""
    return _parse_argon2id(secret) is not None or _parse_scrypt(secret) is not None


def _check(password: str, stored: str) -> bool:
    if _parse_argon2id(stored) is not None:
        try:
            return _HASHER.verify(stored, _normalized(password))
        except VerifyMismatchError:
            return False
        except VerificationError:  # well-formed to our parser, refused by libargon2
            raise MlgovError(_INVALID_HASH) from None
    scrypt = _parse_scrypt(stored)
    if scrypt is None:
        raise MlgovError(_INVALID_HASH)
    key = _derive(password, salt=scrypt.salt, n=scrypt.n, r=scrypt.r, p=scrypt.p, length=len(scrypt.key))
    return hmac.compare_digest(key, scrypt.key)


@dataclass(frozen=True)
class _Argon2idHash:
    memory_kib: int
    time_cost: int
    parallelism: int


def _parse_argon2id(stored: str) -> _Argon2idHash | None:
    match = _ARGON2ID.fullmatch(stored)
    if match is None:
        return None
    m, t, p = int(match[1]), int(match[2]), int(match[3])
    try:
        salt, digest = _unpadded_b64decode(match[4]), _unpadded_b64decode(match[5])
    except ValueError:
        return None
    # libargon2 needs 8 KiB of memory per lane and 8 bytes of salt; a digest shorter than 16
    # bytes is not one argon2-cffi would write, as for scrypt above.
    if not (0 < p <= _MAX_RP and 8 * p <= m <= _MAX_ARGON2_MEMORY_KIB and 0 < t <= _MAX_ARGON2_TIME_COST):
        return None
    if len(salt) < 8 or len(digest) < 16:
        return None
    return _Argon2idHash(memory_kib=m, time_cost=t, parallelism=p)


def _unpadded_b64decode(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


def hash_scrypt(password: str) -> str:
    """A salted scrypt hash as earlier releases stored it: 'scrypt$n$r$p$salt_b64$hash_b64'.

    Not used for new passwords; kept so tests can write an account from before Argon2id.
    """
    salt = secrets.token_bytes(SALT_BYTES)
    key = _derive(password, salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, length=KEY_BYTES)
    return "$".join([_SCRYPT, str(SCRYPT_N), str(SCRYPT_R), str(SCRYPT_P), _b64(salt), _b64(key)])


@dataclass(frozen=True)
class _ScryptHash:
    n: int
    r: int
    p: int
    salt: bytes
    key: bytes


def _parse_scrypt(stored: str) -> _ScryptHash | None:
    parts = stored.split("$")
    if len(parts) != 6 or parts[0] != _SCRYPT:
        return None
    try:
        n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
        salt, key = base64.b64decode(parts[4], validate=True), base64.b64decode(parts[5], validate=True)
    except ValueError:
        return None
    if not (1 < n <= _MAX_N and 0 < r <= _MAX_RP and 0 < p <= _MAX_RP) or not salt or len(key) < 16:
        return None
    return _ScryptHash(n=n, r=r, p=p, salt=salt, key=key)


def _normalized(password: str) -> str:
    # NFKC, so the same password typed on two keyboards (composed or decomposed accents) matches.
    return unicodedata.normalize("NFKC", password)


def _derive(password: str, *, salt: bytes, n: int, r: int, p: int, length: int) -> bytes:
    secret = _normalized(password).encode("utf-8")
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


def credentials_of(store: DeltaStore, *, user: str, version: int | None = None) -> Credentials:
    """The credential history of `user` (empty for a user never seen), now or at a table `version`."""
    rows = _ordered(store.scan(CREDENTIALS, version=version).filter(pl.col("user") == user)).collect()
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
    """One credentials row.

    Refuses anything but an Argon2id or scrypt hash as the secret, so a password can never be stored.
    """
    if (kind is CredentialEventKind.PASSWORD_SET) != bool(secret_hash):
        raise ValueError("a password_set event needs a hash, and only that event may carry one")
    if secret_hash and not is_password_hash(secret_hash):
        raise ValueError("refusing to store a secret that is not an Argon2id or scrypt password hash")
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


def append_rehash(
    store: DeltaStore, *, user: str, verified_hash: str, new_hash: str, at: datetime, commit: CommitInfo
) -> WriteResult | None:
    """Append `new_hash` as `user`'s password hash, if `verified_hash` is still the current one.

    For replacing a hash by a stronger one of the same password right after a sign-in checked it.
    The append is a compare-and-swap on the table version it re-reads: a blind append could land
    after a concurrent password reset and bring the old password back. Returns None, having
    written nothing, when the hash or the table changed meanwhile; the next sign-in tries again.
    """
    if not store.exists(CREDENTIALS):
        return None
    version = store.version(CREDENTIALS)
    current = credentials_of(store, user=user, version=version)
    if current.password_hash != verified_hash:
        return None
    frame = credential_frame(
        user=user,
        kind=CredentialEventKind.PASSWORD_SET,
        seq=current.next_seq,
        actor=commit.actor,
        at=at,
        run_id=commit.run_id,
        secret_hash=new_hash,
    )
    try:
        return store.append_at_version(CREDENTIALS, frame, expected_version=version, commit=commit)
    except ConflictError:
        return None
