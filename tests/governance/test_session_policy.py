from datetime import UTC, datetime, timedelta

import pytest

from governance.roles import Role
from governance.screens import Screen, open_refusal, parse_screen
from governance.sessions import SessionClaims, SessionPolicy, safe_return_path, session_refusal

ISSUED = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
CLAIMS = SessionClaims(session_id="s1", user="rita", issued_at=ISSUED)
POLICY = SessionPolicy(lifetime=timedelta(hours=10))


@pytest.mark.parametrize(
    ("revoked", "now", "expected"),
    [
        ((), ISSUED, None),
        ((), ISSUED + timedelta(hours=9, minutes=59), None),
        ((), ISSUED + timedelta(hours=10), "your session expired at 2026-06-01 19:00 UTC: sign in again"),
        (("s1",), ISSUED + timedelta(minutes=1), "your session was signed out: sign in again"),
        (("s2",), ISSUED + timedelta(minutes=1), None),
        ((), ISSUED - timedelta(hours=1), "your session is not valid: sign in again"),
    ],
)
def test_a_session_holds_until_it_expires_or_is_signed_out(
    revoked: tuple[str, ...], now: datetime, expected: str | None
) -> None:
    assert session_refusal(CLAIMS, revoked=revoked, now=now, policy=POLICY) == expected


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/approvals?request=abc", "/approvals?request=abc"),
        ("/", "/"),
        (None, "/"),
        ("", "/"),
        ("https://evil.example/", "/"),
        ("//evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("/models\nSet-Cookie: x", "/"),
        ("approvals", "/"),
    ],
)
def test_sign_in_returns_only_to_a_path_on_this_server(target: str | None, expected: str) -> None:
    assert safe_return_path(target) == expected


@pytest.mark.parametrize(
    ("roles", "screen", "expected"),
    [
        ({Role.AUDITOR}, Screen.AUDIT, None),
        (
            {Role.ANALYST},
            Screen.AUDIT,
            "you may not open Audit: it needs one of the roles admin, auditor, and you hold analyst",
        ),
        (set(), Screen.ACCESS, "you may not open Access: it needs the admin role, and you hold no role"),
        (
            {Role.MAKER, Role.REVIEWER},
            Screen.ACCESS,
            "you may not open Access: it needs the admin role, and you hold maker, reviewer",
        ),
    ],
)
def test_a_refused_screen_names_the_roles_that_may_open_it(
    roles: set[Role], screen: Screen, expected: str | None
) -> None:
    assert open_refusal(roles, screen) == expected


@pytest.mark.parametrize(
    ("text", "expected"), [("audit", Screen.AUDIT), (" Approvals ", Screen.APPROVALS), ("x", None)]
)
def test_a_link_names_a_screen_by_its_value(text: str, expected: Screen | None) -> None:
    assert parse_screen(text) == expected
