"""MLflow as teams run it: the CLI loop with MLflow on PostgreSQL, `--json` behind an `mlflow server`, model
files where the tracking setup says, and one clear line for a tracking database that does not answer."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest

from pipelines.demo.data import DemoDataset
from tests.cli_harness import Cli
from tests.conftest import ADMIN, MAKER, REVIEWER_A, REVIEWER_B, START, init_loop_team, loop_inputs
from tests.servers import Postgres, clean_environment, free_port, mlflow_server, server_env

pytestmark = pytest.mark.slow


def _ingest(cli: Cli, table: str, path: Path, dataset: DemoDataset) -> None:
    cli("ingest", table, str(path), "--key", dataset.key, "--timestamp", dataset.timestamp, "--actor", MAKER)


def _train_installed(cli: Cli, dataset: DemoDataset, *, cwd: Path) -> subprocess.CompletedProcess[str]:
    """`mlgov train --json` as the installed command in its own process: what a script piping it into jq
    gets, and what is printed on stderr up to the interpreter's exit (which pytest would capture in-process)."""
    environ = clean_environment() | cli.env
    train = [str(Path(sys.executable).parent / "mlgov"), "train", "loan_default", "--table", "loans"]
    train += ["--target", dataset.target, "--actor", MAKER, "--json"]
    done = subprocess.run(train, capture_output=True, text=True, env=environ, cwd=cwd, check=False)
    assert done.returncode == 0, done.stderr
    return done


def _model_files(folder: Path) -> list[Path]:
    return sorted(folder.rglob("MLmodel"))


def test_the_cli_loop_runs_with_mlflow_on_postgresql(postgres: Postgres, tmp_path: Path) -> None:
    uri = postgres.create_database("loop")
    dataset = loop_inputs(tmp_path / "inputs")
    artifacts = tmp_path / "shared-artifacts"
    cli = Cli(tmp_path / "home", env=server_env(tracking=uri, artifacts=artifacts))

    init_loop_team(cli)
    _ingest(cli, "loans", tmp_path / "inputs" / "history.csv", dataset)
    trained = _train_installed(cli, dataset, cwd=tmp_path)
    # Nothing of MLflow's or its database driver's chatter, up to the interpreter's exit (psycopg warns now and
    # then about the duplicate-key errors MLflow provokes and handles on PostgreSQL).
    assert trained.stderr == ""
    assert json.loads(trained.stdout)["version"] == "1"
    rid = cli.json("promote", "request", "loan_default", "1", "--actor", MAKER, "--reason", "first")["request_id"]
    cli("promote", "approve", rid, "--actor", REVIEWER_A, "--reason", "ok")
    assert cli.json("promote", "approve", rid, "--actor", REVIEWER_B, "--reason", "agree")["status"] == "promoted"
    _ingest(cli, "applications", tmp_path / "inputs" / "week0.parquet", dataset)
    window = ("--from", START.date().isoformat(), "--to", (START + timedelta(weeks=1)).date().isoformat())
    scored = cli.json("score", "loan_default", "--table", "applications", *window, "--actor", MAKER)
    assert scored["rows"] == dataset.weeks[0].height
    labels = tmp_path / "inputs" / "labels0.csv"
    cli("labels", "loan_default", str(labels), "--key", dataset.key, "--label", dataset.target, "--actor", MAKER)
    [batch] = cli.json("monitor", "loan_default")["batches"]
    assert batch["batch_id"] == scored["batch_id"]
    assert 0.5 < batch["performance"]["roc_auc"] <= 1.0
    assert cli.json("audit", "verify")["ok"] is True

    # The registry lives in PostgreSQL, with the champion alias where the approvals put it ...
    with psycopg.connect(uri) as connection:
        aliases = connection.execute("SELECT name, alias, version FROM registered_model_aliases").fetchall()
    assert aliases == [("loan_default", "champion", 1)]
    # ... and the model files where MLGOV_ARTIFACTS says, none under MLGOV_HOME.
    assert [p.parent.parent.name for p in _model_files(artifacts)] != []
    assert _model_files(tmp_path / "home") == []


def test_behind_an_mlflow_server_json_stays_one_document_and_the_server_keeps_the_files(tmp_path: Path) -> None:
    dataset = loop_inputs(tmp_path / "inputs")
    home = tmp_path / "home"
    (tmp_path / "server").mkdir()
    with mlflow_server(tmp_path / "server") as server:
        cli = Cli(home, env=server_env(tracking=server.url))
        cli("init", "--admin", ADMIN)
        cli("access", "grant", MAKER, "maker", "--actor", ADMIN)
        _ingest(cli, "loans", tmp_path / "inputs" / "history.csv", dataset)
        done = _train_installed(cli, dataset, cwd=tmp_path)

    assert json.loads(done.stdout)["version"] == "1", done.stdout  # nothing but the document on stdout
    assert _model_files(server.artifacts) != []  # the server's artifact store decided
    assert _model_files(home) == []
    assert not (home / "artifacts").exists()


@pytest.mark.parametrize("fault", ["no server on the port", "wrong password", "no such database"])
def test_a_tracking_database_that_does_not_answer_is_one_line_and_nothing_is_written(
    postgres: Postgres, tmp_path: Path, fault: str
) -> None:
    wrong = secrets.token_urlsafe(12)
    uri = {
        "no server on the port": postgres.uri("postgres").replace(f":{postgres.port}/", f":{free_port()}/"),
        "wrong password": postgres.uri("postgres", password=wrong),
        "no such database": postgres.uri("absent"),
    }[fault]
    home = tmp_path / "home"
    cli = Cli(home, env=server_env(tracking=uri))

    message = cli.refused("init", "--admin", ADMIN, needle="did not answer")

    assert postgres.password not in message
    assert wrong not in message
    assert not home.exists()  # no lakehouse without an admin left behind


def test_a_tracking_server_that_does_not_answer_is_one_line_at_once(tmp_path: Path) -> None:
    home = tmp_path / "home"
    cli = Cli(home, env=server_env(tracking=f"http://127.0.0.1:{free_port()}"))
    cli.refused("init", "--admin", ADMIN, needle="tracking server http://127.0.0.1")
    assert not home.exists()
