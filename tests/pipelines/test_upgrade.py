"""Upgrading a lakehouse made by mlgov 0.1 (tests/fixtures/home-0.1.tar.gz, built by
tests/fixtures/make_home_0_1.sh): refused until an admin runs mlgov migrate, then the same governance
state on the audit chain, and the governed loop goes on."""

from __future__ import annotations

import json
import sqlite3
import tarfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from governance.errors import PolicyViolation
from governance.promotion import PromotionEvent, PromotionEventKind, PromotionRequest, PromotionStatus, fold_requests
from governance.roles import AccessPolicy, GrantChange, GrantEvent, Role, fold_grants
from lakehouse.records import access_policy, promotion_events
from lakehouse.schemas import ACCESS, ALIASES, AUDIT, EVIDENCE, POLICIES, PROMOTIONS, VERSIONS
from pipelines.context import NOT_MIGRATED, Context, build_context
from pipelines.jobs.access import change_role
from pipelines.jobs.users import authenticate
from pipelines.reads.governed import alias_holders, approval_policy, model_settings
from pipelines.reads.versions import version_recipe
from tests.cli_harness import Cli

FIXTURE = Path(__file__).parents[1] / "fixtures" / "home-0.1.tar.gz"
ADMIN = "ada"
RITA_PASSWORD = "fixture-secret-0.1"  # set by make_home_0_1.sh
LEGACY = (ACCESS, PROMOTIONS, ALIASES, EVIDENCE)
# (mlflow table, column) pairs holding absolute artifact paths, where this MLflow has them
_MLFLOW_PATHS = (
    ("experiments", "artifact_location"),
    ("runs", "artifact_uri"),
    ("model_versions", "source"),
    ("model_versions", "storage_location"),
    ("logged_models", "artifact_location"),
)


def extract_home(archive: Path, into: Path) -> Path:
    """Unpack a packed home into `into`/home and point its MLflow database at the files there.

    MLflow's database keeps the absolute paths the home was built at; they are rewritten (the model
    files themselves, and so their digests, are left as they are)."""
    with tarfile.open(archive) as packed:
        packed.extractall(into, filter="data")
    home = into / "home"
    with sqlite3.connect(home / "mlflow.db") as db:
        (location,) = db.execute("SELECT artifact_location FROM experiments WHERE name LIKE 'mlgov/%'").fetchone()
        built_at = Path(location.removeprefix("file://").partition("/artifacts/")[0]).parent
        tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        for table, column in _MLFLOW_PATHS:
            if table in tables and column in {row[1] for row in db.execute(f"PRAGMA table_info({table})")}:
                db.execute(
                    f"UPDATE {table} SET {column} = replace({column}, ?, ?)",
                    (f"{built_at}/", f"{into}/"),
                )
    return home


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return extract_home(FIXTURE, tmp_path)


def context(home: Path, **environ: str) -> Context:
    return build_context({"MLGOV_HOME": str(home), **environ}, cwd=home)


def legacy_tables(home: Path) -> dict[str, pl.DataFrame]:
    return {table: pl.read_delta(str(home / "lakehouse" / table)) for table in LEGACY}


def legacy_state(home: Path) -> tuple[AccessPolicy, dict[str, PromotionRequest], dict[str, dict[str, str]]]:
    """Roles, requests and alias holders as 0.1 read them from its tables (rows in no order: sorted)."""
    tables = legacy_tables(home)
    grants = tables[ACCESS].sort("seq", "at")
    policy = fold_grants(GrantEvent(r["user"], Role(r["role"]), GrantChange(r["change"])) for r in grants.to_dicts())
    rank = {kind.value: i for i, kind in enumerate(PromotionEventKind)}
    events = sorted(tables[PROMOTIONS].to_dicts(), key=lambda r: (r["at"], rank[r["kind"]]))
    requests = fold_requests(
        PromotionEvent(
            request_id=r["request_id"],
            kind=PromotionEventKind(r["kind"]),
            model=r["model"],
            version=r["version"],
            actor=r["actor"],
            at=r["at"],
            reason=r["reason"],
            alias=r["alias"],
            trainer=r["trainer"],
            subject_hash=r["subject_hash"],
            actor_roles=frozenset(Role(x) for x in r["actor_roles"].split(",") if x),
        )
        for r in events
    )
    holders: dict[str, dict[str, str]] = {}
    for move in tables[ALIASES].sort("at").to_dicts():
        holders.setdefault(move["model"], {})[move["alias"]] = move["version"]
    return policy, requests, holders


def test_a_0_1_lakehouse_is_refused_until_its_admin_migrates_it_once(home: Path) -> None:
    cli = Cli(home)
    for command in (("history", "loan_default"), ("access", "grant", "zoe", "maker", "--actor", ADMIN)):
        assert cli.refused(*command, needle=NOT_MIGRATED) == f"error: {NOT_MIGRATED}"
    ctx = context(home, MLGOV_REQUIRED_APPROVALS="3")
    with pytest.raises(PolicyViolation, match=NOT_MIGRATED):  # a job called directly: authorize
        change_role(ctx, user="zoe", role="maker", change=GrantChange.GRANT, actor=ADMIN)
    with pytest.raises(PolicyViolation, match=NOT_MIGRATED):  # the app's sign-in
        authenticate(ctx, user="rita", password=RITA_PASSWORD)
    assert cli.json("audit", "verify")["ok"] is True  # the trail itself needs no migration

    cli.refused("migrate", "--actor", "maya", needle="maya is not an admin of this lakehouse (admins: ada)")
    refusal = ctx.store.read(AUDIT).sort("seq").row(-1, named=True)
    assert (refusal["action"], refusal["actor"], refusal["outcome"]) == ("migrate", "maya", "refused")

    before = {table: frame.height for table, frame in legacy_tables(home).items()}
    from pipelines.jobs.migrate import migrate_lakehouse

    result = migrate_lakehouse(ctx, actor=ADMIN).document()
    assert result["migrated"] == {
        "access": before[ACCESS],
        "promotions": before[PROMOTIONS],
        "aliases": before[ALIASES],
        "evidence": before[EVIDENCE],
        "versions": 3,
        "policies": 2 + 3,  # loan_default's tier and purpose; the approvals of three tiers
    }
    assert [(s["model"], s["version"]) for s in result["skipped_versions"]] == [("handmade", "1")]
    assert "not trained by mlgov" in result["skipped_versions"][0]["reason"]
    record = ctx.store.read(AUDIT).filter(pl.col("seq") == result["audit_seq"]).row(0, named=True)
    details = json.loads(record["details"])
    assert (record["action"], record["actor"], details["migrated"]) == ("migrate", ADMIN, True)
    assert {table: len(rows) for table, rows in details["governed"].items()} == {
        f"governance/{table}": n for table, n in result["migrated"].items()
    }
    # MLGOV_REQUIRED_APPROVALS, as 0.1 read it, became the approval policy on the chain
    assert {tier.value: n for tier, n in approval_policy(context(home)).items()} == {"low": 2, "medium": 3, "high": 4}

    assert cli.refused("migrate", "--actor", ADMIN, needle="nothing to migrate").endswith(
        "already migrated, or made by a release after 0.1)"
    )
    assert authenticate(context(home), user="rita", password=RITA_PASSWORD).roles == {Role.REVIEWER}


def test_migration_carries_what_the_0_1_tables_and_tags_said(home: Path) -> None:
    roles, requests, holders = legacy_state(home)
    heights = {table: frame.height for table, frame in legacy_tables(home).items()}
    cli = Cli(home)
    cli.json("migrate", "--actor", ADMIN)
    ctx = context(home)

    assert access_policy(ctx.ledger) == roles
    assert roles.users_with(Role.ADMIN) == (ADMIN,)
    assert roles.roles_of("omar") == {Role.MAKER}
    assert fold_requests(promotion_events(ctx.ledger)) == requests
    assert sorted(r.status for r in requests.values()) == [PromotionStatus.PROMOTED] * 2 + [PromotionStatus.REJECTED]
    assert alias_holders(ctx) == holders == {"loan_default": {"champion": "1"}}  # rolled back from v2
    intervals = cli.json("history", "loan_default")["intervals"]
    assert [(i["version"], i["kind"]) for i in intervals] == [
        ("1", "promoted"),
        ("2", "promoted"),
        ("1", "rolled_back"),
    ]
    assert model_settings(ctx) == {"loan_default": {"risk_tier": "medium", "purpose": "Decide loan applications"}}
    for info in ctx.registry.versions("loan_default"):
        recipe, tags = version_recipe(ctx, "loan_default", info.version), info.tags
        assert (recipe.trainer, recipe.table, str(recipe.table_version), recipe.target, recipe.algorithm) == (
            tags["mlgov.trainer"],
            tags["mlgov.train_table"],
            tags["mlgov.train_table_version"],
            tags["mlgov.target"],
            tags["mlgov.algorithm"],
        )
        assert list(recipe.spec.numeric) == json.loads(tags["mlgov.numeric_features"])
        assert list(recipe.spec.categorical) == json.loads(tags["mlgov.categorical_features"])
    v2 = next(r for r in requests.values() if r.version == "2")
    assert (version_recipe(ctx, "loan_default", "2").trainer, v2.requester) == ("omar", "maya")

    # projections: the old rows are not written twice; the new tables get theirs
    for table, height in heights.items():
        assert ctx.store.read(table).height == height, table
    assert ctx.store.read(VERSIONS).height == 3
    assert ctx.store.read(POLICIES).height == 5
    assert ctx.store.read(VERSIONS)["audit_seq"].null_count() == 0

    assert cli.json("audit", "verify")["ok"] is True
    # 0.1 never tagged mlgov.task (its versions are all binary) nor the tier of a model nobody classified
    divergences = json.loads(cli("registry", "check", "--json", ok=False).stdout)["divergences"]
    assert sorted((d["model"], d["version"], d["name"], d["registry"], d["governed"]) for d in divergences) == [
        ("handmade", None, "mlgov.risk_tier", None, "medium"),
        *(("loan_default", version, "mlgov.task", None, "binary") for version in "123"),
    ]
    cli("registry", "reconcile", "--actor", ADMIN)
    assert cli.json("registry", "check") == {"ok": True, "divergences": []}


def test_the_governed_loop_goes_on_after_the_migration(home: Path, tmp_path: Path) -> None:
    cli = Cli(home)
    cli.json("migrate", "--actor", ADMIN)

    week = pl.DataFrame(
        {
            "loan_id": [f"L-{2000 + i:05d}" for i in range(40)],
            "applied_at": [datetime(2026, 6, 8, tzinfo=UTC) + timedelta(hours=4 * i) for i in range(40)],
            "income": [20.5 + 2.25 * i for i in range(40)],
            "age": [20 + i for i in range(40)],
            "region": [("north", "south", "east")[i % 3] for i in range(40)],
        }
    )
    week.write_csv(tmp_path / "week2.csv")
    cli("ingest", "applications", str(tmp_path / "week2.csv"), "--key", "loan_id", "--timestamp", "applied_at",
        "--actor", "maya")  # fmt: skip
    scored = cli.json(
        "score", "loan_default", "--table", "applications", "--from", "2026-06-08", "--to", "2026-06-15",
        "--actor", "maya",
    )  # fmt: skip
    assert (scored["model_version"], scored["rows"]) == ("1", 40)  # the 0.1 champion's model files load

    trained = cli.json(
        "train", "loan_default", "--table", "loans", "--target", "defaulted", "--algorithm", "logreg",
        "--actor", "omar",
    )  # fmt: skip
    assert trained["version"] == "4"
    request = cli.json("promote", "request", "loan_default", "4", "--actor", "maya", "--reason", "omar's retrain")
    first = cli.json("promote", "approve", request["request_id"], "--actor", "rita", "--reason", "reviewed")
    assert (first["status"], first["required"]) == ("pending", 2)  # medium risk, as 0.1 had it
    second = cli.json("promote", "approve", request["request_id"], "--actor", "sofia", "--reason", "agree")
    assert (second["status"], second["alias_moved"]) == ("promoted", True)
    ctx = context(home)
    assert alias_holders(ctx)["loan_default"]["champion"] == "4"
    assert ctx.registry.alias_version("loan_default", "champion") == "4"

    cli("access", "grant", "zoe", "auditor", "--actor", ADMIN)
    grants = context(home).store.read(ACCESS)
    assert grants.filter(pl.col("user") == "zoe")["seq"].to_list() == [grants.height]  # numbered after 0.1's
    assert cli.json("audit", "verify")["ok"] is True
