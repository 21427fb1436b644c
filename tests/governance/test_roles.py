"""Roles: parsing role names, folding grant events, the permission check and user-name validation."""

from __future__ import annotations

import pytest

from governance.errors import PermissionDenied
from governance.roles import (
    AccessPolicy,
    Action,
    GrantChange,
    GrantEvent,
    Role,
    authorize,
    fold_grants,
    parse_role,
    user_name_problem,
)

GRANT, REVOKE = GrantChange.GRANT, GrantChange.REVOKE


# --- parse_role -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("maker", Role.MAKER),
        ("reviewer", Role.REVIEWER),
        ("auditor", Role.AUDITOR),
        ("analyst", Role.ANALYST),
        ("admin", Role.ADMIN),
        ("Reviewer", Role.REVIEWER),
        ("ADMIN", Role.ADMIN),
        ("  maker ", Role.MAKER),
    ],
)
def test_parse_role_accepts_names_in_any_case(text, expected):
    assert parse_role(text) is expected


@pytest.mark.parametrize("text", ["superuser", "", "review", "makers", "mak er"])
def test_parse_role_refuses_unknown_names_and_lists_the_valid_ones(text):
    with pytest.raises(PermissionDenied) as caught:
        parse_role(text)
    message = str(caught.value)
    assert repr(text) in message
    for role in Role:
        assert role.value in message


# --- fold_grants ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        pytest.param([], {}, id="no-events"),
        pytest.param(
            [GrantEvent("rita", Role.REVIEWER, GRANT)],
            {"rita": {Role.REVIEWER}},
            id="grant",
        ),
        pytest.param(
            [GrantEvent("rita", Role.REVIEWER, GRANT), GrantEvent("rita", Role.AUDITOR, GRANT)],
            {"rita": {Role.REVIEWER, Role.AUDITOR}},
            id="two-roles",
        ),
        pytest.param(
            [
                GrantEvent("rita", Role.REVIEWER, GRANT),
                GrantEvent("rita", Role.AUDITOR, GRANT),
                GrantEvent("rita", Role.AUDITOR, REVOKE),
            ],
            {"rita": {Role.REVIEWER}},
            id="revoke-one-of-two",
        ),
        pytest.param(
            [
                GrantEvent("rita", Role.REVIEWER, GRANT),
                GrantEvent("rita", Role.REVIEWER, REVOKE),
                GrantEvent("rita", Role.REVIEWER, GRANT),
            ],
            {"rita": {Role.REVIEWER}},
            id="re-grant",
        ),
        pytest.param(
            [GrantEvent("rita", Role.REVIEWER, GRANT), GrantEvent("rita", Role.REVIEWER, GRANT)],
            {"rita": {Role.REVIEWER}},
            id="grant-twice-is-idempotent",
        ),
        pytest.param(
            [
                GrantEvent("rita", Role.REVIEWER, GRANT),
                GrantEvent("maya", Role.MAKER, GRANT),
                GrantEvent("rita", Role.REVIEWER, REVOKE),
            ],
            {"maya": {Role.MAKER}},
            id="revoke-last-role-drops-user",
        ),
        pytest.param(
            [GrantEvent("ghost", Role.ADMIN, REVOKE)],
            {},
            id="revoke-never-granted",
        ),
    ],
)
def test_fold_grants(events, expected):
    policy = fold_grants(events)
    assert {user: set(roles) for user, roles in policy.grants.items()} == expected


def test_user_whose_last_role_is_revoked_is_unknown():
    policy = fold_grants([GrantEvent("rita", Role.REVIEWER, GRANT), GrantEvent("rita", Role.REVIEWER, REVOKE)])
    assert "rita" not in policy.grants
    assert not policy.knows("rita")
    assert policy.roles_of("rita") == frozenset()


def test_order_of_events_matters():
    grant, revoke = GrantEvent("rita", Role.REVIEWER, GRANT), GrantEvent("rita", Role.REVIEWER, REVOKE)
    assert fold_grants([grant, revoke]).roles_of("rita") == frozenset()
    assert fold_grants([revoke, grant]).roles_of("rita") == {Role.REVIEWER}


# --- authorize --------------------------------------------------------------------------------

POLICY = AccessPolicy(
    {
        "ada": frozenset({Role.ADMIN}),
        "maya": frozenset({Role.MAKER}),
        "rita": frozenset({Role.REVIEWER}),
        "aiko": frozenset({Role.AUDITOR}),
        "ana": frozenset({Role.ANALYST}),
        "boss": frozenset({Role.ADMIN, Role.REVIEWER}),
    }
)


@pytest.mark.parametrize(
    ("user", "action"),
    [
        ("maya", Action.TRAIN),
        ("maya", Action.INGEST),
        ("maya", Action.REQUEST_PROMOTION),
        ("rita", Action.APPROVE),
        ("rita", Action.REJECT),
        ("ada", Action.MANAGE_ACCESS),
        ("ada", Action.RUN_DEMO),
        ("aiko", Action.READ_AUDIT),
        ("ana", Action.MONITOR),
        # The role check alone lets an admin who also holds reviewer APPROVE; the promotion rules
        # (governance.promotion) are what refuse admins, tested in test_promotion.py.
        ("boss", Action.APPROVE),
    ],
)
def test_authorize_allows(user, action):
    assert authorize(POLICY, user=user, action=action) is None


@pytest.mark.parametrize(
    ("user", "action", "needed"),
    [
        ("maya", Action.APPROVE, "reviewer"),
        ("maya", Action.MANAGE_ACCESS, "admin"),
        ("rita", Action.TRAIN, "maker"),
        ("ada", Action.APPROVE, "reviewer"),
        ("ada", Action.TRAIN, "maker"),
        ("ana", Action.READ_AUDIT, "auditor"),
        ("aiko", Action.REJECT, "reviewer"),
    ],
)
def test_authorize_refuses_a_known_user_without_the_role(user, action, needed):
    with pytest.raises(PermissionDenied) as caught:
        authorize(POLICY, user=user, action=action)
    message = str(caught.value)
    assert message.startswith(f"{user} (")
    assert action.value.replace("_", " ") in message
    assert f"needs role {needed}" in message


@pytest.mark.parametrize("user", ["mallory", "", "Maya"])
def test_authorize_refuses_an_unknown_actor_by_name(user):
    with pytest.raises(PermissionDenied, match="unknown actor") as caught:
        authorize(POLICY, user=user, action=Action.READ_MONITORING)
    assert repr(user) in str(caught.value)


def test_read_monitoring_is_open_to_every_role():
    for user in POLICY.grants:
        assert authorize(POLICY, user=user, action=Action.READ_MONITORING) is None


# --- user_name_problem ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "user",
    ["a", "rita", "Rita.Rossi", "r_rossi-2", "rita@example.com", "x" * 64, "0"],
)
def test_good_user_names_have_no_problem(user):
    assert user_name_problem(user) is None


@pytest.mark.parametrize(
    "user",
    ["", "x" * 65, "a/b", "a b", " rita", "rita\n", "ritá", "a;b", "a\\b", "a:b"],
)
def test_bad_user_names_are_explained(user):
    problem = user_name_problem(user)
    assert problem is not None
    assert repr(user) in problem
    assert "1-64" in problem
