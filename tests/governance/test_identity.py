"""Identity: lockout decisions from credential events, the password policy, the signed-in identity."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from governance.errors import PermissionDenied
from governance.identity import (
    CredentialEvent,
    CredentialEventKind,
    LockoutPolicy,
    PasswordPolicy,
    SignedIn,
    locked_message,
    login_gate,
    password_problem,
    signed_in,
)
from governance.roles import AccessPolicy, Role

T0 = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
POLICY = LockoutPolicy(max_failures=5, window=timedelta(minutes=15), lock_for=timedelta(minutes=15))
K = CredentialEventKind


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def events(*spec: tuple[CredentialEventKind, float]) -> list[CredentialEvent]:
    return [CredentialEvent(kind=kind, at=at(minutes)) for kind, minutes in spec]


def failures(count: int, *, start: float = 0, step: float = 1) -> list[tuple[CredentialEventKind, float]]:
    return [(K.LOGIN_FAILED, start + i * step) for i in range(count)]


SET = [(K.PASSWORD_SET, 0)]

# (history, now in minutes after T0, locked until (minutes) or None, counted failures, next failure locks)
LOCKOUT_CASES = [
    pytest.param([], 0, None, 0, False, id="no-history"),
    pytest.param(SET, 1, None, 0, False, id="password-only"),
    pytest.param([*SET, *failures(3)], 5, None, 3, False, id="three-failures"),
    pytest.param([*SET, *failures(4)], 5, None, 4, True, id="fifth-failure-would-lock"),
    pytest.param([*SET, *failures(4, step=5)], 16, None, 3, False, id="oldest-failure-left-the-window"),
    pytest.param([*SET, *failures(4, step=10)], 31, None, 2, False, id="spread-out-failures-never-lock"),
    pytest.param([*SET, *failures(5), (K.LOCKED, 4)], 5, 19, 0, False, id="locked"),
    pytest.param([*SET, *failures(5), (K.LOCKED, 4)], 18.9, 19, 0, False, id="still-locked-just-before-expiry"),
    pytest.param([*SET, *failures(5), (K.LOCKED, 4)], 19, None, 0, False, id="lock-expired"),
    pytest.param([*SET, *failures(5), (K.LOCKED, 4), (K.UNLOCKED, 6)], 7, None, 0, False, id="unlocked-by-admin"),
    pytest.param([*SET, *failures(5), (K.LOCKED, 4), (K.PASSWORD_SET, 6)], 7, None, 0, False, id="reset-ends-lock"),
    pytest.param(
        [*SET, *failures(5), (K.LOCKED, 4), *failures(4, start=5)],
        20,
        None,
        0,
        False,
        id="failures-while-locked-do-not-count",
    ),
    pytest.param(
        [*SET, *failures(5), (K.LOCKED, 4), *failures(4, start=20)],
        25,
        None,
        4,
        True,
        id="failures-after-expiry-count-again",
    ),
    pytest.param([*SET, *failures(4), (K.LOGIN_SUCCEEDED, 4)], 5, None, 0, False, id="success-resets-count"),
    pytest.param(
        [*SET, *failures(4), (K.LOGIN_SUCCEEDED, 4), *failures(2, start=5)],
        8,
        None,
        2,
        False,
        id="failures-after-success",
    ),
    pytest.param(
        [*failures(5, step=0), (K.LOCKED, 0)], 0, 15, 0, False, id="unknown-user-locks-too-even-within-one-instant"
    ),
    pytest.param(
        [*failures(5, step=0), (K.LOCKED, 0), (K.UNLOCKED, 0), *failures(2, step=0)],
        0,
        None,
        2,
        False,
        id="recorded-order-not-time-decides-within-one-instant",
    ),
]


@pytest.mark.parametrize(("history", "now", "locked_until", "counted", "locks_next"), LOCKOUT_CASES)
def test_login_gate(history, now, locked_until, counted, locks_next):
    gate = login_gate(events(*history), now=at(now), policy=POLICY)
    assert gate.locked_until == (None if locked_until is None else at(locked_until))
    assert gate.allowed is (locked_until is None)
    assert gate.failures == counted
    assert gate.lock_after_failure == (at(now) + POLICY.lock_for if locks_next else None)


@pytest.mark.parametrize(
    ("max_failures", "prior", "locks_next"),
    [(1, 0, True), (3, 1, False), (3, 2, True), (10, 8, False), (10, 9, True)],
)
def test_the_threshold_comes_from_the_policy(max_failures, prior, locks_next):
    policy = LockoutPolicy(max_failures=max_failures, window=timedelta(hours=1), lock_for=timedelta(minutes=5))
    gate = login_gate(events(*SET, *failures(prior)), now=at(30), policy=policy)
    assert (gate.lock_after_failure is not None) is locks_next


def test_locked_message_names_the_time_in_utc():
    assert locked_message(datetime(2026, 6, 1, 9, 5, 42, tzinfo=UTC)) == "account locked until 09:05 UTC"


# --- password policy --------------------------------------------------------------------------

PASSWORD_CASES = [
    pytest.param("correct horse battery", "rita", None, id="passphrase"),
    pytest.param("Tr0ub4dor&3xyz", "rita", None, id="mixed"),
    pytest.param("ça-va-très-bien", "rita", None, id="non-ascii"),
    pytest.param("x" * 40, "rita", "too repetitive", id="long-but-repetitive"),
    pytest.param("abcdefghijk", "rita", "too short", id="eleven-characters"),
    pytest.param("", "rita", "too short", id="empty"),
    pytest.param("abcd" * 300, "rita", "too long", id="over-the-maximum"),
    pytest.param("aaaabbbbcccc", "rita", "too repetitive", id="three-distinct"),
    pytest.param("tab\tinside password", "rita", "control characters", id="tab"),
    pytest.param("line\nbreak password", "rita", "control characters", id="newline"),
    pytest.param("margaret.hamilton", "margaret.hamilton", "user name", id="equal-to-user"),
    pytest.param("my name is RITA ok", "rita", "user name", id="contains-user-any-case"),
    pytest.param("ab is my friend!", "ab", None, id="short-names-only-refused-when-equal"),
    pytest.param("Password-for-me!", "rita", "'password'", id="the-word-password"),
    pytest.param("my mlgov login 99", "rita", "'mlgov'", id="the-product-name"),
]


@pytest.mark.parametrize(("password", "user", "needle"), PASSWORD_CASES)
def test_password_problem(password, user, needle):
    problem = password_problem(password, user=user, policy=PasswordPolicy())
    if needle is None:
        assert problem is None
    else:
        assert problem is not None
        assert needle in problem
        assert password not in problem or not password


def test_password_policy_minimum_is_configurable():
    assert password_problem("abcdefgh", user="rita", policy=PasswordPolicy(min_length=8)) is None
    assert "too short" in (password_problem("abcdefgh", user="rita", policy=PasswordPolicy()) or "")


# --- signed-in identity -----------------------------------------------------------------------


def test_signed_in_takes_roles_from_the_access_policy():
    policy = AccessPolicy({"rita": frozenset({Role.REVIEWER, Role.AUDITOR})})
    assert signed_in(policy, user="rita") == SignedIn(user="rita", roles=frozenset({Role.REVIEWER, Role.AUDITOR}))


def test_a_user_without_roles_cannot_sign_in():
    with pytest.raises(PermissionDenied, match="holds no roles"):
        signed_in(AccessPolicy({"rita": frozenset({Role.REVIEWER})}), user="zoe")
