"""`mlgov serve` against `mlflow models serve`, same model, same machine, side by side in one run.

Builds a throwaway lakehouse (the demo loan history, a logistic regression promoted to champion by
two reviewers, a second version approved as challenger), starts both servers on 127.0.0.1 as a user
would (process start included in setup, not in the figures), and drives each with the same bounded
load from a loopback load generator (httpx, asyncio, a fixed number of requests in flight): single-row
and 100-row requests. mlgov's server meanwhile writes every request to serving/requests and has the
challenger score each one in shadow; afterwards the table is counted against what was acknowledged.

    .venv/bin/python bench/bench_serving.py --json /tmp/serving.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import machine

MODEL = "loan_default"
START = datetime(2026, 6, 1, tzinfo=UTC)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def build_lakehouse(home: Path) -> list[dict[str, Any]]:
    """Champion v1, challenger v2; returns feature rows to send."""
    from governance.promotion import SHADOW_ALIAS
    from governance.roles import GrantChange
    from pipelines.context import build_context
    from pipelines.demo.data import build_demo_datasets
    from pipelines.jobs.access import change_role, init_lakehouse
    from pipelines.jobs.ingest import ingest
    from pipelines.jobs.promote import approve, request_promotion
    from pipelines.jobs.train import train
    from pipelines.ml.modeling import Algorithm

    dataset = build_demo_datasets(start=START, history_rows=5000, batch_rows=2000, n_weeks=1)[0]
    ctx = build_context({"MLGOV_HOME": str(home)}, cwd=home)
    init_lakehouse(ctx, admin="ada")
    for user, role in (("maya", "maker"), ("rita", "reviewer"), ("raj", "reviewer")):
        change_role(ctx, user=user, role=role, change=GrantChange.GRANT, actor="ada")
    history = home / "history.csv"
    dataset.history.write_csv(history)
    ingest(ctx, table="loans", path=history, key=dataset.key, timestamp=dataset.timestamp, actor="maya")
    versions = [
        train(
            ctx,
            model=MODEL,
            table="loans",
            target=dataset.target,
            features=None,
            algorithm=Algorithm.LOGREG,
            actor="maya",
        ).version
        for _ in range(2)
    ]
    champion = request_promotion(ctx, model=MODEL, version=versions[0], reason="bench", actor="maya")
    approve(ctx, request_id=champion.request_id, reason="ok", actor="rita")
    approve(ctx, request_id=champion.request_id, reason="ok", actor="raj")
    shadow = request_promotion(ctx, model=MODEL, version=versions[1], alias=SHADOW_ALIAS, reason="bench", actor="maya")
    approve(ctx, request_id=shadow.request_id, reason="ok", actor="rita")
    from pipelines.reads.versions import version_recipe

    columns = version_recipe(ctx, MODEL, versions[0]).spec.columns
    return dataset.weeks[0].select(*columns).to_dicts()


def start(command: Sequence[str], *, env: dict[str, str], ready: str) -> tuple[subprocess.Popen[bytes], float]:
    began = time.perf_counter()
    log = tempfile.TemporaryFile()  # noqa: SIM115 - the server's output, kept for as long as it runs
    process = subprocess.Popen(command, env=env, stdout=log, stderr=log, start_new_session=True)
    deadline = time.monotonic() + 300
    while True:
        if process.poll() is not None:
            log.seek(0)
            raise RuntimeError(f"{command[0]} exited:\n{log.read().decode()[-3000:]}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{command} did not become ready")
        try:
            if httpx.get(ready, timeout=1).status_code == 200:
                return process, time.perf_counter() - began
        except httpx.TransportError:
            pass
        time.sleep(0.1)


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=120)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


async def load(url: str, bodies: list[bytes], *, concurrency: int) -> dict[str, Any]:
    """Send every body once, `concurrency` in flight; throughput and latency percentiles."""
    latencies: list[float] = []
    failures = 0
    ids: list[str] = []
    queue = list(reversed(bodies))
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:

        async def worker() -> None:
            nonlocal failures
            while queue:
                body = queue.pop()
                began = time.perf_counter()
                response = await client.post(url, content=body, headers={"content-type": "application/json"})
                latencies.append(time.perf_counter() - began)
                if response.status_code != 200:
                    failures += 1
                elif "request_id" in (document := response.json()):
                    ids.append(document["request_id"])

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - began
    latencies.sort()
    return {
        "requests": len(bodies),
        "failed": failures,
        "seconds": round(wall, 3),
        "requests_per_s": round(len(bodies) / wall, 1),
        "p50_ms": round(latencies[len(latencies) // 2] * 1000, 2),
        "p99_ms": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000, 2),
        "request_ids": ids,
    }


def bodies(rows: list[dict[str, Any]], *, size: int, count: int, key: str) -> list[bytes]:
    out = []
    for i in range(count):
        chunk = [rows[(i * size + j) % len(rows)] for j in range(size)]
        out.append(json.dumps({key: chunk}).encode())
    return out


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--single", type=int, default=3000, help="single-row requests per server")
    parser.add_argument("--batch", type=int, default=500, help="100-row requests per server")
    parser.add_argument("--concurrency", type=int, default=8, help="requests in flight")
    parser.add_argument("--json", type=Path, help="write the results here too")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="bench-serving-") as scratch:
        home = Path(scratch) / "home"
        home.mkdir()
        rows = build_lakehouse(home)
        bin_dir = Path(sys.executable).parent
        env = {
            **os.environ,
            "MLGOV_HOME": str(home),
            "MLFLOW_TRACKING_URI": f"sqlite:///{home / 'mlflow.db'}",
            "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",  # mlflow runs `uvicorn` from PATH
        }
        ours_port, theirs_port = free_port(), free_port()
        ours, ours_start = start(
            [str(bin_dir / "mlgov"), "serve", MODEL, "--port", str(ours_port)],
            env=env,
            ready=f"http://127.0.0.1:{ours_port}/readyz",
        )
        theirs, theirs_start = start(
            [
                str(bin_dir / "mlflow"),
                "models",
                "serve",
                "-m",
                f"models:/{MODEL}/1",
                "--env-manager",
                "local",
                "-h",
                "127.0.0.1",
                "-p",
                str(theirs_port),
            ],
            env=env,
            ready=f"http://127.0.0.1:{theirs_port}/ping",
        )
        results: dict[str, Any] = {"machine": machine(), "concurrency": args.concurrency, "startup_s": {}}
        results["startup_s"] = {"mlgov": round(ours_start, 1), "mlflow": round(theirs_start, 1)}
        try:
            for label, size, count in (("single_row", 1, args.single), ("rows_100", 100, args.batch)):
                for name, url, key in (
                    ("mlflow", f"http://127.0.0.1:{theirs_port}/invocations", "dataframe_records"),
                    ("mlgov", f"http://127.0.0.1:{ours_port}/v1/models/{MODEL}/predict", "inputs"),
                ):
                    run = asyncio.run(
                        load(url, bodies(rows, size=size, count=count, key=key), concurrency=args.concurrency)
                    )
                    ids = run.pop("request_ids")
                    results.setdefault(label, {})[name] = run
                    if name == "mlgov":
                        results[label]["mlgov_request_ids"] = ids
                    print(label, name, run, file=sys.stderr)
        finally:
            stop(theirs)
            stop(ours)  # graceful: the log is flushed into serving/requests
        table = pl.read_delta(str(home / "lakehouse" / "serving" / "requests"))
        for label in ("single_row", "rows_100"):
            ids = results[label].pop("mlgov_request_ids")
            mine = table.filter(pl.col("request_id").is_in(ids))
            results[label]["mlgov"]["logged_champion_requests"] = mine.filter(pl.col("role") == "champion")[
                "request_id"
            ].n_unique()
            results[label]["mlgov"]["logged_challenger_requests"] = mine.filter(pl.col("role") == "challenger")[
                "request_id"
            ].n_unique()
            ours_run, theirs_run = results[label]["mlgov"], results[label]["mlflow"]
            results[label]["throughput_ratio"] = round(ours_run["requests_per_s"] / theirs_run["requests_per_s"], 2)
            results[label]["p99_ratio"] = round(ours_run["p99_ms"] / theirs_run["p99_ms"], 2)
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
