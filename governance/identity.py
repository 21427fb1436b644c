"""Who may sign in: the password policy, account lockout, and the signed-in identity. Pure.

An account's state is folded from its credential events in the order they were recorded; the
store hands them over in that order. Nothing here reads a clock: `now` is passed in.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from governance.accounts import require_enabled
from governance.errors import PermissionDenied
from governance.roles import AccessPolicy, Role

GENERIC_LOGIN_FAILURE = "invalid user name or password"


class CredentialEventKind(StrEnum):
    PASSWORD_SET = "password_set"  # noqa: S105 - an event name, not a secret
    LOGIN_FAILED = "login_failed"
    LOGIN_SUCCEEDED = "login_succeeded"
    LOCKED = "locked"
    UNLOCKED = "unlocked"


@dataclass(frozen=True)
class CredentialEvent:
    kind: CredentialEventKind
    at: datetime


@dataclass(frozen=True)
class LockoutPolicy:
    """`max_failures` failed logins within `window` lock the account for `lock_for`."""

    max_failures: int = 5
    window: timedelta = timedelta(minutes=15)
    lock_for: timedelta = timedelta(minutes=15)


@dataclass(frozen=True)
class LoginGate:
    """What the account's history says about a login attempt made now."""

    locked_until: datetime | None  # set: refuse without checking the password
    failures: int  # recent failures that count towards a lockout
    lock_after_failure: datetime | None  # set: one more failure locks the account until then

    @property
    def allowed(self) -> bool:
        return self.locked_until is None


def login_gate(events: Iterable[CredentialEvent], *, now: datetime, policy: LockoutPolicy) -> LoginGate:
    """Whether an attempt at `now` may be checked, and whether failing it locks the account.

    A lockout ends when it expires, or earlier on an unlock or a new password. A success, an
    unlock, a new password or a lockout starts the failure count afresh; failures recorded while
    locked do not count, so hammering a locked account does not prolong the lockout.
    """
    locked_until: datetime | None = None
    failures: list[datetime] = []
    for event in events:
        if event.kind is CredentialEventKind.LOCKED:
            failures.clear()
            locked_until = event.at + policy.lock_for
        elif event.kind is CredentialEventKind.LOGIN_FAILED:
            if locked_until is None or event.at >= locked_until:
                failures.append(event.at)
        else:
            failures.clear()
            locked_until = None
    if locked_until is not None and now < locked_until:
        return LoginGate(locked_until=locked_until, failures=0, lock_after_failure=None)
    recent = sum(1 for at in failures if at > now - policy.window)
    locks = recent + 1 >= policy.max_failures
    return LoginGate(locked_until=None, failures=recent, lock_after_failure=now + policy.lock_for if locks else None)


def has_password(events: Iterable[CredentialEvent]) -> bool:
    return any(e.kind is CredentialEventKind.PASSWORD_SET for e in events)


def last_sign_in(events: Iterable[CredentialEvent]) -> datetime | None:
    """When the account last signed in successfully; None when it never has."""
    return max((e.at for e in events if e.kind is CredentialEventKind.LOGIN_SUCCEEDED), default=None)


def locked_message(until: datetime) -> str:
    return f"account locked until {until:%H:%M} UTC"


@dataclass(frozen=True)
class PasswordPolicy:
    min_length: int = 12
    max_length: int = 1024
    min_distinct: int = 5
    # Words anyone would try first against this system, beside the user's own name.
    context_words: tuple[str, ...] = ("mlgov", "password")


def password_problem(password: str, *, user: str, policy: PasswordPolicy) -> str | None:
    """Why `password` may not be set for `user`, or None. The message never quotes the password."""
    if len(password) < policy.min_length:
        return f"password is too short: expected at least {policy.min_length} characters"
    if len(password) > policy.max_length:
        return f"password is too long: expected at most {policy.max_length} characters"
    if any(ord(c) < 32 or ord(c) == 127 for c in password):
        return "password contains control characters (such as a tab or newline) that cannot be typed reliably"
    if len(set(password)) < policy.min_distinct:
        return f"password is too repetitive: expected at least {policy.min_distinct} different characters"
    folded = password.casefold()
    # Containment is checked only for names of three or more characters: a one-letter name
    # would otherwise rule out most passwords.
    if folded == user.casefold() or (len(user) >= 3 and user.casefold() in folded):
        return "password must not contain the user name"
    for word in policy.context_words:
        if word in folded:
            return f"password must not contain the word {word!r}"
    return None


@dataclass(frozen=True)
class SignedIn:
    """A user whose identity was established (password or single sign-on), with their roles now."""

    user: str
    roles: frozenset[Role]


def signed_in(policy: AccessPolicy, *, user: str) -> SignedIn:
    """The identity with its roles from the access policy; a user the policy holds disabled, or one with
    no roles, may not sign in."""
    require_enabled(user, disabled=policy.disabled)
    roles = policy.roles_of(user)
    if not roles:
        raise PermissionDenied(f"{user} holds no roles: ask an admin to grant one (mlgov access grant)")
    return SignedIn(user=user, roles=roles)
