"""The prologue every page shares (app/page.py): heading, stopping reads, the no-models notice."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app.auth import SESSION_KEY
from app.components import Outcome, Tone
from app.page import NO_MODELS
from app.text import plain
from governance.identity import SignedIn
from governance.roles import Role
from tests.app.conftest import open_app

OUTCOME_KEY = "test.outcome"
HOSTILE = "no model **loan** [here](http://x) <b>at all</b>"


def shown(at: AppTest) -> list[tuple[str, str]]:
    """The main area's elements, in order, as (type, value)."""
    return [(node.type, str(getattr(node, "value", ""))) for node in at.main.children.values()]


def start_script() -> None:
    import streamlit as st

    from app import page
    from governance.screens import Screen

    visit = page.start(Screen.MODELS, title="A title", caption="A caption", outcome_key="test.outcome")
    st.text(f"{visit.user.user} reads {visit.home}")


def failing_read_script(message: str) -> None:
    import streamlit as st

    from app import page
    from governance.errors import NotFoundError

    st.text("before")
    with page.reading():
        raise NotFoundError(message)
    st.text("after")


def passing_read_script() -> None:
    import streamlit as st

    from app import page

    with page.reading():
        value = "read"
    st.text(value)


def crashing_read_script() -> None:
    from app import page

    with page.reading():
        raise ValueError("a bug, not a refusal")


def models_script(names: list[str]) -> None:
    import streamlit as st

    from app import page

    page.require_models(names)
    st.text("models shown")


def run_start(*roles: Role, outcome: Outcome | None = None) -> AppTest:
    at = AppTest.from_function(start_script, default_timeout=30)
    at.session_state[SESSION_KEY] = SignedIn(user="ana", roles=frozenset(roles))
    if outcome is not None:
        at.session_state[OUTCOME_KEY] = outcome
    return at.run()


def test_start_shows_the_heading_and_outcome_in_order_and_returns_the_user_and_lakehouse(
    empty_home: Path, serve_home: Callable[[Path], None]
) -> None:
    serve_home(empty_home)

    at = run_start(Role.ANALYST, outcome=Outcome(Tone.SUCCESS, "Done."))

    assert not at.exception
    assert shown(at) == [
        ("title", "A title"),
        ("caption", "A caption"),
        ("success", "Done\\."),
        ("text", f"ana reads {empty_home}"),
    ]


def test_start_refuses_a_role_that_may_not_open_the_screen_before_any_heading(
    empty_home: Path, serve_home: Callable[[Path], None]
) -> None:
    serve_home(empty_home)
    at = AppTest.from_function(start_script, default_timeout=30)  # nobody signed in
    at.run()
    assert shown(at) == [("error", "Sign in first.")]

    at = run_start()  # signed in, but with no role that may open the Models page

    assert not at.exception
    assert [kind for kind, _ in shown(at)] == ["error"]
    assert "You may not open Models: it needs" in at.error[0].value.replace("\\", "")


def test_start_without_a_lakehouse_shows_the_heading_then_one_error_line_and_stops(
    tmp_path: Path, serve_home: Callable[[Path], None]
) -> None:
    serve_home(tmp_path / "nowhere")

    at = run_start(Role.ANALYST)

    assert not at.exception
    assert [kind for kind, _ in shown(at)] == ["title", "caption", "error"]
    message = at.error[0].value
    assert "no lakehouse at" in message
    assert "nowhere" in message
    assert len(message.splitlines()) == 1


def test_a_failed_read_is_one_error_line_as_typed_and_stops_the_page() -> None:
    at = AppTest.from_function(failing_read_script, default_timeout=30, args=(HOSTILE,)).run()

    assert not at.exception
    assert shown(at) == [("text", "before"), ("error", plain(HOSTILE))]


def test_a_read_that_succeeds_lets_the_page_carry_on() -> None:
    at = AppTest.from_function(passing_read_script, default_timeout=30).run()

    assert not at.exception
    assert shown(at) == [("text", "read")]


def test_a_read_hides_no_bug_behind_an_error_line() -> None:
    at = AppTest.from_function(crashing_read_script, default_timeout=30).run()

    assert not at.error
    assert len(at.exception) == 1  # its details are redacted by .streamlit/config.toml


@pytest.mark.parametrize(
    ("names", "expected"),
    [([], [("info", NO_MODELS)]), (["loan_default"], [("text", "models shown")])],
)
def test_the_no_models_notice_stops_only_an_empty_page(names: list[str], expected: list[tuple[str, str]]) -> None:
    at = AppTest.from_function(models_script, default_timeout=30, args=(names,)).run()

    assert not at.exception
    assert shown(at) == expected


@pytest.mark.parametrize("view", ["overview", "models", "drift", "performance"])
def test_every_page_of_models_shows_the_same_notice_in_an_empty_lakehouse(
    view: str, empty_home: Path, serve_home: Callable[[Path], None]
) -> None:
    serve_home(empty_home)

    at = open_app("ana", Role.ANALYST, page=f"views/{view}.py")

    assert not at.exception
    assert not at.error
    assert [info.value for info in at.info] == [NO_MODELS]
    assert not at.selectbox
    assert not at.dataframe
