"""How long a signed-in session lasts, and whether one presented now still holds. Pure.

A session is carried by the browser as a token the server signed; the token names the session and
its user and says when it was issued. The server keeps the ids of sessions signed out before they
expired; nothing here reads a clock or a file: `now` and the revoked ids are passed in.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from governance.accounts import DISABLED_MESSAGE


@dataclass(frozen=True)
class SessionPolicy:
    """A session ends `lifetime` after sign-in (a working day), or earlier when signed out."""

    lifetime: timedelta = timedelta(hours=10)


@dataclass(frozen=True)
class SessionClaims:
    """What a session token says: which session, whose, issued when."""

    session_id: str
    user: str
    issued_at: datetime


def session_expires_at(claims: SessionClaims, *, policy: SessionPolicy) -> datetime:
    return claims.issued_at + policy.lifetime


def session_refusal(
    claims: SessionClaims,
    *,
    revoked: Collection[str],
    now: datetime,
    policy: SessionPolicy,
    disabled: Collection[str] = (),
) -> str | None:
    """Why the session `claims` names may not be resumed at `now`, or None when it holds.

    A session of a user an admin has since disabled no longer holds (`disabled`: the disabled users).
    """
    if claims.user in disabled:
        return DISABLED_MESSAGE
    if claims.session_id in revoked:
        return "your session was signed out: sign in again"
    if claims.issued_at > now + timedelta(minutes=5):  # a token from the future was not issued by this clock
        return "your session is not valid: sign in again"
    expires = session_expires_at(claims, policy=policy)
    if now >= expires:
        return f"your session expired at {expires:%Y-%m-%d %H:%M} UTC: sign in again"
    return None


def safe_return_path(target: str | None) -> str:
    """Where to send a browser after sign-in: `target` when it is a path on this server, else "/".

    Anything that could leave the server (an absolute URL, "//host", a backslash some browsers read
    as a slash, control characters) is refused, so a link cannot use sign-in to redirect elsewhere.
    """
    if not target or not target.startswith("/") or target.startswith("//"):
        return "/"
    if "\\" in target or any(ord(c) < 32 or ord(c) == 127 for c in target):
        return "/"
    return target
