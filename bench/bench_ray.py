"""`mlgov score` and `mlgov monitor` on a local Ray cluster (`--engine ray`) against the in-process
engine (`--engine local`), in one run, on one home built once (10M rows to score by default).

Each timed command is a fresh process as a user runs it, start-up included, on the home restored
(untimed) to before its first score: `score` then `monitor` of the same batch, local then ray, per
run. The scores of both engines must be equal bit for bit row by row, and the drift of both within
1e-9 with the same verdicts, or the script fails. The driver's peak memory is the `mlgov` process's
(the ray engine streams its scores into the commit, so it should not grow with the batch); for the
ray side it also samples the resident memory of every process of the cluster (the raylet's
descendants) and reports the largest, per worker.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
from deltalake import DeltaTable

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from _common import machine, median
from bench_monitor import BATCH, DATA, MAKER, TASKS, _timed, build, environment, restore

from tests.servers import RAY_ENV, ray_head

MODEL = TASKS["binary"][0]


def _cluster_rss_mb(stop: threading.Event, root_pid: int, peaks: dict[str, float]) -> None:
    """Until `stop`: the largest resident memory seen of each process under the cluster's root, in MB,
    by pid and the first name Ray gave it (a worker's name changes with the task it runs)."""
    labels: dict[int, str] = {}
    while not stop.is_set():
        children: dict[int, list[int]] = {}
        seen: dict[int, tuple[str, float]] = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    stat = Path(f"/proc/{entry}/stat").read_text()
                    status = Path(f"/proc/{entry}/status").read_text()
                except OSError:
                    continue
                children.setdefault(int(stat[stat.rindex(")") + 2 :].split()[1]), []).append(int(entry))
                rss = next((line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:")), "0")
                seen[int(entry)] = (stat[stat.index("(") + 1 : stat.rindex(")")], int(rss) / 1024)
        stack = list(children.get(root_pid, []))
        while stack:
            pid = stack.pop()
            if pid in seen:
                name, rss = seen[pid]
                label = labels.setdefault(pid, f"{name} ({pid})")
                peaks[label] = max(peaks.get(label, 0.0), rss)
            stack.extend(children.get(pid, []))
        stop.wait(0.25)


def _run_record(data: Path, job: str) -> dict[str, Any]:
    runs = pl.from_arrow(DeltaTable(str(data / "home" / "lakehouse" / "ops" / "runs")).to_pyarrow_table())
    assert isinstance(runs, pl.DataFrame)
    return runs.filter(pl.col("job") == job).sort("started_at").row(-1, named=True)


def _scores(data: Path) -> pl.DataFrame:
    predictions = pl.scan_delta(str(data / "home" / "lakehouse" / "predictions"))
    return predictions.select("entity_key", "score").collect().sort("entity_key")


def run_engine(data: Path, engine: str, env: dict[str, str], cluster_pid: int | None) -> dict[str, Any]:
    restore(data)
    mlgov = str(Path(sys.executable).parent / "mlgov")
    figures: dict[str, Any] = {}
    for job, args in (
        ("score", ["score", MODEL, "--table", BATCH, "--actor", MAKER]),
        ("monitor", ["monitor", MODEL]),
    ):
        peaks: dict[str, float] = {}
        stop = threading.Event()
        sampler = None
        if cluster_pid is not None:
            sampler = threading.Thread(target=_cluster_rss_mb, args=(stop, cluster_pid, peaks), daemon=True)
            sampler.start()
        done, timed = _timed([mlgov, *args, "--engine", engine, "--json"], env=env, cwd=data)
        stop.set()
        if sampler is not None:
            sampler.join()
        record = _run_record(data, job)
        figures[job] = {
            **timed,
            "job_wall_s": record["wall_seconds"],
            "job_cpu_s": record["cpu_seconds"],  # the driver's and, for ray, the workers'
            "start_and_connect_s": timed["seconds"] - record["wall_seconds"],
            "worker_peak_mb": dict(sorted(peaks.items(), key=lambda kv: -kv[1])[:6]),
            "document": json.loads(done.stdout),
        }
    figures["scores"] = _scores(data)
    return figures


def compare(local: dict[str, Any], ray: dict[str, Any]) -> dict[str, Any]:
    mine, theirs = local["scores"], ray["scores"]
    identical = mine["entity_key"].equals(theirs["entity_key"]) and (
        mine["score"].to_numpy().tobytes() == theirs["score"].to_numpy().tobytes()
    )
    (a,), (b,) = local["monitor"]["document"]["batches"], ray["monitor"]["document"]["batches"]
    drift_a = {d["feature"]: d for d in a["drift"]}
    drift_b = {d["feature"]: d for d in b["drift"]}
    largest = max(abs(drift_a[f]["statistic"] - drift_b[f]["statistic"]) for f in drift_a)
    same_verdicts = drift_a.keys() == drift_b.keys() and all(
        drift_a[f]["drifted"] == drift_b[f]["drifted"] for f in drift_a
    )
    return {
        "rows": mine.height,
        "scores_bit_identical": identical,
        "drift_largest_difference": largest,
        "same_verdicts": same_verdicts,
        "same_quality_alerts": a["quality_alerts"] == b["quality_alerts"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=200_000, help="training table rows (the drift reference)")
    parser.add_argument("--batch-rows", type=int, default=10_000_000, help="rows scored and drift-checked")
    parser.add_argument("--algorithm", default="lightgbm", choices=["hgb", "lightgbm", "xgboost"])
    parser.add_argument("--ray-cpus", type=int, default=os.cpu_count() or 2, help="CPUs of the local Ray head")
    parser.add_argument("--runs", type=int, default=1, help="timed runs of each engine")
    parser.add_argument("--json", type=Path, help="also write every figure here")
    args = parser.parse_args()
    if not Path("/usr/bin/time").exists():
        raise SystemExit("error: /usr/bin/time is needed for peak memory (apt-get install time)")
    data = (DATA / f"ray-{args.rows}-{args.batch_rows}-{args.algorithm}").resolve()
    info = machine()
    print(f"machine: {info}", flush=True)
    built = build(
        data, rows=args.rows, batch_rows=args.batch_rows, algorithm=args.algorithm, tasks=("binary",), score=False
    )
    results: dict[str, list[dict[str, Any]]] = {"local": [], "ray": []}
    with ray_head(num_cpus=args.ray_cpus) as head:
        env = {**environment(data), **RAY_ENV, "MLGOV_RAY_ADDRESS": head.address}
        for number in range(1, args.runs + 1):
            for engine in ("local", "ray"):
                run = run_engine(data, engine, env, head.pid if engine == "ray" else None)
                results[engine].append(run)
                for job in ("score", "monitor"):
                    f = run[job]
                    print(
                        f"  run {number} {engine:<5} {job:<7} {f['seconds']:7.1f} s (job {f['job_wall_s']:.1f} s,"
                        f" start+connect {f['start_and_connect_s']:.1f} s)  driver cpu {f['cpu_s']:.1f} s,"
                        f" job cpu {f['job_cpu_s']:.1f} s  driver peak {f['peak_mb']:.0f} MB"
                        + (
                            f"  largest worker {max(f['worker_peak_mb'].values()):.0f} MB"
                            if f["worker_peak_mb"]
                            else ""
                        ),
                        flush=True,
                    )
        same = compare(results["local"][0], results["ray"][0])
    print(f"same answers: {same}", flush=True)
    summary: dict[str, Any] = {"machine": info, "home": {**built, "data": str(data)}, "ray_cpus": args.ray_cpus}
    for job in ("score", "monitor"):
        local = median([r[job]["seconds"] for r in results["local"]])
        ray = median([r[job]["seconds"] for r in results["ray"]])
        summary[job] = {
            engine: {
                "median_s": median([r[job]["seconds"] for r in results[engine]]),
                "job_wall_s": median([r[job]["job_wall_s"] for r in results[engine]]),
                "start_and_connect_s": median([r[job]["start_and_connect_s"] for r in results[engine]]),
                "driver_cpu_s": median([r[job]["cpu_s"] for r in results[engine]]),
                "job_cpu_s": median([r[job]["job_cpu_s"] for r in results[engine]]),
                "driver_peak_mb": max(r[job]["peak_mb"] for r in results[engine]),
                "worker_peak_mb": results[engine][0][job]["worker_peak_mb"],
            }
            for engine in ("local", "ray")
        } | {"ray_vs_local": local / ray}
        print(f"{job}: local {local:.1f} s, ray {ray:.1f} s: ray at {local / ray:.2f}x local's speed", flush=True)
    summary |= {"same_answers": same, "date": datetime.now(UTC).isoformat(timespec="seconds")}
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2, default=str) + "\n")
    if not (same["scores_bit_identical"] and same["drift_largest_difference"] <= 1e-9 and same["same_verdicts"]):
        raise SystemExit(f"the engines disagree: {same}")


if __name__ == "__main__":
    main()
