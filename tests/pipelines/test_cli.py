"""The mlgov CLI contract, end to end on real Delta tables and a real SQLite MLflow registry."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from deltalake import write_deltalake

from lakehouse.schemas import AUDIT
from tests.cli_harness import Cli
from tests.conftest import ADMIN, MAKER, REVIEWER_A, REVIEWER_B, Seeded, context_for


@pytest.fixture
def cli(seeded: Seeded) -> Cli:
    return Cli(seeded.home)


def _versions(home: Path) -> dict[str, int]:
    """Version of every data table (governance and ops records are allowed to grow)."""
    store = context_for(home).store
    tables = [*store.list_tables("raw"), "predictions", "labels", "scoring/batches", "catalog/tables"]
    return {t: store.version(t) for t in tables if store.exists(t)}


def test_init_is_idempotent_and_keeps_the_first_admin(cli: Cli) -> None:
    assert cli.json("init", "--admin", ADMIN)["admins"] == [ADMIN]
    cli.refused("init", "--admin", "mallory", needle="already has an admin")


def test_access_grant_needs_an_admin_and_a_known_role(cli: Cli) -> None:
    assert cli.json("access", "grant", "zoe", "reviewer", "--actor", ADMIN)["changed"] is True
    assert cli.json("access", "grant", "zoe", "reviewer", "--actor", ADMIN)["changed"] is False
    cli.refused("access", "grant", "zoe", "overlord", "--actor", ADMIN, needle="unknown role")
    cli.refused("access", "grant", "zoe", "admin", "--actor", MAKER, needle="may not manage access")
    cli.refused("access", "grant", "zoe", "admin", "--actor", "nobody", needle="unknown actor")


def test_train_returns_the_contract_keys_and_registers_a_version(cli: Cli) -> None:
    result = cli.json(
        "train", "loan_default", "--table", "loans", "--target", "defaulted", "--algorithm", "logreg", "--actor", MAKER
    )
    assert set(result) >= {"model", "version", "run_id", "metrics"}
    assert result["version"] == "2"
    assert 0.6 < result["metrics"]["roc_auc"] < 1.0
    tags = context_for(cli.home).registry.version("loan_default", "2").tags
    assert tags["mlgov.train_table"] == "raw/loans"
    assert tags["mlgov.trainer"] == MAKER


def test_train_handles_text_booleans_and_non_ascii_categories_by_dtype(cli: Cli, seeded: Seeded) -> None:
    features = "income,credit_score,income_band,has_cosigner,home_ownership"
    result = cli.json(
        "train", "small", "--table", "loans", "--target", "defaulted", "--features", features, "--actor", MAKER
    )
    tags = context_for(cli.home).registry.version("small", result["version"]).tags
    assert json.loads(tags["mlgov.categorical_features"]) == ["income_band", "home_ownership"]
    assert "40K - 60K €" in seeded.dataset.history["income_band"].to_list()


def test_promotion_needs_two_distinct_reviewers_and_refuses_self_approval(cli: Cli) -> None:
    train = ("train", "loan_default", "--table", "loans", "--target", "defaulted", "--algorithm", "logreg")
    version = cli.json(*train, "--actor", MAKER)["version"]
    request = cli.json("promote", "request", "loan_default", version, "--actor", MAKER, "--reason", "better")
    assert request["status"] == "pending"
    rid = request["request_id"]
    registry = context_for(cli.home).registry

    cli.refused("promote", "approve", rid, "--actor", MAKER, "--reason", "mine", needle="may not approve")
    cli("access", "grant", MAKER, "reviewer", "--actor", ADMIN)
    cli.refused("promote", "approve", rid, "--actor", MAKER, "--reason", "mine", needle="requested this promotion")

    first = cli.json("promote", "approve", rid, "--actor", REVIEWER_A, "--reason", "ok")
    assert (first["status"], first["approvals"]) == ("pending", 1)
    assert registry.alias_version("loan_default", "champion") == "1"  # one approval moves nothing
    cli.refused("promote", "approve", rid, "--actor", REVIEWER_A, "--reason", "again", needle="already approved")
    assert registry.alias_version("loan_default", "champion") == "1"

    second = cli.json("promote", "approve", rid, "--actor", REVIEWER_B, "--reason", "agree")
    assert (second["status"], second["approvals"]) == ("promoted", 2)
    assert registry.alias_version("loan_default", "champion") == version
    tags = registry.version("loan_default", version).tags
    assert tags["mlgov.approval_status"] == "promoted"
    assert tags["mlgov.approvals"] == "2/2"


def test_the_trainer_cannot_approve_even_as_a_reviewer(cli: Cli) -> None:
    cli("access", "grant", REVIEWER_A, "maker", "--actor", ADMIN)
    version = cli.json("train", "loan_default", "--table", "loans", "--target", "defaulted", "--actor", REVIEWER_A)[
        "version"
    ]
    rid = cli.json("promote", "request", "loan_default", version, "--actor", MAKER, "--reason", "x")["request_id"]
    cli.refused("promote", "approve", rid, "--actor", REVIEWER_A, "--reason", "mine", needle="trained")


def test_reject_closes_the_request(cli: Cli) -> None:
    version = cli.json("train", "loan_default", "--table", "loans", "--target", "defaulted", "--actor", MAKER)[
        "version"
    ]
    rid = cli.json("promote", "request", "loan_default", version, "--actor", MAKER, "--reason", "x")["request_id"]
    assert cli.json("promote", "reject", rid, "--actor", REVIEWER_A, "--reason", "worse")["status"] == "rejected"
    cli.refused("promote", "approve", rid, "--actor", REVIEWER_B, "--reason", "late", needle="rejected")
    cli.refused("promote", "reject", rid, "--actor", REVIEWER_B, "--reason", "", needle="reason")


def test_refusals_are_audited(cli: Cli) -> None:
    cli.refused("promote", "approve", "pr-missing", "--actor", MAKER, "--reason", "x", needle="may not approve")
    audit = context_for(cli.home).store.read(AUDIT)
    refused = audit.filter(pl.col("outcome") == "refused")
    assert refused.filter(pl.col("actor") == MAKER).height >= 1


def test_rescoring_the_same_batch_adds_nothing(cli: Cli) -> None:
    args = (
        "score",
        "loan_default",
        "--table",
        "applications",
        "--from",
        "2026-06-01",
        "--to",
        "2026-06-08",
        "--actor",
        MAKER,
    )
    store = context_for(cli.home).store
    before = store.read("predictions").height
    again = cli.json(*args)
    assert set(again) >= {"batch_id", "rows", "model_version"}
    assert again["already_scored"] is True
    assert store.read("predictions").height == before


def test_scoring_writes_lineage_columns(cli: Cli, seeded: Seeded) -> None:
    predictions = context_for(cli.home).store.read("predictions")
    batch = predictions.filter(pl.col("batch_id") == seeded.batch_ids[0])
    assert batch.height == seeded.dataset.weeks[0].height
    assert set(batch["input_table"]) == {"raw/applications"}
    assert set(batch["model_version"]) == {"1"}
    assert batch["event_ts"].null_count() == 0
    assert batch["score"].is_between(0, 1).all()


def test_monitor_reports_drift_on_the_shifted_week_only(cli: Cli, seeded: Seeded) -> None:
    report = cli.json("monitor", "loan_default")
    batches = {b["batch_id"]: b for b in report["batches"]}
    calm, shifted = batches[seeded.batch_ids[0]], batches[seeded.batch_ids[1]]
    assert calm["drifted"] is False
    assert calm["drift_share"] < 0.5
    assert shifted["drifted"] is True
    drifted_features = {d["feature"] for d in shifted["drift"] if d["drifted"]}
    assert {"income", "credit_score"} <= drifted_features
    for d in shifted["drift"]:
        assert set(d) == {"feature", "method", "statistic", "threshold", "drifted"}
    assert 0.6 < calm["performance"]["roc_auc"] < 1.0
    assert calm["labelled_rows"] == seeded.dataset.weeks[0].height
    assert shifted["performance"] == {}  # its labels have not arrived


def test_monitor_recomputes_performance_when_more_labels_arrive(cli: Cli, seeded: Seeded) -> None:
    week7 = seeded.dataset.weeks[7].select(seeded.dataset.key, seeded.dataset.target)
    path = seeded.files / "labels7.csv"
    week7.head(200).write_csv(path)
    cli(
        "labels",
        "loan_default",
        str(path),
        "--key",
        seeded.dataset.key,
        "--label",
        seeded.dataset.target,
        "--actor",
        MAKER,
    )
    shifted = next(b for b in cli.json("monitor", "loan_default")["batches"] if b["batch_id"] == seeded.batch_ids[1])
    assert shifted["labelled_rows"] == 200
    assert "accuracy" in shifted["performance"]


def test_audit_verify_intact_then_tampered(cli: Cli) -> None:
    intact = cli.json("audit", "verify")
    assert intact["ok"] is True
    assert intact["first_bad_seq"] is None
    assert intact["records"] > 10

    store = context_for(cli.home).store
    path = store.path(AUDIT)
    records = store.read(AUDIT).sort("seq")
    edited = records.with_columns(
        pl.when(pl.col("seq") == 5).then(pl.lit("nothing to see")).otherwise(pl.col("reason")).alias("reason")
    )
    shutil.rmtree(path)  # an attacker with storage access rewrites the whole table
    write_deltalake(str(path), edited.to_arrow())

    result = cli("audit", "verify", "--json", ok=False)
    assert result.exit_code == 1
    verdict = json.loads(result.stdout)
    assert verdict["ok"] is False
    assert verdict["first_bad_seq"] == 5


def test_every_job_leaves_a_run_record(cli: Cli) -> None:
    runs = context_for(cli.home).store.read("ops/runs")
    assert {"ingest", "train", "score", "labels", "monitor", "promote_approve"} <= set(runs["job"])
    succeeded = runs.filter(pl.col("status") == "succeeded")
    assert (succeeded["wall_seconds"] > 0).all()
    assert (succeeded["cpu_seconds"] >= 0).all()
    ingests = succeeded.filter(pl.col("job") == "ingest")
    assert (ingests["rows"] > 0).all()
    assert (ingests["bytes_written"] > 0).all()


# ---- bad input: one line, non-zero exit, nothing written --------------------------------------


def _write(folder: Path, name: str, frame: pl.DataFrame) -> str:
    path = folder / name
    frame.write_parquet(path) if name.endswith(".parquet") else frame.write_csv(path)
    return str(path)


def _text(folder: Path, name: str, text: str) -> str:
    """A CSV written by hand: the literal values a person's file holds."""
    path = folder / name
    path.write_text(text)
    return str(path)


def _folder(folder: Path, name: str) -> str:
    (folder / name).mkdir()
    return str(folder / name)


BAD_INPUTS = [
    ("missing file", lambda d: ["ingest", "t", str(d / "nope.csv"), "--key", "id"], "does not exist"),
    ("directory", lambda d: ["ingest", "t", _folder(d, "week1.csv"), "--key", "id"], "is a directory, expected a CSV"),
    (
        "NaN and inf in a CSV float column",
        lambda d: ["ingest", "t", _text(d, "a.csv", "id,x\n1,1.5\n2,NaN\n3,inf\n4,\n"), "--key", "id"],
        "column 'x' has 2 rows with NaN or infinite values",
    ),
    (
        "-inf in a Parquet float column",
        lambda d: [
            "ingest",
            "t",
            _write(d, "a.parquet", pl.DataFrame({"id": [1, 2], "x": [1.0, -np.inf]})),
            "--key",
            "id",
        ],
        "column 'x' has 1 row with NaN or infinite values",
    ),
    (
        "a number too large for a float",
        lambda d: ["ingest", "t", _text(d, "a.csv", "id,x\n1,1e309\n2,1.0\n"), "--key", "id"],
        "column 'x' has 1 row with NaN or infinite",
    ),
    (
        "timestamp before 1900",
        lambda d: [
            "ingest",
            "t",
            _text(d, "a.csv", "id,ts\n1,2026-06-01\n2,0026-06-01\n3,1899-12-31\n"),
            "--key",
            "id",
            "--timestamp",
            "ts",
        ],
        "timestamp column 'ts' holds '0026-06-01': expected times from 1900-01-01 to 2200-01-01 UTC (2 rows",
    ),
    (
        "timestamp after 2200",
        lambda d: [
            "ingest",
            "t",
            _text(d, "a.csv", "id,ts\n1,2026-06-01 10:00:00\n2,9999-12-31 00:00:00\n"),
            "--key",
            "id",
            "--timestamp",
            "ts",
        ],
        "timestamp column 'ts' holds '9999-12-31 00:00:00'",
    ),
    (
        "not csv or parquet",
        lambda d: ["ingest", "t", _write(d, "x.json", pl.DataFrame({"id": [1]})), "--key", "id"],
        "not CSV or Parquet",
    ),
    (
        "path separator in table name",
        lambda d: ["ingest", "../evil", _write(d, "a.csv", pl.DataFrame({"id": [1]})), "--key", "id"],
        "not valid",
    ),
    (
        "slash in table name",
        lambda d: ["ingest", "a/b", _write(d, "a.csv", pl.DataFrame({"id": [1]})), "--key", "id"],
        "not valid",
    ),
    (
        "missing key column",
        lambda d: ["ingest", "t", _write(d, "a.csv", pl.DataFrame({"id": [1]})), "--key", "nope"],
        "key column 'nope'",
    ),
    (
        "duplicate keys",
        lambda d: ["ingest", "t", _write(d, "a.csv", pl.DataFrame({"id": [1, 1, 2]})), "--key", "id"],
        "duplicated",
    ),
    (
        "NaN in key",
        lambda d: ["ingest", "t", _write(d, "a.parquet", pl.DataFrame({"id": [1.0, np.nan]})), "--key", "id"],
        "NaN or infinite",
    ),
    (
        "inf in key",
        lambda d: ["ingest", "t", _write(d, "a.parquet", pl.DataFrame({"id": [1.0, np.inf]})), "--key", "id"],
        "NaN or infinite",
    ),
    (
        "missing timestamp column",
        lambda d: ["ingest", "t", _write(d, "a.csv", pl.DataFrame({"id": [1]})), "--key", "id", "--timestamp", "ts"],
        "timestamp column 'ts'",
    ),
    (
        "unparsable timestamps",
        lambda d: [
            "ingest",
            "t",
            _write(d, "a.csv", pl.DataFrame({"id": [1], "ts": ["soon"]})),
            "--key",
            "id",
            "--timestamp",
            "ts",
        ],
        "not dates",
    ),
    (
        "unknown time zone",
        lambda d: [
            "ingest",
            "t",
            _write(d, "a.csv", pl.DataFrame({"id": [1], "ts": ["2026-01-01"]})),
            "--key",
            "id",
            "--timestamp",
            "ts",
            "--timezone",
            "Mars/Olympus",
        ],
        "time zone",
    ),
    (
        "schema differs from the table",
        lambda d: [
            "ingest",
            "loans",
            _write(d, "a.csv", pl.DataFrame({"loan_id": ["x"], "application_ts": ["2026-01-01"]})),
            "--key",
            "loan_id",
            "--timestamp",
            "application_ts",
        ],
        "column",
    ),
    ("unknown table to train on", lambda d: ["train", "m", "--table", "nope", "--target", "y"], "does not exist"),
    ("missing target column", lambda d: ["train", "m", "--table", "loans", "--target", "nope"], "target column 'nope'"),
    (
        "target of the wrong type",
        lambda d: ["train", "m", "--table", "loans", "--target", "purpose", "--task", "binary"],
        "binary needs both 0 and 1",
    ),
    (
        "regression on text",
        lambda d: ["train", "m", "--table", "loans", "--target", "purpose", "--task", "regression"],
        "regression needs numbers",
    ),
    (
        "multiclass with fractional numbers",
        lambda d: ["train", "m", "--table", "loans", "--target", "income", "--task", "multiclass"],
        "fractional numbers",
    ),
    (
        "unknown feature",
        lambda d: ["train", "m", "--table", "loans", "--target", "defaulted", "--features", "income,nope"],
        "feature column 'nope'",
    ),
    (
        "only empty feature names",
        lambda d: ["train", "m", "--table", "loans", "--target", "defaulted", "--features", ",,"],
        "--features has an empty column name in ',,'",
    ),
    (
        "an empty feature name in the list",
        lambda d: ["train", "m", "--table", "loans", "--target", "defaulted", "--features", "income, ,credit_score"],
        "--features has an empty column name",
    ),
    (
        "an empty feature list",
        lambda d: ["train", "m", "--table", "loans", "--target", "defaulted", "--features", ""],
        "--features has an empty column name",
    ),
    ("unknown model to score", lambda d: ["score", "nope", "--table", "applications"], "not registered"),
    (
        "empty selection to score",
        lambda d: ["score", "loan_default", "--table", "applications", "--from", "2030-01-01"],
        "nothing to score",
    ),
    (
        "bad timestamp option",
        lambda d: ["score", "loan_default", "--table", "applications", "--from", "yesterday"],
        "not an ISO timestamp",
    ),
    (
        "unknown model for labels",
        lambda d: [
            "labels",
            "nope",
            _write(d, "l.csv", pl.DataFrame({"id": [1], "y": [0]})),
            "--key",
            "id",
            "--label",
            "y",
        ],
        "not registered",
    ),
    (
        "missing label column",
        lambda d: [
            "labels",
            "loan_default",
            _write(d, "l.csv", pl.DataFrame({"id": [1], "y": [0]})),
            "--key",
            "id",
            "--label",
            "nope",
        ],
        "label column 'nope'",
    ),
    (
        "NaN labels",
        lambda d: [
            "labels",
            "loan_default",
            _write(d, "l.parquet", pl.DataFrame({"id": ["L-001501", "L-001502"], "y": [0.0, np.nan]})),
            "--key",
            "id",
            "--label",
            "y",
        ],
        "label column 'y' has 1 NaN or infinite values: expected 0/1",
    ),
    (
        "infinite labels",
        lambda d: [
            "labels",
            "loan_default",
            _text(d, "l.csv", "id,y\nL-001501,1.0\nL-001502,inf\nL-001503,-inf\n"),
            "--key",
            "id",
            "--label",
            "y",
        ],
        "label column 'y' has 2 NaN or infinite values",
    ),
    (
        "labels that are not 0/1",
        lambda d: [
            "labels",
            "loan_default",
            _write(d, "l.csv", pl.DataFrame({"id": [1], "y": [7]})),
            "--key",
            "id",
            "--label",
            "y",
        ],
        "0/1",
    ),
]


@pytest.mark.parametrize(("case", "make_args", "needle"), BAD_INPUTS, ids=[c[0] for c in BAD_INPUTS])
def test_bad_input_is_one_line_and_writes_nothing(cli: Cli, tmp_path: Path, case: str, make_args, needle: str) -> None:
    before = _versions(cli.home)
    cli.refused(*make_args(tmp_path), "--actor", MAKER, needle=needle)
    assert _versions(cli.home) == before
    assert not context_for(cli.home).store.exists("raw/t")


@pytest.mark.parametrize("actor", ["nobody", "rita"])
def test_unknown_or_unentitled_actors_are_refused(cli: Cli, tmp_path: Path, actor: str) -> None:
    path = _write(tmp_path, "a.csv", pl.DataFrame({"id": [1]}))
    cli.refused("ingest", "t", path, "--key", "id", "--actor", actor, needle=actor)
    assert not context_for(cli.home).store.exists("raw/t")


def test_a_missing_option_is_one_line(cli: Cli) -> None:
    cli.refused("train", "m", "--table", "loans", needle="missing option")


@pytest.mark.parametrize("features", [",,", "income,,credit_score", ""])
def test_an_empty_feature_name_trains_nothing(cli: Cli, features: str) -> None:
    registry = context_for(cli.home).registry
    before = [v.version for v in registry.versions("loan_default")]
    train = ("train", "loan_default", "--table", "loans", "--target", "defaulted", "--features", features)
    cli.refused(*train, "--actor", MAKER, needle="empty column name")
    assert [v.version for v in registry.versions("loan_default")] == before


def test_ingest_reads_naive_timestamps_in_the_given_zone(cli: Cli, tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "a.csv",
        pl.DataFrame({"id": [1, 2], "ts": ["2026-03-01 09:00:00", "2026-07-01 09:00:00"], "x": [1.0, 2.0]}),
    )
    cli("ingest", "paris", path, "--key", "id", "--timestamp", "ts", "--timezone", "Europe/Paris", "--actor", MAKER)
    stored = context_for(cli.home).store.read("raw/paris").sort("id")["ts"].to_list()
    assert [t.hour for t in stored] == [8, 7]  # CET then CEST, stored as UTC
    assert all(str(t.tzinfo) == "UTC" for t in stored)


def test_ingest_keeps_empty_values_as_missing_and_huge_finite_numbers(cli: Cli, tmp_path: Path) -> None:
    path = _text(tmp_path, "a.csv", "id,x,ts\n1,1e308,1900-01-01\n2,,2200-01-01\n3,-2.5,2026-06-01\n")
    cli("ingest", "edges", path, "--key", "id", "--timestamp", "ts", "--actor", MAKER)
    stored = context_for(cli.home).store.read("raw/edges").sort("id")
    assert stored["x"].to_list() == [1e308, None, -2.5]
    assert [t.year for t in stored["ts"]] == [1900, 2200, 2026]


def test_a_value_that_does_not_fit_the_table_is_one_line_and_writes_nothing(cli: Cli, tmp_path: Path) -> None:
    narrow = _write(
        tmp_path, "narrow.parquet", pl.DataFrame({"id": [1], "n": [7]}, schema={"id": pl.Int64, "n": pl.Int32})
    )
    cli("ingest", "narrow", narrow, "--key", "id", "--actor", MAKER)
    before = _versions(cli.home)
    wide = _write(tmp_path, "wide.parquet", pl.DataFrame({"id": [2], "n": [2**40]}))
    message = cli.refused(
        "ingest", "narrow", wide, "--key", "id", "--actor", MAKER, needle="values do not fit the schema"
    )
    assert "conversion from `i64` to `i32` failed in column 'n'" in message
    assert _versions(cli.home) == before


def test_appending_a_key_already_in_the_table_is_refused(cli: Cli, seeded: Seeded, tmp_path: Path) -> None:
    week0 = seeded.dataset.weeks[0].drop(seeded.dataset.target).head(3)
    path = _write(tmp_path, "again.parquet", week0)
    cli.refused(
        "ingest",
        "applications",
        path,
        "--key",
        seeded.dataset.key,
        "--timestamp",
        seeded.dataset.timestamp,
        "--actor",
        MAKER,
        needle="already in table",
    )


def test_a_candidate_worse_than_the_champion_is_blocked_by_the_gate(cli: Cli) -> None:
    # the seeded champion is a logistic regression; this boosted model is clearly worse on the holdout
    train = ("train", "loan_default", "--table", "loans", "--target", "defaulted", "--algorithm", "hgb")
    version = cli.json(*train, "--actor", MAKER)["version"]
    rid = cli.json("promote", "request", "loan_default", version, "--actor", MAKER, "--reason", "try")["request_id"]
    cli("promote", "approve", rid, "--actor", REVIEWER_A, "--reason", "ok")
    second = cli.json("promote", "approve", rid, "--actor", REVIEWER_B, "--reason", "ok")
    assert second["status"] == "pending"
    assert second["approvals"] == 2
    assert any("roc_auc" in reason for reason in second["blocked_by"])
    assert context_for(cli.home).registry.alias_version("loan_default", "champion") == "1"
