"""Password hashing and the credentials table, on a real Delta table in tmp_path."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from governance.errors import MlgovError
from governance.identity import CredentialEvent, CredentialEventKind
from lakehouse.accounts import (
    append_rehash,
    credential_frame,
    credential_histories,
    credentials_of,
    describe_hash,
    hash_password,
    hash_scrypt,
    needs_rehash,
    verify_password,
)
from lakehouse.delta import CommitInfo, DeltaStore
from lakehouse.schemas import APPEND_ONLY, CREDENTIALS
from lakehouse.storage import Storage

T0 = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
COMMIT = CommitInfo(run_id="run-1", job="test", actor="ada")
PASSWORD = "correct horse battery staple"
K = CredentialEventKind


def unpadded_b64decode(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


def test_hash_format_names_argon2id_and_owasps_parameters():
    empty, scheme, version, costs, salt, key = hash_password(PASSWORD).split("$")
    assert (empty, scheme, version, costs) == ("", "argon2id", "v=19", "m=19456,t=2,p=1")
    assert len(unpadded_b64decode(salt)) == 16
    assert len(unpadded_b64decode(key)) == 32


def test_the_old_scrypt_format_names_scrypt_and_its_parameters():
    scheme, n, r, p, salt, key = hash_scrypt(PASSWORD).split("$")
    assert (scheme, n, r, p) == ("scrypt", str(2**14), "8", "1")
    assert len(base64.b64decode(salt)) == 16
    assert len(base64.b64decode(key)) == 32


def test_each_hash_draws_a_new_salt():
    first, second = hash_password(PASSWORD), hash_password(PASSWORD)
    assert first.split("$")[4] != second.split("$")[4]
    assert first != second
    assert verify_password(PASSWORD, first)
    assert verify_password(PASSWORD, second)


@pytest.mark.parametrize(
    ("attempt", "ok"),
    [
        (PASSWORD, True),
        ("correct horse battery stapler", False),
        ("Correct horse battery staple", False),
        ("", False),
        ("cafe\u0301 au lait au lait", False),
    ],
)
def test_verify_accepts_only_the_password(attempt, ok):
    assert verify_password(attempt, hash_password(PASSWORD)) is ok


@pytest.mark.parametrize(
    ("attempt", "ok"),
    [(PASSWORD, True), ("correct horse battery stapler", False), ("", False)],
)
def test_old_scrypt_hashes_still_verify_only_the_password(attempt, ok):
    assert verify_password(attempt, hash_scrypt(PASSWORD)) is ok


@pytest.mark.parametrize("hasher", [hash_password, hash_scrypt])
def test_equivalent_unicode_forms_match(hasher):
    composed, decomposed = "caf\u00e9 au lait, merci", "cafe\u0301 au lait, merci"
    assert verify_password(decomposed, hasher(composed))
    assert verify_password(composed, hasher(decomposed))


def test_only_scrypt_and_argon2id_with_other_costs_need_a_rehash():
    assert needs_rehash(hash_password(PASSWORD)) is False
    assert needs_rehash(hash_scrypt(PASSWORD)) is True
    # argon2-cffi's own defaults (64 MiB, t=3, p=4): valid, verified, but not today's profile.
    stronger = PasswordHasher().hash(PASSWORD)
    assert verify_password(PASSWORD, stronger)
    assert needs_rehash(stronger) is True
    weaker = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    assert needs_rehash(weaker) is True
    with pytest.raises(MlgovError, match="not a valid scrypt hash"):
        needs_rehash("plain text")


def test_describing_a_hash_names_its_scheme_and_costs_never_its_salt_or_digest():
    new, old = hash_password(PASSWORD), hash_scrypt(PASSWORD)
    assert describe_hash(new) == "argon2id m=19456,t=2,p=1"
    assert describe_hash(old) == f"scrypt n={2**14},r=8,p=1"
    for stored in (new, old):
        salt, digest = stored.split("$")[-2:]
        assert salt not in describe_hash(stored)
        assert digest not in describe_hash(stored)


def test_without_a_stored_hash_nothing_matches():
    assert verify_password(PASSWORD, None) is False
    assert verify_password("", None) is False


@pytest.mark.parametrize(
    "stored",
    [
        "plain text",
        "scrypt$16384$8$1$c2FsdA==",
        "bcrypt$16384$8$1$c2FsdHNhbHRzYWx0c2FsdA==$" + "A" * 44,
        "scrypt$1099511627776$8$1$c2FsdHNhbHRzYWx0c2FsdA==$" + "A" * 44,
        "scrypt$16384$8$1$not base64!$" + "A" * 44,
    ],
)
def test_a_malformed_or_hostile_stored_hash_is_an_error_not_a_match(stored):
    with pytest.raises(MlgovError, match="not a valid scrypt hash"):
        verify_password(PASSWORD, stored)


VALID_ARGON2ID = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$" + "A" * 43


@pytest.mark.parametrize(
    "stored",
    [
        "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA",  # no digest
        "$argon2id$v=19$m=19456,t=2,p=1$not base64!$" + "A" * 43,
        "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$" + "A" * 41,  # not a whole number of bytes
        "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$" + "A" * 43,  # 4 bytes of salt
        "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$AAAAAA",  # 4 bytes of digest
        "$argon2id$v=19$m=4194304,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$" + "A" * 43,  # 4 GiB
        "$argon2id$v=19$m=19456,t=100000,p=1$c2FsdHNhbHRzYWx0c2FsdA$" + "A" * 43,
        "$argon2id$v=19$m=19456,t=2,p=0$c2FsdHNhbHRzYWx0c2FsdA$" + "A" * 43,
        "$argon2id$v=16$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$" + "A" * 43,
        "$argon2i$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$" + "A" * 43,
        "$argon2d$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$" + "A" * 43,
        VALID_ARGON2ID + "\n",
    ],
)
def test_a_malformed_or_hostile_argon2_hash_is_the_same_clear_error(stored):
    with pytest.raises(MlgovError, match="an admin must reset the password"):
        verify_password(PASSWORD, stored)


def test_a_well_formed_argon2id_hash_of_another_password_is_a_refusal_not_an_error():
    assert verify_password(PASSWORD, VALID_ARGON2ID) is False
    assert verify_password(PASSWORD, hash_password("another long passphrase")) is False


def test_the_credentials_table_is_append_only():
    assert CREDENTIALS in APPEND_ONLY


@pytest.mark.parametrize(
    ("kind", "secret"),
    [
        (K.PASSWORD_SET, PASSWORD),
        (K.PASSWORD_SET, ""),
        (K.LOGIN_FAILED, "scrypt$16384$8$1$c2FsdHNhbHRzYWx0c2FsdA==$" + "A" * 44),
    ],
    ids=["plain-password", "password-set-without-hash", "hash-on-another-event"],
)
def test_credential_rows_refuse_anything_but_a_hash_on_password_set(kind, secret):
    with pytest.raises(ValueError, match="hash"):
        credential_frame(user="rita", kind=kind, seq=1, actor="ada", at=T0, run_id="r", secret_hash=secret)


@pytest.mark.parametrize(
    "secret",
    [
        "$argon2i$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$" + "A" * 43,
        "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA",
        "$argon2id$" + PASSWORD,
        "scrypt$" + PASSWORD,
    ],
    ids=["argon2i", "argon2id-without-digest", "password-behind-argon2-prefix", "password-behind-scrypt-prefix"],
)
def test_credential_rows_refuse_what_only_looks_like_a_hash(secret):
    with pytest.raises(ValueError, match="not an Argon2id or scrypt password hash"):
        credential_frame(user="rita", kind=K.PASSWORD_SET, seq=1, actor="ada", at=T0, run_id="r", secret_hash=secret)


@pytest.mark.parametrize("hasher", [hash_password, hash_scrypt])
def test_credential_rows_take_argon2id_and_old_scrypt_hashes(hasher):
    stored = hasher(PASSWORD)
    frame = credential_frame(
        user="rita", kind=K.PASSWORD_SET, seq=1, actor="ada", at=T0, run_id="r", secret_hash=stored
    )
    assert frame["secret_hash"].to_list() == [stored]


def _append(store: DeltaStore, user: str, kind: CredentialEventKind, seq: int, at: datetime, secret: str = "") -> None:
    frame = credential_frame(user=user, kind=kind, seq=seq, actor="ada", at=at, run_id="r", secret_hash=secret)
    store.append(CREDENTIALS, frame, commit=COMMIT)


def test_credentials_of_reads_events_in_recorded_order_and_the_latest_hash(tmp_path: Path):
    store = DeltaStore(Storage(tmp_path / "lakehouse"))
    first, second = hash_password(PASSWORD), hash_password("another long passphrase")
    _append(store, "rita", K.PASSWORD_SET, 1, T0, first)
    # All at one instant: only the sequence number says which came first.
    _append(store, "rita", K.LOGIN_FAILED, 2, T0)
    _append(store, "rita", K.UNLOCKED, 3, T0)
    _append(store, "rita", K.PASSWORD_SET, 4, T0, second)
    _append(store, "raj", K.LOGIN_FAILED, 1, T0 + timedelta(minutes=1))

    rita = credentials_of(store, user="rita")
    assert [e.kind for e in rita.events] == [K.PASSWORD_SET, K.LOGIN_FAILED, K.UNLOCKED, K.PASSWORD_SET]
    assert rita.password_hash == second
    assert rita.next_seq == 5
    assert "scrypt" not in repr(rita)
    assert "argon2" not in repr(rita)

    assert credentials_of(store, user="raj").password_hash is None
    nobody = credentials_of(store, user="nobody")
    assert (nobody.events, nobody.password_hash, nobody.next_seq) == ((), None, 1)

    histories = credential_histories(store)
    assert histories["raj"] == (CredentialEvent(kind=K.LOGIN_FAILED, at=T0 + timedelta(minutes=1)),)
    assert len(histories["rita"]) == 4


def test_an_empty_lakehouse_has_no_credentials(tmp_path: Path):
    store = DeltaStore(Storage(tmp_path / "lakehouse"))
    assert credential_histories(store) == {}
    assert credentials_of(store, user="rita").events == ()


def test_no_plaintext_password_anywhere_in_the_table_files(tmp_path: Path):
    store = DeltaStore(Storage(tmp_path / "lakehouse"))
    _append(store, "rita", K.PASSWORD_SET, 1, T0, hash_password(PASSWORD))
    files = [p for p in store.path(CREDENTIALS).rglob("*") if p.is_file()]
    assert any(p.suffix == ".parquet" for p in files)
    for path in files:
        data = path.read_bytes()
        assert PASSWORD.encode() not in data, path
        assert PASSWORD.encode("utf-16-le") not in data, path
    assert verify_password(PASSWORD, credentials_of(store, user="rita").password_hash)


def test_a_rehash_appends_a_row_when_the_verified_hash_is_still_current(tmp_path: Path):
    store = DeltaStore(Storage(tmp_path / "lakehouse"))
    old = hash_scrypt(PASSWORD)
    _append(store, "rita", K.PASSWORD_SET, 1, T0, old)
    _append(store, "rita", K.LOGIN_SUCCEEDED, 2, T0)
    version_before = store.version(CREDENTIALS)

    new = hash_password(PASSWORD)
    written = append_rehash(store, user="rita", verified_hash=old, new_hash=new, at=T0, commit=COMMIT)
    assert written is not None
    assert written.rows == 1
    assert store.version(CREDENTIALS) == version_before + 1

    rita = credentials_of(store, user="rita")
    assert rita.password_hash == new
    assert [e.kind for e in rita.events] == [K.PASSWORD_SET, K.LOGIN_SUCCEEDED, K.PASSWORD_SET]
    assert rita.next_seq == 4
    # Appended, not updated: the old row is still there, as in every earlier version.
    assert store.read(CREDENTIALS)["secret_hash"].to_list().count(old) == 1
    assert verify_password(PASSWORD, rita.password_hash)


def test_a_rehash_never_undoes_a_password_changed_since_the_sign_in_checked_it(tmp_path: Path):
    store = DeltaStore(Storage(tmp_path / "lakehouse"))
    old = hash_scrypt(PASSWORD)
    _append(store, "rita", K.PASSWORD_SET, 1, T0, old)
    reset = hash_password("a password set by an admin")
    _append(store, "rita", K.PASSWORD_SET, 2, T0, reset)
    version = store.version(CREDENTIALS)

    written = append_rehash(
        store, user="rita", verified_hash=old, new_hash=hash_password(PASSWORD), at=T0, commit=COMMIT
    )
    assert written is None
    assert store.version(CREDENTIALS) == version
    assert credentials_of(store, user="rita").password_hash == reset


def test_there_is_nothing_to_rehash_in_an_empty_lakehouse(tmp_path: Path):
    store = DeltaStore(Storage(tmp_path / "lakehouse"))
    old = hash_scrypt(PASSWORD)
    assert (
        append_rehash(store, user="rita", verified_hash=old, new_hash=hash_password(PASSWORD), at=T0, commit=COMMIT)
        is None
    )
    assert not store.exists(CREDENTIALS)
