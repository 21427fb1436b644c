"""Production moves only when the policy on the governed record is met: not through MLflow, the
environment, MLflow tags anyone can write, or rows written to governance tables behind mlgov's back
(issue #9, items 1-4). Each test is an attack that used to work."""

from __future__ import annotations

import polars as pl
import pytest
from deltalake import DeltaTable, write_deltalake

from lakehouse.schemas import PROMOTIONS
from tests.cli_harness import Cli
from tests.conftest import ADMIN, MAKER, REVIEWER_A, REVIEWER_B, Seeded, context_for

MODEL = "loan_default"
TRAIN = ("train", MODEL, "--table", "loans", "--target", "defaulted", "--algorithm", "logreg")


@pytest.fixture
def cli(seeded: Seeded) -> Cli:
    return Cli(seeded.home)


def _candidate(cli: Cli, *, trainer: str = MAKER) -> tuple[str, str]:
    version = cli.json(*TRAIN, "--actor", trainer)["version"]
    rid = cli.json("promote", "request", MODEL, version, "--actor", MAKER, "--reason", "better")["request_id"]
    return version, rid


def test_moving_the_alias_in_mlflow_serves_nothing_and_is_reported_and_repaired(cli: Cli) -> None:
    version = cli.json(*TRAIN, "--actor", MAKER)["version"]  # never requested, never approved
    registry = context_for(cli.home).registry
    registry.client.set_registered_model_alias(MODEL, "champion", version)  # what MLflow's UI "promote" does

    refusal = cli.refused("score", MODEL, "--table", "applications", "--actor", MAKER, needle="governed record")
    assert f"version {version} in MLflow but version 1" in refusal
    assert cli.json("history", MODEL)["intervals"][-1]["version"] == "1"
    check = cli("registry", "check", "--json", ok=False)
    assert check.exit_code == 1
    assert '"alias"' in check.stdout
    assert f'"registry": "{version}"' in check.stdout
    ctx = context_for(cli.home)
    divergences = ctx.store.read("governance/audit").filter(pl.col("action") == "registry_divergence")
    assert divergences.height >= 2  # the refused scoring and the check

    cli.refused("registry", "reconcile", "--actor", MAKER, needle="may not")
    assert cli.json("registry", "reconcile", "--actor", ADMIN)["restored"] == 1
    assert registry.alias_version(MODEL, "champion") == "1"
    assert cli.json("registry", "check")["ok"]
    assert cli.json("score", MODEL, "--table", "applications", "--actor", MAKER)["model_version"] == "1"


def test_the_quorum_does_not_come_from_the_callers_environment(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    _, rid = _candidate(cli)
    monkeypatch.setenv("MLGOV_REQUIRED_APPROVALS", "1")
    first = cli.json("promote", "approve", rid, "--actor", REVIEWER_A, "--reason", "ok")
    assert (first["status"], first["approvals"], first["required"]) == ("pending", 1, 2)
    assert context_for(cli.home).registry.alias_version(MODEL, "champion") == "1"


def test_the_quorum_changes_only_through_an_audited_admin_policy(cli: Cli) -> None:
    cli.refused(
        "policy", "set", "--tier", "medium", "--approvals", "1", "--actor", MAKER, "--reason", "x", needle="may not"
    )
    changed = cli.json("policy", "set", "--tier", "medium", "--approvals", "1", "--actor", ADMIN, "--reason", "pilot")
    assert (changed["approvals"], changed["previous"]) == (1, 2)
    assert cli.json("policy", "show")["medium"] == 1
    _, rid = _candidate(cli)
    assert cli.json("promote", "approve", rid, "--actor", REVIEWER_A, "--reason", "ok")["status"] == "promoted"


def test_mlflow_tags_do_not_lower_the_tier_or_change_the_trainer(cli: Cli) -> None:
    cli("model", "set", MODEL, "--tier", "high", "--actor", ADMIN)
    cli("access", "grant", REVIEWER_A, "maker", "--actor", ADMIN)
    version, rid = _candidate(cli, trainer=REVIEWER_A)
    client = context_for(cli.home).registry.client
    client.set_registered_model_tag(MODEL, "mlgov.risk_tier", "low")
    client.set_model_version_tag(MODEL, version, "mlgov.trainer", "someone-else")

    cli.refused("promote", "approve", rid, "--actor", REVIEWER_A, "--reason", "mine", needle="trained")
    shown = cli.json("promote", "show", rid)
    assert (shown["request"]["risk_tier"], shown["policy"]["required"]) == ("high", 3)
    assert cli.json("promote", "approve", rid, "--actor", REVIEWER_B, "--reason", "ok")["status"] == "pending"


def test_a_row_appended_behind_mlgovs_back_does_not_count_and_fails_verify(cli: Cli) -> None:
    _, rid = _candidate(cli)
    ctx = context_for(cli.home)
    rows = ctx.store.read(PROMOTIONS).filter(pl.col("request_id") == rid)
    forged = rows.with_columns(kind=pl.lit("approved"), actor=pl.lit(REVIEWER_B), actor_roles=pl.lit("reviewer"))
    write_deltalake(str(ctx.store.path(PROMOTIONS)), forged.to_arrow(), mode="append")

    first = cli.json("promote", "approve", rid, "--actor", REVIEWER_A, "--reason", "ok")
    assert (first["status"], first["approvals"]) == ("pending", 1)  # raj's forged approval is not on the chain
    verify = cli("audit", "verify", "--json", ok=False)
    assert verify.exit_code == 1
    assert "governance/promotions holds 1 chained rows the audit chain does not vouch for" in verify.stdout


def test_a_rejection_deleted_behind_mlgovs_back_still_stands_and_fails_verify(cli: Cli) -> None:
    _, rid = _candidate(cli)
    cli("promote", "reject", rid, "--actor", REVIEWER_A, "--reason", "no")
    table = DeltaTable(str(context_for(cli.home).store.path(PROMOTIONS)))
    table.alter.set_table_properties({"delta.appendOnly": "false"})
    table.delete(f"request_id = '{rid}' AND kind = 'rejected'")

    verify = cli("audit", "verify", "--json", ok=False)
    assert verify.exit_code == 1
    assert "governance/promotions lacks 1 rows" in verify.stdout
    cli.refused("promote", "approve", rid, "--actor", REVIEWER_B, "--reason", "sneak", needle="rejected")
    assert cli.json("promote", "show", rid)["request"]["status"] == "rejected"
    # the next governed write put the row back, and says so
    assert cli.json("audit", "verify")["ok"]
    restored = context_for(cli.home).store.read("governance/audit").filter(pl.col("action") == "restore_projection")
    assert restored["object_id"].to_list() == [PROMOTIONS]


def test_a_forged_governance_record_slipped_into_the_chain_is_refused(cli: Cli) -> None:
    _, rid = _candidate(cli)
    ctx = context_for(cli.home)
    audit = ctx.store.read("governance/audit").sort("seq")
    request_record = audit.filter(pl.col("object_id") == rid).row(0, named=True)
    # a copy of the request's record under a sequence number already taken: not chained
    copy = pl.DataFrame([{**request_record, "event_id": "f" * 32}], schema=audit.schema)
    write_deltalake(str(ctx.store.path("governance/audit")), copy.to_arrow(), mode="append")
    cli.refused("promote", "approve", rid, "--actor", REVIEWER_A, "--reason", "ok", needle="does not vouch")
