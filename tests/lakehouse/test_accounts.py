"""Password hashing and the credentials table, on a real Delta table in tmp_path."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from governance.errors import MlgovError
from governance.identity import CredentialEvent, CredentialEventKind
from lakehouse.accounts import credential_frame, credential_histories, credentials_of, hash_password, verify_password
from lakehouse.delta import CommitInfo, DeltaStore
from lakehouse.schemas import APPEND_ONLY, CREDENTIALS
from lakehouse.storage import Storage

T0 = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
COMMIT = CommitInfo(run_id="run-1", job="test", actor="ada")
PASSWORD = "correct horse battery staple"
K = CredentialEventKind


def test_hash_format_names_scrypt_and_its_parameters():
    scheme, n, r, p, salt, key = hash_password(PASSWORD).split("$")
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


def test_equivalent_unicode_forms_match():
    composed, decomposed = "caf\u00e9 au lait, merci", "cafe\u0301 au lait, merci"
    assert verify_password(decomposed, hash_password(composed))


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
