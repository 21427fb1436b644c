"""App sessions: start one for a user who signed in, resume it from its token, end it at sign-out.

The identity is checked where it is established (pipelines.jobs.users); a session only carries it
between requests. Resuming takes the user's roles from the access policy as it is now, so a role
revoked after sign-in is gone on the next page, and a user left with none is signed out; a session of
a user an admin has disabled is refused on its next request.
"""

from __future__ import annotations

from governance.accounts import require_enabled
from governance.errors import PermissionDenied
from governance.identity import SignedIn, signed_in
from governance.roles import AccessPolicy
from governance.sessions import SessionClaims, SessionPolicy, session_refusal
from lakehouse.account_status import disabled_users
from lakehouse.records import access_policy
from lakehouse.sessions import SessionStore
from pipelines.context import Context

SESSIONS = SessionPolicy()
INVALID_SESSION = "your session is not valid: sign in again"


def _store(ctx: Context) -> SessionStore:
    return SessionStore(ctx.settings.sessions_root)


def start_session(ctx: Context, identity: SignedIn) -> str:
    """A signed token for a session of `identity`, for the browser to present on each request."""
    return _store(ctx).issue(user=identity.user, now=ctx.clock()).token


def session_claims(ctx: Context, token: str) -> SessionClaims:
    """The claims of a session token that still holds; PermissionDenied saying why otherwise."""
    store = _store(ctx)
    claims = store.read(token)
    if claims is None:
        raise PermissionDenied(INVALID_SESSION)
    refusal = session_refusal(
        claims, revoked=store.revoked(), now=ctx.clock(), policy=SESSIONS, disabled=disabled_users(ctx.ledger)
    )
    if refusal is not None:
        raise PermissionDenied(refusal)
    return claims


def resume_session(ctx: Context, token: str, *, policy: AccessPolicy | None = None) -> SignedIn:
    """The identity a session token carries, with the roles the access policy gives it now (`policy`:
    the caller's copy of the current policy, read from the chain when None)."""
    claims = session_claims(ctx, token)  # refuses a disabled user as the chain holds them now
    policy = access_policy(ctx.ledger) if policy is None else policy
    return signed_in(policy, user=claims.user)


def confirm_identity(ctx: Context, identity: SignedIn) -> None:
    """Check again an identity held without a session token (single sign-on establishes it once), as
    `session_claims` checks a token on each request: PermissionDenied once its account is disabled."""
    require_enabled(identity.user, disabled=disabled_users(ctx.ledger))


def end_session(ctx: Context, token: str) -> None:
    """Sign a session out: its token is refused from now on, on every app process of this home."""
    claims = _store(ctx).read(token)
    if claims is not None:
        _store(ctx).revoke(claims.session_id, now=ctx.clock())
