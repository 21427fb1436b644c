"""The app's sessions on disk: the secret that signs session tokens, and the sessions signed out.

The secret is made on first use, 32 random bytes in a file only its owner can read (mode 0600) under
MLGOV_HOME; every app process serving the same home signs and checks with it, so a session survives a
restart and works on any of them. Signed-out session ids are appended to a file beside it.
"""

from __future__ import annotations

import os
import secrets
import stat
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from itsdangerous import BadSignature, URLSafeSerializer

from governance.errors import MlgovError
from governance.sessions import SessionClaims

_SECRET_FILE = "session.key"  # noqa: S105 - the file that holds the secret, not a secret
_REVOKED_FILE = "signed_out"
_SALT = "mlgov.session"


@dataclass(frozen=True)
class IssuedSession:
    token: str
    claims: SessionClaims


class SessionStore:
    """Signs and reads session tokens, and keeps the ids of sessions signed out, under `root`."""

    def __init__(self, root: Path) -> None:
        self._root = root

    def issue(self, *, user: str, now: datetime) -> IssuedSession:
        claims = SessionClaims(session_id=secrets.token_urlsafe(18), user=user, issued_at=now)
        payload = {"sid": claims.session_id, "user": user, "iat": now.astimezone(UTC).isoformat()}
        return IssuedSession(token=self._serializer().dumps(payload), claims=claims)

    def read(self, token: str) -> SessionClaims | None:
        """The claims of a token this server signed, or None for anything else (forged, altered, garbage)."""
        try:
            payload = self._serializer().loads(token)
            return SessionClaims(
                session_id=str(payload["sid"]),
                user=str(payload["user"]),
                issued_at=datetime.fromisoformat(str(payload["iat"])),
            )
        except (BadSignature, KeyError, TypeError, ValueError):
            return None

    def revoke(self, session_id: str, *, now: datetime) -> None:
        self._root.mkdir(parents=True, exist_ok=True)
        with (self._root / _REVOKED_FILE).open("a", encoding="utf-8") as out:
            out.write(f"{session_id}\t{now.astimezone(UTC).isoformat()}\n")

    def revoked(self) -> frozenset[str]:
        try:
            lines = (self._root / _REVOKED_FILE).read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return frozenset()
        return frozenset(line.partition("\t")[0] for line in lines if line)

    def _serializer(self) -> URLSafeSerializer:
        return URLSafeSerializer(self._secret(), salt=_SALT)

    def _secret(self) -> bytes:
        path = self._root / _SECRET_FILE
        if not path.exists():
            self._create_secret(path)
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            raise MlgovError(f"{path} is readable by others (mode {mode:o}): expected 600 (chmod 600 {path})")
        return path.read_bytes()

    def _create_secret(self, path: Path) -> None:
        # Written whole to a private file first, then linked into place: a process racing this one
        # either links its own secret first or finds a complete one, never a half-written file.
        self._root.mkdir(parents=True, exist_ok=True)
        draft = self._root / f".{_SECRET_FILE}.{secrets.token_hex(8)}"
        handle = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.fchmod(handle, 0o600)  # the mode given to open() is narrowed by umask, never widened: be exact
            os.write(handle, secrets.token_bytes(32))
        finally:
            os.close(handle)
        try:
            os.link(draft, path)
        except FileExistsError:
            pass  # another process made it first: use theirs
        finally:
            draft.unlink()
