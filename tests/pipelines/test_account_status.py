"""Admins disable and enable accounts: `mlgov users disable|enable`, enforced at sign-in and on live sessions."""

from __future__ import annotations

import shutil
from pathlib import Path

import polars as pl
import pytest

from governance.errors import PermissionDenied
from lakehouse.schemas import ACCOUNT_STATUS, AUDIT
from pipelines.jobs.access import init_lakehouse
from pipelines.jobs.sessions import resume_session, session_claims, start_session
from pipelines.jobs.users import add_user, authenticate
from tests.cli_harness import Cli
from tests.conftest import ADMIN, context_for

PASSWORD = "correct horse battery staple"
OTHER_ADMIN, MAKER = "bob", "cat"


@pytest.fixture(scope="module")
def home_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """ada (admin, no password), bob (admin) and cat (maker), both with a password."""
    home = tmp_path_factory.mktemp("accounts") / "home"
    ctx = context_for(home)
    init_lakehouse(ctx, admin=ADMIN)
    add_user(ctx, user=OTHER_ADMIN, role="admin", password=PASSWORD, actor=ADMIN)
    add_user(ctx, user=MAKER, role="maker", password=PASSWORD, actor=ADMIN)
    return home


@pytest.fixture
def cli(home_template: Path, tmp_path: Path) -> Cli:
    return Cli(Path(shutil.copytree(home_template, tmp_path / "home")))


def listed(cli: Cli) -> dict[str, dict]:
    return {u["user"]: u for u in cli.json("users", "list")["users"]}


def login(cli: Cli, user: str, *, ok: bool = True) -> str:
    result = cli("login", user, "--password-stdin", input=f"{PASSWORD}\n", ok=ok)
    return result.stderr.strip()


def test_a_disabled_user_cannot_sign_in_until_enabled_and_both_are_audited(cli: Cli) -> None:
    login(cli, MAKER)
    assert listed(cli)[MAKER]["last_sign_in"] is not None
    assert listed(cli)[MAKER]["disabled"] is False

    disabled = cli.json("users", "disable", MAKER, "--actor", ADMIN, "--reason", "left the team")

    assert disabled == {"user": MAKER, "disabled": True, "changed": True}
    assert login(cli, MAKER, ok=False) == "error: your account is disabled: ask an admin to enable it"
    assert listed(cli)[MAKER]["disabled"] is True
    assert listed(cli)[MAKER]["roles"] == ["maker"]  # the roles are kept for when the account comes back
    again = cli.json("users", "disable", MAKER, "--actor", ADMIN, "--reason", "twice")
    assert again["changed"] is False

    assert cli.json("users", "enable", MAKER, "--actor", ADMIN) == {"user": MAKER, "disabled": False, "changed": True}
    login(cli, MAKER)

    ctx = context_for(cli.home)
    audit = ctx.store.read(AUDIT).sort("seq").filter(pl.col("object_id") == MAKER)
    actions = audit.filter(pl.col("action").is_in(["disable_user", "enable_user"]))
    assert actions.select("action", "actor", "reason").rows() == [
        ("disable_user", ADMIN, "left the team"),
        ("enable_user", ADMIN, ""),
    ]
    refused_login = audit.filter((pl.col("action") == "login") & (pl.col("outcome") == "refused"))
    assert "disabled" in refused_login["reason"].item()
    table = ctx.store.read(ACCOUNT_STATUS).sort("seq")
    assert table.select("seq", "user", "change").rows() == [(1, MAKER, "disable"), (2, MAKER, "enable")]


def test_a_live_session_stops_on_its_next_request_once_disabled(cli: Cli) -> None:
    ctx = context_for(cli.home)
    token = start_session(ctx, authenticate(ctx, user=MAKER, password=PASSWORD))
    assert resume_session(ctx, token).user == MAKER

    cli("users", "disable", MAKER, "--actor", OTHER_ADMIN, "--reason", "laptop lost")

    with pytest.raises(PermissionDenied, match="disabled"):
        session_claims(context_for(cli.home), token)
    cli("users", "enable", MAKER, "--actor", OTHER_ADMIN)
    assert session_claims(context_for(cli.home), token).user == MAKER  # not signed out: only held back


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("users", "disable", ADMIN, "--actor", ADMIN, "--reason", "x"), "your own account"),
        (("users", "disable", OTHER_ADMIN, "--actor", MAKER, "--reason", "x"), "may not manage access"),
        (("users", "disable", "nobody", "--actor", ADMIN, "--reason", "x"), "no user 'nobody'"),
        (("users", "disable", MAKER, "--actor", ADMIN, "--reason", " "), "needs a reason"),
    ],
)
def test_refusals_are_one_line_and_disable_nobody(cli: Cli, args: tuple[str, ...], needle: str) -> None:
    cli.refused(*args, needle=needle)

    assert not any(u["disabled"] for u in listed(cli).values())


def test_the_last_active_admin_stays_and_a_disabled_admin_cannot_act(cli: Cli) -> None:
    cli("users", "disable", OTHER_ADMIN, "--actor", ADMIN, "--reason", "on leave")

    cli.refused("users", "enable", OTHER_ADMIN, "--actor", OTHER_ADMIN, needle="bob is disabled")
    cli.refused("users", "disable", ADMIN, "--actor", ADMIN, "--reason", "x", needle="ada is the last active admin")
    assert listed(cli)[ADMIN]["disabled"] is False
    refusals = context_for(cli.home).store.read(AUDIT).filter(pl.col("outcome") == "refused")
    assert "last active admin" in " ".join(refusals["reason"].to_list())


def test_a_lakehouse_that_never_disabled_anyone_has_no_account_status_table(cli: Cli) -> None:
    ctx = context_for(cli.home)

    assert not ctx.store.exists(ACCOUNT_STATUS)  # as a lakehouse of the previous release
    assert all(u["disabled"] is False for u in listed(cli).values())
    login(cli, MAKER)
