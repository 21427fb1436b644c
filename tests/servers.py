"""Real servers for tests, on 127.0.0.1 and in throwaway folders: a PostgreSQL cluster from Debian's
packages (`make postgres` installs them), an `mlflow server`, and an S3-compatible server (moto).

Each starts as fast as it can: nothing sleeps longer than a poll of 50 ms for readiness.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

POLL_SECONDS = 0.05
START_SECONDS = 60
# Variables that point a process at a lakehouse, a tracking store or object storage: a process a test starts
# gets only those the test gives it.
POINTER_PREFIXES = ("MLGOV_", "MLFLOW_", "AWS_")


def clean_environment(*, also: tuple[str, ...] = ()) -> dict[str, str]:
    """This process's environment without its MLGOV_, MLFLOW_ and AWS_ variables (nor those starting with
    `also`): the base of a child process's environment."""
    return {k: v for k, v in os.environ.items() if not k.startswith((*POINTER_PREFIXES, *also))}


def server_env(
    *,
    s3: S3Server | None = None,
    lakehouse: str | None = None,
    tracking: str | None = None,
    artifacts: str | Path | None = None,
) -> dict[str, str]:
    """The settings that point the CLI at servers: `s3` reached as its user, the lakehouse at `lakehouse`
    (MLGOV_LAKEHOUSE), MLflow at `tracking` (a database URI or an `mlflow server` URL) and model files at
    `artifacts` (MLGOV_ARTIFACTS)."""
    env = s3.env() if s3 is not None else {}
    if lakehouse is not None:
        env["MLGOV_LAKEHOUSE"] = lakehouse
    if tracking is not None:
        env["MLFLOW_TRACKING_URI"] = tracking
    if artifacts is not None:
        env["MLGOV_ARTIFACTS"] = str(artifacts)
    return env


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def postgres_bin() -> Path:
    """The newest installed PostgreSQL's binaries; a clear failure naming `make postgres` when none is."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    if not found:
        pytest.fail(
            "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb): run `make postgres`", pytrace=False
        )
    return found[-1].parent


@dataclass(frozen=True)
class Postgres:
    """A running throwaway cluster: superuser `mlgov` with a random password, reachable on 127.0.0.1:port
    (password checked) and on the unix socket in `folder` (trusted: only its owner can reach it)."""

    folder: Path
    port: int
    password: str

    def uri(self, database: str, *, password: str | None = None) -> str:
        return f"postgresql://mlgov:{password or self.password}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """A new empty database; its URI for MLFLOW_TRACKING_URI."""
        import psycopg

        with psycopg.connect(self.uri("postgres"), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.uri(name)


def _as_owner(command: list[str], owner: str | None) -> list[str]:
    # initdb and postgres refuse to run as root: run them as the packaged `postgres` system user then.
    return ["runuser", "-u", owner, "--", *command] if owner else command


@contextlib.contextmanager
def postgres_cluster() -> Iterator[Postgres]:
    bin_dir = postgres_bin()
    owner = None
    if os.geteuid() == 0:
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            pytest.fail("running as root needs the `postgres` system user (Debian's postgresql package creates it)")
    # Not under pytest's tmp_path: that is private to root, and the server runs as `postgres`.
    folder = Path(tempfile.mkdtemp(prefix="mlgov-pg-"))
    password = secrets.token_urlsafe(24)
    port = free_port()
    data, log = folder / "data", folder / "server.log"
    pwfile = folder / "pwfile"
    pwfile.write_text(password + "\n", encoding="utf-8")
    pwfile.chmod(0o600)
    if owner:
        for path in (folder, pwfile):
            os.chown(path, owner.pw_uid, owner.pw_gid)
    user = owner.pw_name if owner else None
    try:
        subprocess.run(
            _as_owner(
                [
                    str(bin_dir / "initdb"),
                    "--pgdata",
                    str(data),
                    "--username",
                    "mlgov",
                    "--pwfile",
                    str(pwfile),
                    "--auth-local",
                    "trust",
                    "--auth-host",
                    "scram-sha-256",
                    "--encoding",
                    "UTF8",
                    "--no-sync",
                ],
                user,
            ),
            check=True,
            capture_output=True,
            cwd=folder,
        )
        pwfile.unlink()
        options = f"-c listen_addresses=127.0.0.1 -p {port} -k {folder} -c fsync=off -c synchronous_commit=off"
        subprocess.run(
            _as_owner(
                [str(bin_dir / "pg_ctl"), "--pgdata", str(data), "--log", str(log), "-o", options, "start"], user
            ),
            check=True,
            capture_output=True,
            cwd=folder,
        )
        _wait_until(lambda: _accepts(port), what=f"PostgreSQL on 127.0.0.1:{port}", log=log)
        server = Postgres(folder=folder, port=port, password=password)
        _wait_until(lambda: _logs_in(server), what="PostgreSQL to accept logins", log=log)
        yield server
    finally:
        if (data / "postmaster.pid").exists():
            subprocess.run(
                _as_owner([str(bin_dir / "pg_ctl"), "--pgdata", str(data), "--mode", "immediate", "stop"], user),
                capture_output=True,
                cwd=folder,
            )
        shutil.rmtree(folder, ignore_errors=True)


def _accepts(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _logs_in(server: Postgres) -> bool:
    import psycopg

    try:
        with psycopg.connect(server.uri("postgres"), connect_timeout=2):
            return True
    except psycopg.OperationalError:  # "the database system is starting up"
        return False


def _wait_until(ready: Callable[[], bool], *, what: str, log: Path, alive: Callable[[], bool] = lambda: True) -> None:
    deadline = time.monotonic() + START_SECONDS
    while not ready():
        if not alive() or time.monotonic() > deadline:
            tail = log.read_text(encoding="utf-8", errors="replace")[-2000:] if log.is_file() else ""
            pytest.fail(f"{what} did not start:\n{tail}", pytrace=False)
        time.sleep(POLL_SECONDS)


@dataclass(frozen=True)
class MlflowServer:
    """A running `mlflow server`: its URL, and the folder its artifact store writes to."""

    url: str
    artifacts: Path


@contextlib.contextmanager
def mlflow_server(folder: Path) -> Iterator[MlflowServer]:
    """`mlflow server` on a SQLite backend in `folder`, serving artifacts from `folder/artifacts`."""
    port = free_port()
    artifacts, log = folder / "artifacts", folder / "server.log"
    environ = clean_environment()
    environ["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"  # its job runner costs seconds to start; unused here
    command = [
        str(Path(sys.executable).parent / "mlflow"),
        "server",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
        "--backend-store-uri",
        f"sqlite:///{folder / 'mlflow.db'}",
        "--artifacts-destination",
        str(artifacts),
    ]
    with log.open("wb") as output:
        process = subprocess.Popen(
            command, stdout=output, stderr=subprocess.STDOUT, env=environ, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until(
            lambda: _healthy(url), what=f"mlflow server at {url}", log=log, alive=lambda: process.poll() is None
        )
        yield MlflowServer(url=url, artifacts=artifacts)
    finally:
        stop_process_group(process)


def stop_process_group(process: subprocess.Popen[bytes]) -> None:
    """End a server started with `start_new_session=True` and every process it started: its group only."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
    with contextlib.suppress(ProcessLookupError):  # a grandchild may outlive the leader for a moment
        os.killpg(process.pid, signal.SIGKILL)


def _healthy(url: str) -> bool:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"{url}/health", timeout=2) as response:
            return bool(response.status == 200)
    except (OSError, urllib.error.URLError):
        return False


@dataclass(frozen=True)
class S3Server:
    """A running S3-compatible server (moto) that checks signatures: its endpoint and one user's keys."""

    endpoint: str
    access_key: str
    secret_key: str

    def env(self) -> dict[str, str]:
        """The environment, in delta-rs's and boto3's conventions, that reaches this server as its user."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ALLOW_HTTP": "true",
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_REGION": "us-east-1",
            "MLFLOW_S3_ENDPOINT_URL": self.endpoint,
        }

    def client(self) -> Any:
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
        )

    def create_bucket(self, name: str) -> str:
        self.client().create_bucket(Bucket=name)
        return name

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        """Every object key under `prefix` in `bucket`."""
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        return [item["Key"] for page in pages for item in page.get("Contents", [])]


@contextlib.contextmanager
def s3_server(folder: Path) -> Iterator[S3Server]:
    """`python -m moto.server` on a free loopback port, with signature checks on: the first requests
    (unauthenticated, as moto allows a given number of) create a user and its keys, and every later
    request must be signed with them, so wrong credentials are refused as by a real store."""
    import boto3

    port = free_port()
    log = folder / "moto.log"
    environ = clean_environment()
    environ["INITIAL_NO_AUTH_ACTION_COUNT"] = "3"  # create_user, put_user_policy, create_access_key
    command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    with log.open("wb") as output:
        process = subprocess.Popen(
            command, stdout=output, stderr=subprocess.STDOUT, env=environ, start_new_session=True
        )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        _wait_until(lambda: _accepts(port), what=f"moto at {endpoint}", log=log, alive=lambda: process.poll() is None)
        iam = boto3.client(
            "iam", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="setup", aws_secret_access_key="x"
        )
        iam.create_user(UserName="mlgov")
        everything = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
        iam.put_user_policy(UserName="mlgov", PolicyName="everything", PolicyDocument=json.dumps(everything))
        key = iam.create_access_key(UserName="mlgov")["AccessKey"]
        yield S3Server(endpoint=endpoint, access_key=key["AccessKeyId"], secret_key=key["SecretAccessKey"])
    finally:
        stop_process_group(process)


@dataclass(frozen=True)
class RayHead:
    address: str  # host:port, as MLGOV_RAY_ADDRESS takes it
    pid: int  # the process every process of the cluster descends from


# Ray on loopback only (the address it advertises; it still listens on every interface), without the
# token it would write under $HOME, and without its dashboard.
RAY_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}


@contextlib.contextmanager
def ray_head(*, num_cpus: int = 1) -> Iterator[RayHead]:
    """A throwaway one-node Ray cluster on 127.0.0.1, stopped (its processes, and nothing else) after."""
    port = free_port()
    # a short folder: Ray's unix sockets live under it and their paths are limited to ~100 bytes
    folder = Path(tempfile.mkdtemp(prefix="ray", dir="/tmp"))
    ray = Path(sys.executable).with_name("ray")
    env = {**os.environ, **RAY_ENV, "HOME": str(folder)}
    process = subprocess.Popen(
        [
            str(ray),
            "start",
            "--head",
            "--block",
            "--node-ip-address=127.0.0.1",
            f"--port={port}",
            f"--num-cpus={num_cpus}",
            "--include-dashboard=false",
            "--disable-usage-stats",
            f"--temp-dir={folder}/t",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: stopped as one, by its id
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the Ray head did not start") from None
                time.sleep(POLL_SECONDS)
        yield RayHead(address=f"127.0.0.1:{port}", pid=process.pid)
    finally:
        os.killpg(process.pid, signal.SIGTERM)  # --block stops the processes it started
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        shutil.rmtree(folder, ignore_errors=True)
