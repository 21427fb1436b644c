import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest

from governance.errors import MlgovError
from lakehouse.sessions import SessionStore

NOW = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)


def test_the_secret_is_made_once_readable_by_its_owner_only(tmp_path: Path) -> None:
    store = SessionStore(tmp_path / "sessions")
    token = store.issue(user="rita", now=NOW).token

    secret = tmp_path / "sessions" / "session.key"
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert len(secret.read_bytes()) == 32
    assert [p.name for p in (tmp_path / "sessions").iterdir()] == ["session.key"]  # no draft left behind
    # another process of the same home reads what this one signed
    claims = SessionStore(tmp_path / "sessions").read(token)
    assert claims is not None
    assert (claims.user, claims.issued_at) == ("rita", NOW)


def test_a_token_altered_or_signed_with_another_secret_is_not_read(tmp_path: Path) -> None:
    store = SessionStore(tmp_path / "a")
    token = store.issue(user="rita", now=NOW).token
    payload, _, signature = token.rpartition(".")

    assert store.read(f"{payload}.{signature[::-1]}") is None
    assert store.read("not a token") is None
    assert SessionStore(tmp_path / "b").read(token) is None


def test_signed_out_sessions_are_kept(tmp_path: Path) -> None:
    store = SessionStore(tmp_path / "sessions")
    first, second = store.issue(user="rita", now=NOW), store.issue(user="rita", now=NOW)
    assert store.revoked() == frozenset()

    store.revoke(first.claims.session_id, now=NOW)

    assert SessionStore(tmp_path / "sessions").revoked() == {first.claims.session_id}
    assert second.claims.session_id != first.claims.session_id


def test_a_secret_others_can_read_is_refused(tmp_path: Path) -> None:
    store = SessionStore(tmp_path / "sessions")
    store.issue(user="rita", now=NOW)
    (tmp_path / "sessions" / "session.key").chmod(0o644)

    with pytest.raises(MlgovError, match=r"session.key is readable by others \(mode 644\): expected 600"):
        store.issue(user="rita", now=NOW)
