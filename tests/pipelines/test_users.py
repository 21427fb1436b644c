"""Local accounts end to end: the mlgov users / login commands, lockout over time, the audit trail."""

from __future__ import annotations

import json
import shutil
from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest
from argon2 import PasswordHasher
from click.testing import Result

from governance.errors import InputError, PermissionDenied
from governance.identity import GENERIC_LOGIN_FAILURE
from governance.roles import GrantChange, Role
from lakehouse.accounts import credentials_of, hash_scrypt
from lakehouse.delta import CommitInfo
from lakehouse.schemas import ACCESS, AUDIT, CREDENTIALS
from pipelines.jobs.access import change_role, init_lakehouse
from pipelines.jobs.users import add_user, authenticate, set_password, sign_in_external, unlock_user
from tests.cli_harness import Cli as BaseCli
from tests.conftest import ADMIN, MAKER, START, FixedClock, context_for

PASSWORD = "correct horse battery staple"
OTHER = "a different long passphrase"
USER = "rita"


class Cli(BaseCli):
    def add(self, user: str = USER, role: str = "reviewer", password: str = PASSWORD, actor: str = ADMIN) -> Result:
        return self("users", "add", user, "--role", role, "--actor", actor, "--password-stdin", input=f"{password}\n")

    def login(self, user: str = USER, password: str = PASSWORD, *, ok: bool = True) -> Result:
        return self("login", user, "--password-stdin", input=f"{password}\n", ok=ok)


@pytest.fixture(scope="module")
def home_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A lakehouse with only its first admin; initialising one costs seconds, copying it does not."""
    home = tmp_path_factory.mktemp("users") / "home"
    init_lakehouse(context_for(home), admin=ADMIN)
    return home


@pytest.fixture
def home(home_template: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(home_template, tmp_path / "home"))


@pytest.fixture
def cli(home: Path) -> Cli:
    return Cli(home)


def audit_of(home: Path, **where: str) -> pl.DataFrame:
    audit = context_for(home).store.read(AUDIT).sort("seq")
    for column, value in where.items():
        audit = audit.filter(pl.col(column) == value)
    return audit


def users_listed(cli: Cli) -> dict[str, dict]:
    return {u["user"]: u for u in json.loads(cli("users", "list", "--json").stdout)["users"]}


def assert_no_secret_in_audit(home: Path, *secrets: str) -> None:
    text = context_for(home).store.read(AUDIT).write_csv()
    assert "scrypt$" not in text
    assert "$argon2" not in text
    for secret in secrets:
        assert secret not in text


# --- adding users ------------------------------------------------------------------------------


def test_an_admin_adds_a_user_who_can_then_sign_in(cli: Cli) -> None:
    assert cli.add().stdout.strip() == f"user {USER} added with role reviewer"
    assert cli.login().stdout.strip() == f"signed in as {USER} (reviewer)"

    listed = users_listed(cli)
    assert listed[USER].pop("last_sign_in") is not None
    assert listed[USER] == {
        "user": USER,
        "roles": ["reviewer"],
        "has_password": True,
        "locked": False,
        "locked_until": None,
        "disabled": False,
    }
    assert listed[ADMIN]["has_password"] is False
    assert "scrypt" not in cli("users", "list").stdout

    actions = audit_of(cli.home, object_id=USER)["action"].to_list()
    assert actions == ["add_user", "grant_role", "login"] or actions == ["grant_role", "add_user", "login"]
    assert_no_secret_in_audit(cli.home, PASSWORD)


def test_adding_through_the_hidden_prompt_keeps_json_output_clean(cli: Cli) -> None:
    result = cli("users", "add", USER, "--role", "maker", "--actor", ADMIN, "--json", input=f"{PASSWORD}\n{PASSWORD}\n")
    assert json.loads(result.stdout) == {"user": USER, "role": "maker", "granted": True}
    assert PASSWORD not in result.stdout + result.stderr
    assert json.loads(cli("login", USER, "--json", input=f"{PASSWORD}\n").stdout) == {"user": USER, "roles": ["maker"]}


def test_only_admins_add_users_and_the_refusal_is_audited(cli: Cli) -> None:
    cli("access", "grant", MAKER, "maker", "--actor", ADMIN)
    cli.refused(
        "users", "add", "zoe", "--role", "admin", "--actor", MAKER, "--password-stdin", input=f"{PASSWORD}\n",
        needle="may not manage access",
    )  # fmt: skip
    refused = audit_of(cli.home, actor=MAKER, outcome="refused")
    assert refused["object_id"].to_list() == ["zoe"]
    assert not context_for(cli.home).store.exists(CREDENTIALS)
    assert "zoe" not in users_listed(cli)


@pytest.mark.parametrize(
    ("user", "password", "needle"),
    [
        (USER, "short pw", "too short"),
        (USER, "rita is my name!", "user name"),
        (USER, "aaaaaaaaaaaaaaaa", "too repetitive"),
        ("bad name", PASSWORD, "not valid"),
    ],
)
def test_a_refused_password_or_name_is_one_line_and_writes_nothing(cli: Cli, user, password, needle) -> None:
    store = context_for(cli.home).store
    before = (store.version(ACCESS), store.version(AUDIT))
    message = cli.refused(
        "users", "add", user, "--role", "reviewer", "--actor", ADMIN, "--password-stdin", input=f"{password}\n",
        needle=needle,
    )  # fmt: skip
    assert password not in message
    assert not store.exists(CREDENTIALS)
    assert (store.version(ACCESS), store.version(AUDIT)) == before


def test_a_user_with_a_password_cannot_be_added_again(cli: Cli) -> None:
    cli.add()
    cli.refused(
        "users", "add", USER, "--role", "maker", "--actor", ADMIN, "--password-stdin", input=f"{OTHER}\n",
        needle="already has a password",
    )  # fmt: skip
    cli.login()


def test_no_line_on_stdin_is_refused(cli: Cli) -> None:
    cli.refused("users", "add", USER, "--role", "maker", "--actor", ADMIN, "--password-stdin", input="", needle="stdin")


# --- signing in --------------------------------------------------------------------------------


def test_wrong_password_and_unknown_user_get_the_same_line_and_are_audited(cli: Cli) -> None:
    cli.add()
    wrong = cli.refused("login", USER, "--password-stdin", input="not the password at all\n", needle="invalid")
    unknown = cli.refused("login", "nobody", "--password-stdin", input=f"{PASSWORD}\n", needle="invalid")
    invalid = cli.refused("login", "no such name!", "--password-stdin", input=f"{PASSWORD}\n", needle="invalid")
    assert wrong == unknown == invalid == f"error: {GENERIC_LOGIN_FAILURE}"

    refusals = audit_of(cli.home, action="login", outcome="refused")
    assert refusals.select("actor", "reason").rows() == [
        (USER, "wrong password"),
        ("nobody", "unknown user"),
        ("(invalid user name)", "invalid user name"),
    ]
    assert_no_secret_in_audit(cli.home, PASSWORD, "not the password at all")


def test_a_user_with_roles_but_no_password_cannot_sign_in(cli: Cli) -> None:
    cli("access", "grant", MAKER, "maker", "--actor", ADMIN)
    cli.refused("login", MAKER, "--password-stdin", input=f"{PASSWORD}\n", needle=GENERIC_LOGIN_FAILURE)
    assert audit_of(cli.home, action="login", actor=MAKER)["reason"].to_list() == ["user has no password"]


def test_five_failures_lock_the_account_until_an_admin_unlocks_it(cli: Cli) -> None:
    cli.add()
    for _ in range(5):
        cli.refused("login", USER, "--password-stdin", input=f"{OTHER}\n", needle=GENERIC_LOGIN_FAILURE)
    message = cli.refused("login", USER, "--password-stdin", input=f"{PASSWORD}\n", needle="account locked until")
    assert message.endswith(" UTC")
    assert users_listed(cli)[USER]["locked"] is True
    assert audit_of(cli.home, action="lock_account")["object_id"].to_list() == [USER]

    cli.refused("users", "unlock", USER, "--actor", USER, needle="may not manage access")
    assert cli("users", "unlock", USER, "--actor", ADMIN).stdout.strip() == f"unlocked {USER}"
    assert cli("users", "unlock", USER, "--actor", ADMIN).stdout.strip() == f"nothing to do: {USER} is not locked"
    cli.login()
    assert audit_of(cli.home, action="unlock_account")["actor"].to_list() == [ADMIN]
    assert_no_secret_in_audit(cli.home, PASSWORD, OTHER)


def test_unknown_names_lock_like_real_ones(cli: Cli) -> None:
    for _ in range(5):
        cli.refused("login", "ghost", "--password-stdin", input=f"{PASSWORD}\n", needle=GENERIC_LOGIN_FAILURE)
    cli.refused("login", "ghost", "--password-stdin", input=f"{PASSWORD}\n", needle="account locked")
    assert "ghost" not in users_listed(cli)


# --- changing passwords ------------------------------------------------------------------------


def test_users_change_their_own_password_with_the_current_one(cli: Cli) -> None:
    cli.add()
    changed = cli("users", "passwd", USER, "--actor", USER, "--password-stdin", input=f"{PASSWORD}\n{OTHER}\n")
    assert changed.stdout.strip() == f"password changed for {USER}"
    cli.refused("login", USER, "--password-stdin", input=f"{PASSWORD}\n", needle=GENERIC_LOGIN_FAILURE)
    cli.login(password=OTHER)

    cli.refused(
        "users", "passwd", USER, "--actor", USER, "--password-stdin", input=f"wrong current one\n{PASSWORD}\n",
        needle=GENERIC_LOGIN_FAILURE,
    )  # fmt: skip
    assert audit_of(cli.home, action="set_password")["reason"].to_list() == ["changed by the user"]


def test_only_admins_reset_someone_elses_password(cli: Cli) -> None:
    cli.add()
    cli("access", "grant", MAKER, "maker", "--actor", ADMIN)
    cli.refused(
        "users",
        "passwd",
        USER,
        "--actor",
        MAKER,
        "--password-stdin",
        input=f"{OTHER}\n",
        needle="may not manage access",
    )
    assert cli("users", "passwd", USER, "--actor", ADMIN, "--password-stdin", input=f"{OTHER}\n").stdout.strip() == (
        f"password reset for {USER}"
    )
    cli.login(password=OTHER)
    cli.refused("users", "passwd", "nobody", "--actor", ADMIN, "--password-stdin", input=f"{OTHER}\n", needle="no user")


# --- password hashes: Argon2id, and the upgrade of older ones -----------------------------------


def stored_hash(home: Path, user: str = USER) -> str:
    stored = credentials_of(context_for(home).store, user=user).password_hash
    assert stored is not None
    return stored


def write_hash(home: Path, stored: str, *, user: str = USER) -> None:
    """An account as an earlier release left it: a password_set row with `stored`, written directly."""
    store = context_for(home).store
    seq = credentials_of(store, user=user).next_seq
    row = {
        "user": user,
        "seq": seq,
        "kind": "password_set",
        "secret_hash": stored,
        "actor": ADMIN,
        "at": START,
        "run_id": "r",
    }
    # Not through credential_frame, which would refuse a malformed hash: this is what tampering leaves.
    store.append(CREDENTIALS, pl.DataFrame([row]), commit=CommitInfo(run_id="r", job="previous release", actor=ADMIN))


def test_new_and_changed_passwords_are_stored_as_argon2id(cli: Cli) -> None:
    cli.add()
    added = stored_hash(cli.home)
    assert added.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    cli("users", "passwd", USER, "--actor", ADMIN, "--password-stdin", input=f"{OTHER}\n")
    reset = stored_hash(cli.home)
    assert reset.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert reset != added


def test_a_current_argon2id_hash_is_not_rehashed_at_sign_in(cli: Cli) -> None:
    cli.add()
    before = stored_hash(cli.home)
    cli.login()
    assert stored_hash(cli.home) == before
    assert audit_of(cli.home, action="set_password").is_empty()


def test_an_old_scrypt_hash_signs_in_and_is_replaced_by_argon2id(cli: Cli) -> None:
    cli("access", "grant", USER, "reviewer", "--actor", ADMIN)
    old = hash_scrypt(PASSWORD)
    write_hash(cli.home, old)

    assert cli.login().stdout.strip() == f"signed in as {USER} (reviewer)"
    new = stored_hash(cli.home)
    assert new.startswith("$argon2id$")
    rows = context_for(cli.home).store.read(CREDENTIALS).filter(pl.col("user") == USER).sort("seq")
    assert rows["kind"].to_list() == ["password_set", "login_succeeded", "password_set"]
    assert rows["secret_hash"].to_list() == [old, "", new]  # appended; the old row is not updated

    rehash = audit_of(cli.home, action="set_password")
    assert rehash.select("actor", "object_id", "outcome", "reason").rows() == [
        (USER, USER, "ok", "rehashed at sign-in")
    ]
    details = json.loads(rehash["details"][0])
    assert (details["from"], details["to"]) == (f"scrypt n={2**14},r=8,p=1", "argon2id m=19456,t=2,p=1")
    assert_no_secret_in_audit(cli.home, PASSWORD, old, new, *old.split("$")[-2:], *new.split("$")[-2:])

    # The same password still works, now against the Argon2id hash, which is not rehashed again.
    cli.login()
    assert stored_hash(cli.home) == new
    assert len(audit_of(cli.home, action="set_password")) == 1
    cli.refused("login", USER, "--password-stdin", input=f"{OTHER}\n", needle=GENERIC_LOGIN_FAILURE)


def test_an_argon2id_hash_with_outdated_costs_is_rehashed_at_sign_in(cli: Cli) -> None:
    cli("access", "grant", USER, "reviewer", "--actor", ADMIN)
    write_hash(cli.home, PasswordHasher(time_cost=3, memory_cost=65536, parallelism=4).hash(PASSWORD))
    cli.login()
    assert stored_hash(cli.home).startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    details = json.loads(audit_of(cli.home, action="set_password")["details"][0])
    assert (details["from"], details["to"]) == ("argon2id m=65536,t=3,p=4", "argon2id m=19456,t=2,p=1")
    cli.login()


def test_no_rehash_without_a_successful_sign_in(cli: Cli) -> None:
    cli("access", "grant", USER, "reviewer", "--actor", ADMIN)
    old = hash_scrypt(PASSWORD)
    write_hash(cli.home, old)
    cli.refused("login", USER, "--password-stdin", input=f"{OTHER}\n", needle=GENERIC_LOGIN_FAILURE)
    assert stored_hash(cli.home) == old
    # The right password, but no roles left: the sign-in is refused, and the hash is left alone.
    cli("access", "revoke", USER, "reviewer", "--actor", ADMIN)
    cli.refused("login", USER, "--password-stdin", input=f"{PASSWORD}\n", needle="holds no roles")
    assert stored_hash(cli.home) == old
    assert audit_of(cli.home, action="set_password").is_empty()


def test_a_wrong_password_against_an_argon2id_hash_is_refused_and_counts_towards_a_lockout(cli: Cli) -> None:
    cli.add()
    assert stored_hash(cli.home).startswith("$argon2id$")
    for _ in range(5):
        cli.refused("login", USER, "--password-stdin", input=f"{OTHER}\n", needle=GENERIC_LOGIN_FAILURE)
    cli.refused("login", USER, "--password-stdin", input=f"{PASSWORD}\n", needle="account locked until")
    reasons = audit_of(cli.home, action="login", outcome="refused")["reason"].to_list()
    assert reasons[:5] == ["wrong password"] * 5


@pytest.mark.parametrize(
    "stored",
    [
        "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$garbage!",
        "$argon2id$v=19$m=4194304,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$" + "A" * 43,
    ],
    ids=["garbled", "hostile-cost"],
)
def test_a_malformed_stored_hash_is_one_clear_line(cli: Cli, stored: str) -> None:
    cli("access", "grant", USER, "reviewer", "--actor", ADMIN)
    write_hash(cli.home, stored)
    message = cli.refused(
        "login", USER, "--password-stdin", input=f"{PASSWORD}\n", needle="an admin must reset the password"
    )
    assert (
        message
        == "error: a stored password hash is not a valid scrypt hash or Argon2id hash; an admin must reset the password"
    )
    assert PASSWORD not in message
    # The admin's reset is the way out, and it stores Argon2id.
    cli("users", "passwd", USER, "--actor", ADMIN, "--password-stdin", input=f"{OTHER}\n")
    cli.login(password=OTHER)
    assert stored_hash(cli.home).startswith("$argon2id$")


# --- time-based lockout, through the functions with a settable clock ---------------------------


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture
def ctx(home: Path, clock: FixedClock):
    ctx = context_for(home, clock=clock)
    add_user(ctx, user=USER, role="reviewer", password=PASSWORD, actor=ADMIN)
    return ctx


def fail(ctx, times: int = 1) -> str:
    message = ""
    for _ in range(times):
        with pytest.raises(PermissionDenied) as caught:
            authenticate(ctx, user=USER, password=OTHER)
        message = str(caught.value)
    return message


def test_a_lockout_expires_after_fifteen_minutes(ctx, clock: FixedClock) -> None:
    assert fail(ctx, 5) == GENERIC_LOGIN_FAILURE  # all at the instant the user was added
    clock.at = START + timedelta(minutes=14, seconds=59)
    with pytest.raises(PermissionDenied, match="account locked until 00:15 UTC"):
        authenticate(ctx, user=USER, password=PASSWORD)
    clock.at = START + timedelta(minutes=15)
    assert authenticate(ctx, user=USER, password=PASSWORD).roles == frozenset({Role.REVIEWER})


def test_failures_spread_beyond_the_window_never_lock(ctx, clock: FixedClock) -> None:
    for minute in range(0, 50, 5):
        clock.at = START + timedelta(minutes=minute)
        assert fail(ctx) == GENERIC_LOGIN_FAILURE
    assert authenticate(ctx, user=USER, password=PASSWORD).user == USER


def test_a_success_starts_the_count_afresh(ctx) -> None:
    fail(ctx, 4)
    authenticate(ctx, user=USER, password=PASSWORD)
    fail(ctx, 4)
    assert authenticate(ctx, user=USER, password=PASSWORD).user == USER


def test_an_admin_reset_ends_a_lockout(ctx, clock: FixedClock) -> None:
    fail(ctx, 5)
    clock.at = START + timedelta(minutes=1)
    set_password(ctx, user=USER, password=OTHER, actor=ADMIN)
    assert authenticate(ctx, user=USER, password=OTHER).user == USER


def test_a_locked_user_cannot_change_their_own_password(ctx) -> None:
    fail(ctx, 5)
    with pytest.raises(PermissionDenied, match="account locked"):
        set_password(ctx, user=USER, password="yet another passphrase", actor=USER, current_password=PASSWORD)
    with pytest.raises(InputError, match="current password"):
        set_password(ctx, user=USER, password="yet another passphrase", actor=USER)


def test_unlock_forgives_failures_below_the_threshold(ctx) -> None:
    fail(ctx, 4)
    assert unlock_user(ctx, user=USER, actor=ADMIN).changed is True
    fail(ctx, 4)
    assert authenticate(ctx, user=USER, password=PASSWORD).user == USER


def test_revoking_every_role_stops_sign_in(ctx) -> None:
    change_role(ctx, user=USER, role="reviewer", change=GrantChange.REVOKE, actor=ADMIN)
    with pytest.raises(PermissionDenied, match="holds no roles"):
        authenticate(ctx, user=USER, password=PASSWORD)


def test_single_sign_on_maps_roles_through_the_same_access_policy(ctx) -> None:
    assert sign_in_external(ctx, user=USER, provider="oidc").roles == frozenset({Role.REVIEWER})
    with pytest.raises(PermissionDenied, match="holds no roles"):
        sign_in_external(ctx, user="stranger@example.com", provider="oidc")
    logins = audit_of(ctx.settings.home, action="login")
    assert logins.select("actor", "outcome").rows() == [(USER, "ok"), ("stranger@example.com", "refused")]
    assert json.loads(logins["details"][0])["method"] == "oidc"


def test_an_old_scrypt_hash_upgraded_after_failures_keeps_the_lockout_rules(ctx) -> None:
    write_hash(ctx.settings.home, hash_scrypt(PASSWORD))  # a later password_set than add_user's
    fail(ctx, 4)
    assert authenticate(ctx, user=USER, password=PASSWORD).user == USER
    assert stored_hash(ctx.settings.home).startswith("$argon2id$")
    fail(ctx, 4)
    assert authenticate(ctx, user=USER, password=PASSWORD).user == USER
    assert fail(ctx, 5) == GENERIC_LOGIN_FAILURE
    with pytest.raises(PermissionDenied, match="account locked until"):
        authenticate(ctx, user=USER, password=PASSWORD)
