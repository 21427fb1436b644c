"""A disabled account may not act as `--actor` anywhere: each governed command refuses it in one line,
audits the refusal and writes nothing else; enabled again, it acts again."""

from __future__ import annotations

import shutil
from pathlib import Path

import polars as pl
import pytest

from lakehouse.changes import local_change_stamp
from lakehouse.schemas import ACCOUNT_STATUS, AUDIT, RUNS
from tests.cli_harness import Cli
from tests.conftest import ADMIN, ANALYST, MAKER, REVIEWER_A, Seeded, context_for
from tests.review_setup import Pending, pending_template

OTHER_ADMIN = "bob"
PASSWORD = "Tr0ub4dor-9-horse"


@pytest.fixture(scope="module")
def template(seeded_template: Seeded, tmp_path_factory: pytest.TempPathFactory) -> Pending:
    """A lakehouse with a pending request, a second admin, and nobody disabled yet."""
    return pending_template(seeded_template, tmp_path_factory)


@pytest.fixture(scope="module")
def disabled(template: Pending, tmp_path_factory: pytest.TempPathFactory) -> tuple[Cli, Pending]:
    """A copy where bob disabled the maker, a reviewer, the analyst and ada (an admin): every refusal
    below writes nothing but its audit record, so the tests share it."""
    home = Path(shutil.copytree(template.home, tmp_path_factory.mktemp("disabled") / "home"))
    cli = Cli(home)
    cli("access", "grant", OTHER_ADMIN, "admin", "--actor", ADMIN)
    cli("users", "passwd", MAKER, "--actor", ADMIN, "--password-stdin", input=f"{PASSWORD}\n")
    for user in (MAKER, REVIEWER_A, ANALYST, ADMIN):
        cli("users", "disable", user, "--actor", OTHER_ADMIN, "--reason", "left the bank")
    return cli, Pending(home=home, request_id=template.request_id, version=template.version)


def governed(cli: Cli, pending: Pending) -> dict[str, tuple[str, tuple[str, ...]]]:
    """One command of each kind, by the disabled user who would otherwise be allowed it."""
    return {
        "request": (MAKER, ("promote", "request", "loan_default", pending.version, "--reason", "again")),
        "approve": (REVIEWER_A, ("promote", "approve", pending.request_id, "--reason", "fine")),
        "reject": (REVIEWER_A, ("promote", "reject", pending.request_id, "--reason", "no")),
        "ack": (ANALYST, ("alerts", "ack", "no-such-alert")),
        "grant": (ADMIN, ("access", "grant", "zoe", "maker")),
        "add user": (ADMIN, ("users", "add", "zoe", "--role", "maker", "--password-stdin")),
        "rollback": (ADMIN, ("promote", "rollback", "loan_default", "--reason", "x")),
        "policy": (ADMIN, ("model", "set", "loan_default", "--tier", "low")),
        "own password": (MAKER, ("users", "passwd", MAKER, "--password-stdin")),  # the right one, then a new one
    }


def stamp(home: Path) -> dict[str, int | None]:
    settings = context_for(home).settings
    mlflow = Path(settings.tracking_uri.removeprefix("sqlite:///"))
    return local_change_stamp(Path(settings.lakehouse_root), files=[mlflow])


@pytest.mark.parametrize(
    "kind", ["request", "approve", "reject", "ack", "grant", "add user", "rollback", "policy", "own password"]
)
def test_a_disabled_actor_is_refused_in_one_line_audited_and_nothing_else_is_written(
    disabled: tuple[Cli, Pending], kind: str
) -> None:
    cli, pending = disabled
    actor, args = governed(cli, pending)[kind]
    before = stamp(cli.home)

    message = cli.refused(*args, "--actor", actor, input=f"{PASSWORD}\nAn0ther-horse-42\n", needle="")

    assert message == f"error: user {actor} is disabled: an admin runs mlgov users enable {actor}"
    after = stamp(cli.home)
    assert {key for key in after.keys() | before.keys() if after.get(key) != before.get(key)} == {AUDIT, RUNS}
    last = context_for(cli.home).store.read(AUDIT).sort("seq").row(-1, named=True)
    assert (last["actor"], last["outcome"]) == (actor, "refused")
    assert last["reason"] == message.removeprefix("error: ")


def test_a_disabled_admin_cannot_enable_themselves_and_enabled_again_acts_again(
    disabled: tuple[Cli, Pending], tmp_path: Path
) -> None:
    cli = Cli(Path(shutil.copytree(disabled[0].home, tmp_path / "home")))
    request_id = disabled[1].request_id
    cli.refused("users", "enable", ADMIN, "--actor", ADMIN, needle=f"user {ADMIN} is disabled")

    cli("users", "enable", REVIEWER_A, "--actor", OTHER_ADMIN)

    approved = cli.json("promote", "approve", request_id, "--actor", REVIEWER_A, "--reason", "fine")
    assert approved["approved_by"] == [REVIEWER_A]
    cli.refused("promote", "reject", request_id, "--actor", MAKER, "--reason", "x", needle=f"user {MAKER} is disabled")


def test_a_lakehouse_that_never_disabled_anyone_acts_as_before_and_gains_no_table(
    template: Pending, tmp_path: Path
) -> None:
    cli = Cli(Path(shutil.copytree(template.home, tmp_path / "home")))

    approved = cli.json("promote", "approve", template.request_id, "--actor", REVIEWER_A, "--reason", "fine")

    assert approved["approved_by"] == [REVIEWER_A]
    store = context_for(cli.home).store
    assert not store.exists(ACCOUNT_STATUS)
    refusals = store.read(AUDIT).filter(pl.col("outcome") == "refused")
    assert "disabled" not in " ".join(refusals["reason"].to_list())
