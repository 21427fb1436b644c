"""The CLI loop per command on a lakehouse in S3 against one on local disk, in one run (issue #10).

    .venv/bin/python bench/bench_s3_loop.py --rounds 3 --json /tmp/s3-loop.json

Each round runs the whole loop twice, as a user runs it (`mlgov ...`, a fresh process per command,
its start and imports inside the timing): once with the lakehouse under MLGOV_HOME on local disk,
once with MLGOV_LAKEHOUSE=s3://... on an S3-compatible server (moto) on 127.0.0.1, started by this
script. Both sides keep MLflow in SQLite under their own MLGOV_HOME; the order alternates per round.

What this measures: the cost of going through the object-store API (HTTP requests, listing instead
of stat, no local group-commit spool) with a server on loopback. It does NOT include the network
latency a real cloud adds (tens of milliseconds per request); moto also keeps objects in memory.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, median

from pipelines.demo.data import build_demo_datasets

MLGOV = str(Path(sys.executable).parent / "mlgov")
ADMIN, MAKER, REVIEWERS = "ada", "maya", ("rita", "raj")
START = datetime(2026, 6, 1, tzinfo=UTC)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_moto(log: Path | None = None) -> tuple[subprocess.Popen[bytes], dict[str, str]]:
    """moto on a free loopback port; with `log`, its request log (one line per request) goes there."""
    port = free_port()
    output = log.open("ab") if log is not None else subprocess.DEVNULL
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=output,
    )
    deadline = time.monotonic() + 60
    while True:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                break
        if time.monotonic() > deadline:
            raise RuntimeError("moto did not start")
        time.sleep(0.05)
    env = {
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "AWS_ALLOW_HTTP": "true",
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_REGION": "us-east-1",
    }
    return server, env


def loop(inputs: Path, dataset: Any, start: Any) -> list[tuple[str, list[str]]]:
    """The loop's commands, named; --json where the command takes it."""
    window = ["--from", start.date().isoformat(), "--to", (start + timedelta(weeks=1)).date().isoformat()]
    ingest = ["--key", dataset.key, "--timestamp", dataset.timestamp, "--actor", MAKER]
    commands = [("init", ["init", "--admin", ADMIN, "--json"])]
    commands += [("access grant", ["access", "grant", MAKER, "maker", "--actor", ADMIN])]
    commands += [(f"access grant {r}", ["access", "grant", r, "reviewer", "--actor", ADMIN]) for r in REVIEWERS]
    commands += [
        ("ingest history", ["ingest", "loans", str(inputs / "history.csv"), *ingest]),
        (
            "train",
            ["train", "loan_default", "--table", "loans", "--target", dataset.target, "--actor", MAKER, "--json"],
        ),
        ("promote request", ["promote", "request", "loan_default", "1", "--actor", MAKER, "--reason", "b", "--json"]),
    ]
    commands += [
        ("promote approve", []),  # filled with the request id at run time
        ("promote approve (2nd)", []),
        ("ingest batch", ["ingest", "applications", str(inputs / "week0.parquet"), *ingest]),
        ("score", ["score", "loan_default", "--table", "applications", *window, "--actor", MAKER, "--json"]),
        ("labels", ["labels", "loan_default", str(inputs / "labels0.csv"), "--key", dataset.key,
                    "--label", dataset.target, "--actor", MAKER]),
        ("monitor", ["monitor", "loan_default", "--json"]),
        ("audit verify", ["audit", "verify", "--json"]),
        ("maintain", ["maintain", "--actor", ADMIN, "--json"]),
        ("audit verify after maintain", ["audit", "verify", "--json"]),
    ]  # fmt: skip
    return commands


# moto's log line of a request; werkzeug colours some (partial reads, errors) with ANSI codes
_REQUEST = re.compile(r'"(?:\x1b\[[0-9;]*m)*(GET|HEAD|PUT|POST|DELETE) (\S+) HTTP/')


class RequestLog:
    """moto's request log, read on from where the last look stopped: the requests one command made."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._offset = 0

    def skip(self) -> None:
        self._offset = self._path.stat().st_size

    def since_last(self) -> dict[str, int]:
        """Requests since the last call, by kind (LIST, GET, HEAD, PUT, DELETE, POST) and in all."""
        with self._path.open("rb") as log:
            log.seek(self._offset)
            text = log.read().decode("utf-8", "replace")
            self._offset = log.tell()
        counts: dict[str, int] = {}
        for method, target in _REQUEST.findall(text):
            kind = "LIST" if method == "GET" and ("list-type=" in target or "prefix=" in target) else method
            counts[kind] = counts.get(kind, 0) + 1
        counts["total"] = sum(counts.values())
        return counts


def run_loop(
    commands: list[tuple[str, list[str]]], env: dict[str, str], cwd: Path, *, requests: RequestLog | None = None
) -> tuple[dict[str, float], dict[str, dict[str, int]]]:
    """Seconds per command, and with `requests` the object-store requests each made."""
    seconds: dict[str, float] = {}
    counted: dict[str, dict[str, int]] = {}
    request_id = ""
    approvals = iter(REVIEWERS)
    for name, args in commands:
        if name.startswith("promote approve"):
            args = ["promote", "approve", request_id, "--actor", next(approvals), "--reason", "ok"]
        if requests is not None:
            requests.skip()
        started = time.perf_counter()
        done = subprocess.run([MLGOV, *args], capture_output=True, text=True, env=env, cwd=cwd, check=False)
        seconds[name] = time.perf_counter() - started
        if requests is not None:
            time.sleep(0.2)  # moto writes a request's log line after answering it
            counted[name] = requests.since_last()
        if done.returncode != 0:
            raise RuntimeError(f"{name} failed ({env.get('MLGOV_LAKEHOUSE', 'local')}):\n{done.stderr[-3000:]}")
        if name == "promote request":
            request_id = json.loads(done.stdout)["request_id"]
    return seconds, counted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path, help="Write the results here too.")
    options = parser.parse_args()

    import boto3

    dataset = build_demo_datasets(start=START, history_rows=2000, batch_rows=500, n_weeks=1, drift_from_week=1)[0]
    base = {k: v for k, v in os.environ.items() if not k.startswith(("MLGOV_", "MLFLOW_", "AWS_"))}
    scratch_log = Path(tempfile.mkdtemp(prefix="mlgov-s3-bench-log-")) / "moto.log"
    server, s3_env = start_moto(scratch_log)
    requests = RequestLog(scratch_log)
    try:
        bucket = f"bench-{uuid.uuid4().hex[:8]}"
        boto3.client("s3", endpoint_url=s3_env["AWS_ENDPOINT_URL"], region_name="us-east-1",
                     aws_access_key_id="bench", aws_secret_access_key="bench").create_bucket(Bucket=bucket)  # fmt: skip
        times: dict[str, dict[str, list[float]]] = {"local": {}, "s3": {}}
        counts: dict[str, dict[str, int]] = {}
        with tempfile.TemporaryDirectory(prefix="mlgov-s3-bench-") as scratch:
            inputs = Path(scratch) / "inputs"
            inputs.mkdir()
            dataset.history.write_csv(inputs / "history.csv")
            dataset.weeks[0].drop(dataset.target).write_parquet(inputs / "week0.parquet")
            dataset.weeks[0].select(dataset.key, dataset.target).write_csv(inputs / "labels0.csv")
            commands = loop(inputs, dataset, START)
            for round_ in range(options.rounds):
                sides = ["local", "s3"] if round_ % 2 == 0 else ["s3", "local"]
                for side in sides:
                    home = Path(scratch) / f"{side}-{round_}"
                    env = {**base, "MLGOV_HOME": str(home)}
                    if side == "s3":
                        env |= {**s3_env, "MLGOV_LAKEHOUSE": f"s3://{bucket}/round-{round_}"}
                    seconds, counted = run_loop(
                        commands, env, Path(scratch), requests=requests if side == "s3" else None
                    )
                    for name, took in seconds.items():
                        times[side].setdefault(name, []).append(took)
                    counts = counted or counts  # the same every round: keep the last
                # after each round, what is known so far: a long run on a busy machine still leaves figures
                so_far = summary(times, counts, rounds=round_ + 1)
                print(f"after round {round_ + 1}:\n{table(so_far)}", file=sys.stderr)
    finally:
        server.terminate()
        server.wait(timeout=30)
        scratch_log.unlink(missing_ok=True)
        scratch_log.parent.rmdir()

    document = summary(times, counts, rounds=options.rounds)
    print(table(document))
    if options.json:
        options.json.write_text(json.dumps(document, indent=2))


def summary(
    times: dict[str, dict[str, list[float]]], counts: dict[str, dict[str, int]], *, rounds: int
) -> dict[str, Any]:
    rows = []
    for name in times["local"]:
        if name not in times["s3"]:
            continue
        local, s3 = median(times["local"][name]), median(times["s3"][name])
        rows.append({"command": name, "local_s": round(local, 2), "s3_s": round(s3, 2), "ratio": round(s3 / local, 2),
                     "s3_requests": counts.get(name, {})})  # fmt: skip
    total_local = sum(r["local_s"] for r in rows)
    total_s3 = sum(r["s3_s"] for r in rows)
    return {"machine": machine(), "rounds": rounds, "commands": rows,
            "total": {"local_s": round(total_local, 2), "s3_s": round(total_s3, 2),
                      "ratio": round(total_s3 / total_local, 2) if total_local else None}}  # fmt: skip


def table(document: dict[str, Any]) -> str:
    lines = [
        "| command | local disk median s | S3 (moto, loopback) median s | S3 / local | S3 requests (by kind) |",
        "|---|---:|---:|---:|---|",
    ]
    for r in document["commands"]:
        requests = r["s3_requests"]
        kinds = ", ".join(f"{kind} {n}" for kind, n in sorted(requests.items()) if kind != "total")
        lines.append(
            f"| {r['command']} | {r['local_s']:.2f} | {r['s3_s']:.2f} | {r['ratio']:.2f}x "
            f"| {requests.get('total', '?')} ({kinds}) |"
        )
    total = document["total"]
    lines.append(f"| **whole loop** | {total['local_s']:.2f} | {total['s3_s']:.2f} | **{total['ratio']}x** | |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
