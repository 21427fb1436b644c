from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import polars as pl
import pytest
from streamlit.testing.v1 import AppTest

from app.auth import SESSION_KEY
from governance.errors import PermissionDenied
from governance.identity import GENERIC_LOGIN_FAILURE, SignedIn
from governance.roles import Role
from lakehouse.records import access_policy
from lakehouse.schemas import AUDIT
from pipelines.jobs.users import authenticate, list_users, sign_in_external
from tests.app.conftest import MAIN, open_app
from tests.conftest import ADMIN, ANALYST, MAKER, START, FixedClock, Seeded, context_for

PAGE = "views/access.py"
NEW_PASSWORD = "blue-Kettle-42-river"


@pytest.fixture
def home(seeded: Seeded, serve_home: Callable[[Path], None]) -> Path:
    serve_home(seeded.home)
    return seeded.home


def run_as_admin() -> AppTest:
    return open_app(ADMIN, Role.ADMIN, page=PAGE)


def users_table(at: AppTest) -> dict[str, dict[str, object]]:
    table = at.dataframe[0].value
    return {row["user"]: row for row in table.to_dict("records")}


def page_text(at: AppTest) -> str:
    parts = [e.value for kind in ("markdown", "caption", "text", "success", "info", "error") for e in at.get(kind)]
    return "\n".join(str(p) for p in parts)


def submit(at: AppTest, button: str, **fields: str) -> AppTest:
    for key, value in fields.items():
        widgets = [*at.text_input, *at.selectbox, *at.radio]
        next(w for w in widgets if w.key == f"access.{key}").set_value(value)
    return at.button(key=f"access.{button}").click().run()


def test_an_admin_sees_every_user_with_roles_password_and_lock(home: Path) -> None:
    at = run_as_admin()

    assert not at.exception
    assert not at.error
    users = users_table(at)
    assert sorted(users) == ["ada", "aiko", "ana", "maya", "raj", "rita"]
    assert users["rita"]["roles"] == "reviewer"
    assert users["maya"]["has_password"] is False  # the seeded users sign in by SSO only
    assert at.subheader[0].value == "Users · 6"


def test_an_admin_adds_a_user_whose_password_is_never_shown(home: Path) -> None:
    at = run_as_admin()

    at = submit(
        at,
        "add.submit",
        **{"add.user": "noor", "add.role": "reviewer", "add.password": NEW_PASSWORD, "add.confirm": NEW_PASSWORD},
    )

    assert not at.exception
    assert not at.error
    assert any("Added noor as reviewer" in s.value for s in at.success)
    assert users_table(at)["noor"]["roles"] == "reviewer"
    assert users_table(at)["noor"]["has_password"] is True
    assert NEW_PASSWORD not in page_text(at)
    identity = authenticate(context_for(home), user="noor", password=NEW_PASSWORD)
    assert identity.roles == frozenset({Role.REVIEWER})


@pytest.mark.parametrize(
    ("password", "confirm", "says"),
    [
        (NEW_PASSWORD, NEW_PASSWORD + "x", "The two passwords differ"),
        ("short", "short", "password is too short"),
    ],
)
def test_a_refused_new_user_is_one_error_line_and_nothing_is_written(
    home: Path, password: str, confirm: str, says: str
) -> None:
    at = run_as_admin()

    at = submit(
        at, "add.submit", **{"add.user": "noor", "add.role": "maker", "add.password": password, "add.confirm": confirm}
    )

    assert not at.exception
    assert len(at.error) == 1
    assert says in at.error[0].value
    assert "noor" not in users_table(at)
    assert "noor" not in {u.user for u in list_users(context_for(home))}


def test_an_admin_grants_and_revokes_a_role_with_a_reason(home: Path) -> None:
    at = run_as_admin()

    at = submit(
        at,
        "roles.apply",
        **{"roles.user": ANALYST, "roles.role": "reviewer", "roles.change": "grant", "roles.reason": "covers for raj"},
    )

    assert not at.error
    assert users_table(at)[ANALYST]["roles"] == "analyst, reviewer"
    assert any("reviewer granted to ana" in s.value for s in at.success)

    at = submit(
        at,
        "roles.apply",
        **{"roles.user": ANALYST, "roles.role": "reviewer", "roles.change": "revoke", "roles.reason": "raj is back"},
    )

    assert users_table(at)[ANALYST]["roles"] == "analyst"
    assert access_policy(context_for(home).ledger).roles_of(ANALYST) == frozenset({Role.ANALYST})


def test_a_role_change_needs_a_reason(home: Path) -> None:
    at = run_as_admin()

    at = submit(at, "roles.apply", **{"roles.user": ANALYST, "roles.role": "reviewer", "roles.change": "grant"})

    assert [e.value for e in at.error] == ["A reason is required: say why this role changes."]
    assert users_table(at)[ANALYST]["roles"] == "analyst"


def test_no_user_is_preselected_and_acting_on_nobody_says_so(home: Path) -> None:
    at = run_as_admin()
    assert [at.selectbox(key=f"access.{k}.user").value for k in ("roles", "password", "unlock")] == [None] * 3

    at = submit(at, "roles.apply", **{"roles.reason": "promotion season"})
    assert [e.value for e in at.error] == ["Choose the user whose role changes."]
    at = submit(at, "password.submit", **{"password.new": "Quartz-Meadow-For-Tests-7"})
    assert [e.value for e in at.error] == ["Choose the user whose password is reset."]


def test_revoking_the_last_admin_is_refused(home: Path) -> None:
    at = run_as_admin()

    at = submit(
        at,
        "roles.apply",
        **{"roles.user": ADMIN, "roles.role": "admin", "roles.change": "revoke", "roles.reason": "bye"},
    )

    assert len(at.error) == 1
    assert "ada is the last admin" in at.error[0].value
    assert users_table(at)[ADMIN]["roles"] == "admin"


def test_an_admin_resets_a_password(home: Path) -> None:
    at = run_as_admin()

    at = submit(
        at,
        "password.submit",
        **{"password.user": MAKER, "password.new": NEW_PASSWORD, "password.confirm": NEW_PASSWORD},
    )

    assert not at.error
    assert any("Password of maya reset" in s.value for s in at.success)
    assert users_table(at)[MAKER]["has_password"] is True
    assert authenticate(context_for(home), user=MAKER, password=NEW_PASSWORD).user == MAKER


def test_an_admin_unlocks_a_locked_account(home: Path) -> None:
    at = run_as_admin()
    submit(
        at,
        "password.submit",
        **{"password.user": ANALYST, "password.new": NEW_PASSWORD, "password.confirm": NEW_PASSWORD},
    )
    ctx = context_for(home, clock=FixedClock(datetime.now(UTC)))  # the app judges lockouts by the wall clock
    for _ in range(5):
        with pytest.raises(PermissionDenied, match=GENERIC_LOGIN_FAILURE):
            authenticate(ctx, user=ANALYST, password="wrong-guess-1234")

    at = run_as_admin()  # the lockout was committed outside the app: the page sees the commit and reads afresh
    assert users_table(at)[ANALYST]["locked_until"] is not None
    assert any("Locked now\\: ana" in c.value for c in at.caption)
    assert at.selectbox(key="access.unlock.user").value == ANALYST  # locked accounts are offered first

    at = at.button(key="access.unlock.submit").click().run()

    assert not at.error
    assert any("Unlocked ana" in s.value for s in at.success)
    assert users_table(at)[ANALYST]["locked_until"] is None
    assert authenticate(ctx, user=ANALYST, password=NEW_PASSWORD).user == ANALYST


@pytest.mark.parametrize("role", [r for r in Role if r is not Role.ADMIN])
def test_only_admins_may_open_the_page(home: Path, role: Role) -> None:
    page = AppTest.from_file(str(MAIN.parent / "views" / "access.py"), default_timeout=60)
    page.session_state[SESSION_KEY] = SignedIn(user="someone", roles=frozenset({role}))
    page.run()

    assert not page.exception
    assert [e.value.replace("\\", "") for e in page.error] == [
        f"You may not open Access: it needs the admin role, and you hold {role.value}."
    ]
    assert not page.dataframe
    assert not page.button


def test_the_table_shows_each_user_s_last_sign_in_and_status(home: Path) -> None:
    sign_in_external(context_for(home), user="rita", provider="oidc")  # on the seeded clock: START

    at = run_as_admin()

    users = users_table(at)
    assert users["rita"]["last_sign_in"] == START
    assert pd.isna(users["raj"]["last_sign_in"])  # never signed in
    assert {row["status"] for row in users.values()} == {"active"}
    assert at.selectbox(key="access.status.user").value is None  # nobody preselected here either


def test_an_admin_disables_a_user_who_then_cannot_sign_in_and_enables_them_again(home: Path) -> None:
    at = run_as_admin()

    at = submit(at, "status.disable", **{"status.user": "rita", "status.reason": "left the team"})

    assert not at.exception
    assert not at.error
    assert any("rita is disabled" in s.value for s in at.success)
    assert users_table(at)["rita"]["status"] == "disabled"
    assert users_table(at)["rita"]["roles"] == "reviewer"
    assert any("Disabled now\\: rita" in c.value for c in at.caption)
    with pytest.raises(PermissionDenied, match="disabled"):
        sign_in_external(context_for(home), user="rita", provider="oidc")

    at = submit(at, "status.enable", **{"status.user": "rita"})

    assert not at.error
    assert any("rita is enabled" in s.value for s in at.success)
    assert users_table(at)["rita"]["status"] == "active"
    assert sign_in_external(context_for(home), user="rita", provider="oidc").user == "rita"
    audited = context_for(home).store.read(AUDIT).filter(pl.col("object_id") == "rita")["action"].to_list()
    assert {"disable_user", "enable_user"} <= set(audited)


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"status.reason": "why not"}, "Choose the user whose account changes."),
        ({"status.user": "rita"}, "A reason is required: say why this account is disabled."),
        ({"status.user": ADMIN, "status.reason": "testing"}, "ada is the last active admin"),
    ],
)
def test_a_refused_disable_says_why_and_changes_nothing(home: Path, fields: dict[str, str], error: str) -> None:
    at = run_as_admin()

    at = submit(at, "status.disable", **fields)

    assert not at.exception
    assert len(at.error) == 1
    assert error in at.error[0].value.replace("\\", "")
    assert {row["status"] for row in users_table(at).values()} == {"active"}
