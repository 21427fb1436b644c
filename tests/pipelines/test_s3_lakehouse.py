"""The lakehouse on object storage: the CLI loop with MLGOV_LAKEHOUSE=s3://... against an S3-compatible
server on 127.0.0.1 (moto), concurrent audit writers on it, and settings it cannot use refused in one line."""

from __future__ import annotations

import json
import multiprocessing
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.cli_harness import Cli
from tests.conftest import ADMIN, MAKER, REVIEWER_A, REVIEWER_B, START, init_loop_team, loop_inputs
from tests.servers import Postgres, S3Server, free_port, server_env


def _bucket(s3: S3Server) -> str:
    return s3.create_bucket(f"mlgov-{uuid.uuid4().hex[:12]}")


@pytest.mark.slow
def test_the_cli_loop_runs_on_a_lakehouse_in_s3(s3: S3Server, tmp_path: Path) -> None:
    bucket = _bucket(s3)
    dataset = loop_inputs(tmp_path / "inputs")
    cli = Cli(tmp_path / "home", env=server_env(s3=s3, lakehouse=f"s3://{bucket}/home"))

    init_loop_team(cli)
    for table, name in (("loans", "history.csv"), ("applications", "week0.parquet")):
        path = str(tmp_path / "inputs" / name)
        cli("ingest", table, path, "--key", dataset.key, "--timestamp", dataset.timestamp, "--actor", MAKER)
    trained = cli.json("train", "loan_default", "--table", "loans", "--target", dataset.target, "--actor", MAKER)
    assert trained["version"] == "1"
    rid = cli.json("promote", "request", "loan_default", "1", "--actor", MAKER, "--reason", "first")["request_id"]
    cli("promote", "approve", rid, "--actor", REVIEWER_A, "--reason", "ok")
    assert cli.json("promote", "approve", rid, "--actor", REVIEWER_B, "--reason", "agree")["status"] == "promoted"
    window = ("--from", START.date().isoformat(), "--to", (START + timedelta(weeks=1)).date().isoformat())
    scored = cli.json("score", "loan_default", "--table", "applications", *window, "--actor", MAKER)
    assert scored["rows"] == dataset.weeks[0].height
    labels = str(tmp_path / "inputs" / "labels0.csv")
    cli("labels", "loan_default", labels, "--key", dataset.key, "--label", dataset.target, "--actor", MAKER)
    [batch] = cli.json("monitor", "loan_default")["batches"]
    assert batch["batch_id"] == scored["batch_id"]
    maintained = {t["table"]: t for t in cli.json("maintain", "--actor", ADMIN)["tables"]}
    assert maintained["governance/audit"]["files_after"] == 1
    verdict = cli.json("audit", "verify")
    assert verdict["ok"] is True
    assert verdict["records"] > 5

    # Every table is in the bucket; none under MLGOV_HOME, which keeps only the embedded MLflow and locks.
    keys = s3.keys(bucket, "home/")
    for table in ("governance/audit", "raw/loans", "predictions", "monitoring/drift", "ops/runs"):
        assert any(key.startswith(f"home/{table}/_delta_log/") for key in keys), table
    assert not (tmp_path / "home" / "lakehouse").exists()
    assert not list((tmp_path / "home").glob("s3*"))


WRITERS, PER_WRITER = 8, 12


def _append(environ: dict[str, str], cwd: str, writer: int, barrier: Any) -> None:
    """A spawned process: the audit trail as the CLI builds it from the environment, appending on its own."""
    from governance.audit.chain import AuditEntry
    from lakehouse.delta import CommitInfo
    from pipelines.context import build_audit_log

    log = build_audit_log(environ, cwd=Path(cwd))
    commit = CommitInfo(run_id=f"run-w{writer}", job="concurrency", actor=f"writer{writer}")
    barrier.wait(timeout=120)
    for i in range(PER_WRITER):
        at = datetime(2026, 1, 1, tzinfo=UTC)
        entry = AuditEntry(
            event_id=f"w{writer}-{i}",
            at=at,
            actor=f"writer{writer}",
            action="test",
            object_type="test",
            object_id=str(i),
            outcome="ok",
            reason="",
            details="{}",
        )
        log.append(entry, commit=commit)


@pytest.mark.slow
def test_eight_processes_appending_to_an_audit_trail_in_s3_lose_nothing(s3: S3Server, tmp_path: Path) -> None:
    bucket = _bucket(s3)
    cli = Cli(tmp_path / "home", env=server_env(s3=s3, lakehouse=f"s3://{bucket}/home"))
    cli("init", "--admin", ADMIN)
    before = cli.json("audit", "verify")["records"]
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(WRITERS)
    processes = [context.Process(target=_append, args=(cli.env, str(tmp_path), w, barrier)) for w in range(WRITERS)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=600)
    assert [p.exitcode for p in processes] == [0] * WRITERS

    verdict = cli.json("audit", "verify")
    assert verdict["ok"] is True, verdict
    assert verdict["records"] == before + WRITERS * PER_WRITER
    from pipelines.context import build_audit_log

    records = build_audit_log(cli.env, cwd=tmp_path).records()
    assert [r.seq for r in records] == list(range(1, len(records) + 1))
    mine = [r.entry.event_id for r in records if r.entry.action == "test"]
    assert sorted(mine) == sorted(f"w{w}-{i}" for w in range(WRITERS) for i in range(PER_WRITER))
    for w in range(WRITERS):  # each writer's entries keep the order it made them in
        assert [int(e.split("-")[1]) for e in mine if e.startswith(f"w{w}-")] == list(range(PER_WRITER))


@pytest.mark.parametrize("fault", ["unreachable endpoint", "wrong credentials", "no such bucket"])
def test_an_object_store_mlgov_cannot_use_is_one_line_and_nothing_is_written(
    s3: S3Server, tmp_path: Path, fault: str
) -> None:
    bucket = _bucket(s3)
    lakehouse, extra, needle = f"s3://{bucket}/home", {}, "cannot be reached"
    if fault == "unreachable endpoint":
        extra = {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}"}
    elif fault == "wrong credentials":
        extra, needle = {"AWS_SECRET_ACCESS_KEY": "not-the-key"}, "SignatureDoesNotMatch"
    else:
        lakehouse, needle = f"s3://{bucket}-missing/home", "NoSuchBucket"
    home = tmp_path / "home"
    cli = Cli(home, env=server_env(s3=s3, lakehouse=lakehouse) | extra)

    message = cli.refused("init", "--admin", ADMIN, needle=needle)
    assert lakehouse in message
    cli.refused("audit", "verify", needle=needle)
    assert s3.keys(bucket) == []
    assert not home.exists()


@pytest.mark.parametrize("uri", ["ftp://host/lakehouse", "s3:/bucket/home", "s3://", "hdfs://namenode/lakehouse"])
def test_a_lakehouse_uri_mlgov_does_not_know_is_refused_never_a_local_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, uri: str
) -> None:
    cli = Cli(tmp_path / "home", env={"MLGOV_LAKEHOUSE": uri})
    monkeypatch.chdir(tmp_path)
    cli.refused("init", "--admin", ADMIN, needle="MLGOV_LAKEHOUSE")
    assert sorted(p.name for p in tmp_path.iterdir()) == []


@pytest.mark.slow
def test_mlflow_on_postgresql_keeps_model_files_in_s3_and_scoring_loads_them_from_there(
    s3: S3Server, postgres: Postgres, tmp_path: Path
) -> None:
    bucket = _bucket(s3)
    dataset = loop_inputs(tmp_path / "inputs")
    home = tmp_path / "home"
    tracking = postgres.create_database(f"s3_{uuid.uuid4().hex[:8]}")
    environ = server_env(
        s3=s3, lakehouse=f"s3://{bucket}/home", tracking=tracking, artifacts=f"s3://{bucket}/artifacts"
    )
    cli = Cli(home, env=environ)
    cli("init", "--admin", ADMIN)
    for user, role in ((MAKER, "maker"), (REVIEWER_A, "reviewer"), (REVIEWER_B, "reviewer")):
        cli("access", "grant", user, role, "--actor", ADMIN)
    for table, name in (("loans", "history.csv"), ("applications", "week0.parquet")):
        path = str(tmp_path / "inputs" / name)
        cli("ingest", table, path, "--key", dataset.key, "--timestamp", dataset.timestamp, "--actor", MAKER)
    cli("train", "loan_default", "--table", "loans", "--target", dataset.target, "--actor", MAKER)
    rid = cli.json("promote", "request", "loan_default", "1", "--actor", MAKER, "--reason", "first")["request_id"]
    for reviewer in (REVIEWER_A, REVIEWER_B):
        cli("promote", "approve", rid, "--actor", reviewer, "--reason", "ok")
    window = ("--from", START.date().isoformat(), "--to", (START + timedelta(weeks=1)).date().isoformat())
    scored = cli.json("score", "loan_default", "--table", "applications", *window, "--actor", MAKER)

    assert scored["rows"] == dataset.weeks[0].height
    assert any(key.endswith("/MLmodel") for key in s3.keys(bucket, "artifacts/"))
    assert list(home.rglob("MLmodel")) == []  # nothing of the model on this machine's disk


def test_tampering_with_the_audit_trail_in_the_bucket_is_found(s3: S3Server, tmp_path: Path) -> None:
    bucket = _bucket(s3)
    cli = Cli(tmp_path / "home", env=server_env(s3=s3, lakehouse=f"s3://{bucket}/home"))
    cli("init", "--admin", ADMIN)
    cli("access", "grant", MAKER, "maker", "--actor", ADMIN)
    assert cli.json("audit", "verify")["ok"] is True
    data = sorted(k for k in s3.keys(bucket, "home/governance/audit/") if k.endswith(".parquet"))
    assert len(data) >= 2

    s3.client().delete_object(Bucket=bucket, Key=data[0])

    result = cli("audit", "verify", "--json", ok=False)
    assert result.exit_code != 0
    verdict = json.loads(result.stdout)
    assert verdict["ok"] is False
    assert data[0].rsplit("/", 1)[-1] in verdict["problem"]
