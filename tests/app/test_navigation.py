"""Sign-in and role-based navigation: pages a role may not open are absent and refused by URL."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app.auth import SESSION_KEY
from governance.identity import SignedIn
from governance.roles import Role
from governance.screens import SCREEN_ROLES, Screen, open_refusal
from tests.app.conftest import MAIN, open_app
from tests.conftest import Seeded


def test_nobody_signed_in_sees_only_the_sign_in_form(seeded: Seeded, serve_home: Callable[[Path], None]) -> None:
    serve_home(seeded.home)
    at = open_app(None)
    assert not at.exception
    assert at.title[0].value == "Sign in to mlgov"
    assert not at.text_input  # the form is the server's own page, which can set the session cookie
    assert "(/signin?next=%2F)" in at.markdown[0].value


@pytest.mark.parametrize("role", list(Role))
def test_each_role_sees_only_its_pages_and_each_page_refuses_other_roles(
    seeded: Seeded, serve_home: Callable[[Path], None], role: Role
) -> None:
    serve_home(seeded.home)
    forbidden = [s for s in Screen if role not in SCREEN_ROLES[s]]
    at = open_app("someone", role)
    assert not at.exception
    for screen in forbidden:  # a link to one opens it, and it refuses with its reason instead of "not found"
        at.switch_page(f"views/{screen.value}.py").run()
        assert [e.value.replace("\\", "") for e in at.error] == [f"Y{str(open_refusal({role}, screen))[1:]}."], (
            role,
            screen,
        )
    for screen in forbidden:  # and the page itself refuses, whoever reaches its script
        page = AppTest.from_file(str(MAIN.parent / "views" / f"{screen.value}.py"), default_timeout=60)
        page.session_state[SESSION_KEY] = SignedIn(user="someone", roles=frozenset({role}))
        page.run()
        assert any("may not open" in e.value for e in page.error), (role, screen)
