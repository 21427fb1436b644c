from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from governance.accounts import (
    AccountChange,
    AccountEvent,
    active_admins,
    decide_account_change,
    fold_disabled,
    require_enabled,
)
from governance.errors import PermissionDenied, PolicyViolation
from governance.identity import signed_in
from governance.roles import Action, GrantChange, GrantEvent, Role, authorize, fold_grants, may
from governance.sessions import SessionClaims, SessionPolicy, session_refusal

POLICY = fold_grants(
    GrantEvent(user=user, role=role, change=GrantChange.GRANT)
    for user, role in (("ada", Role.ADMIN), ("bob", Role.ADMIN), ("cat", Role.MAKER))
)
DISABLE, ENABLE = AccountChange.DISABLE, AccountChange.ENABLE
NOON = datetime(2026, 12, 4, 12, tzinfo=UTC)


def test_the_latest_event_of_each_user_decides_whether_they_are_disabled() -> None:
    events = [
        AccountEvent("cat", DISABLE),
        AccountEvent("bob", DISABLE),
        AccountEvent("cat", ENABLE),
    ]

    assert fold_disabled(events) == {"bob"}
    assert active_admins(POLICY, disabled={"bob"}) == ("ada",)


@pytest.mark.parametrize(
    ("actor", "user", "change", "disabled", "changes"),
    [
        ("ada", "cat", DISABLE, set(), True),
        ("ada", "cat", DISABLE, {"cat"}, False),  # already disabled
        ("ada", "bob", DISABLE, set(), True),  # ada stays an active admin
        ("ada", "cat", ENABLE, {"cat"}, True),
        ("ada", "cat", ENABLE, set(), False),  # not disabled
    ],
)
def test_admins_disable_and_enable_others(
    actor: str, user: str, change: AccountChange, disabled: set[str], changes: bool
) -> None:
    assert decide_account_change(POLICY, disabled=disabled, actor=actor, user=user, change=change) is changes


@pytest.mark.parametrize(
    ("actor", "user", "change", "disabled", "error", "needle"),
    [
        ("cat", "bob", DISABLE, set(), PermissionDenied, "may not manage access"),
        ("ada", "ada", DISABLE, set(), PolicyViolation, "your own account"),
        ("ada", "ada", DISABLE, {"bob"}, PolicyViolation, "ada is the last active admin"),
        ("bob", "ada", DISABLE, {"bob"}, PolicyViolation, "bob is disabled"),
        ("bob", "bob", ENABLE, {"bob"}, PolicyViolation, "bob is disabled"),
    ],
)
def test_who_may_not(
    actor: str, user: str, change: AccountChange, disabled: set[str], error: type[Exception], needle: str
) -> None:
    with pytest.raises(error, match=needle):
        decide_account_change(POLICY, disabled=disabled, actor=actor, user=user, change=change)


def test_a_disabled_user_neither_signs_in_nor_keeps_a_session() -> None:
    claims = SessionClaims(session_id="s1", user="cat", issued_at=NOON)

    with pytest.raises(PermissionDenied, match="disabled"):
        signed_in(replace(POLICY, disabled=frozenset({"cat"})), user="cat")
    assert signed_in(replace(POLICY, disabled=frozenset({"bob"})), user="cat").roles == {Role.MAKER}
    refusal = session_refusal(claims, revoked=(), now=NOON, policy=SessionPolicy(), disabled={"cat"})
    assert refusal == "your account is disabled: ask an admin to enable it"
    assert session_refusal(claims, revoked=(), now=NOON, policy=SessionPolicy(), disabled={"bob"}) is None


def test_a_disabled_user_may_do_nothing_their_roles_allow_until_enabled() -> None:
    policy = replace(POLICY, disabled=frozenset({"cat"}))

    with pytest.raises(PermissionDenied, match=r"^user cat is disabled: an admin runs mlgov users enable cat$"):
        authorize(policy, user="cat", action=Action.REQUEST_PROMOTION)
    assert not may(policy, user="cat", action=Action.REQUEST_PROMOTION)
    assert policy.roles_of("cat") == {Role.MAKER}  # kept for when the account comes back
    with pytest.raises(PermissionDenied, match="your account is disabled"):
        signed_in(policy, user="cat")
    authorize(POLICY, user="cat", action=Action.REQUEST_PROMOTION)
    authorize(policy, user="ada", action=Action.MANAGE_ACCESS)


def test_an_identity_is_refused_once_its_account_is_disabled() -> None:
    require_enabled("cat", disabled={"bob"})
    with pytest.raises(PermissionDenied, match="your account is disabled"):
        require_enabled("cat", disabled={"cat"})
