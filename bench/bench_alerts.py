"""What alert evaluation adds to `mlgov monitor` (issue #12: under 5%).

    .venv/bin/python bench/bench_alerts.py --json /tmp/alerts.json      # builds bench/.data/monitor-... once
    .venv/bin/python bench/bench_alerts.py --rows 100000 --batch-rows 100000 --runs 3   # a quicker look

The home is bench_monitor.py's (built once through the real jobs and reused: a promoted binary model
whose scored batch drifts). Each timed run restores it (untimed), so every run is the first monitor of
the batch, then runs `mlgov monitor bench_default --json` in a fresh process, start and imports
included, three ways, interleaved:

* `off`: alert evaluation replaced by a no-op (a bench-only wrapper around the CLI; the product has
  no switch for it);
* `on`: as shipped, by the default rules (the drifted batch fires; no channel);
* `webhook`: as shipped, with a rule sending drift-share alerts (from a share of 0.05) to a signed
  webhook on 127.0.0.1 (a receiver in this process), set (untimed) after the restore.

Each `on` and `webhook` process also reports the seconds spent inside `alert_on_monitoring` itself,
so the share is measured in-process too, free of the noise between two processes.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, median
from bench_monitor import ADMIN, DATA, TASKS, _timed, build, environment, restore

MODEL = TASKS["binary"][0]
SECRET = "bench-secret"
# Runs the CLI with alert evaluation timed (its seconds on stderr) or replaced by a no-op.
WRAPPER = """
import sys, time
import pipelines.jobs.monitor as monitor
from pipelines.jobs.alerts import AlertOutcome
mode = sys.argv.pop(1)
real = monitor.alert_on_monitoring
def timed(*args, **kwargs):
    started = time.perf_counter()
    try:
        return real(*args, **kwargs)
    finally:
        print(f"ALERT_SECONDS={time.perf_counter() - started:.6f}", file=sys.stderr)
monitor.alert_on_monitoring = (lambda *a, **k: AlertOutcome()) if mode == "off" else timed
from pipelines.cli import main
main()
"""


class _Receiver(BaseHTTPRequestHandler):
    received = 0

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        _Receiver.received += 1
        self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def run(data: Path, mode: str, *, webhook: str | None) -> dict[str, Any]:
    restore(data)
    env = environment(data)
    if webhook is not None:
        env |= {"MLGOV_CHANNEL_OPS": webhook, "MLGOV_CHANNEL_OPS_SECRET": SECRET}
        # fires as soon as one feature in twenty drifted: the batch's drift-share alert is delivered
        rule = [*("alerts", "rule", "set", MODEL, "--kind", "drift_share", "--threshold", "0.05"), "--channel", "ops"]
        rule += ["--actor", ADMIN]
        subprocess.run([str(Path(sys.executable).parent / "mlgov"), *rule], check=True, env=env, capture_output=True)
    command = [sys.executable, "-c", WRAPPER, "off" if mode == "off" else "timed", "monitor", MODEL, "--json"]
    done, figures = _timed(command, env=env, cwd=data)
    report = json.loads(done.stdout)
    alert_seconds = [
        float(line.split("=", 1)[1]) for line in done.stderr.splitlines() if line.startswith("ALERT_SECONDS=")
    ]
    return {
        **figures,
        "alert_seconds": alert_seconds[0] if alert_seconds else 0.0,
        "fired": len(report["alerts"]["fired"]),
        "delivered": len(report["alerts"]["delivered"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, help="where the home is built (default bench/.data/monitor-...)")
    parser.add_argument("--rows", type=int, default=200_000, help="training table rows")
    parser.add_argument("--batch-rows", type=int, default=200_000, help="rows of the monitored batch")
    parser.add_argument("--algorithm", default="lightgbm", choices=["hgb", "lightgbm", "xgboost"])
    parser.add_argument("--runs", type=int, default=5, help="timed runs of each mode")
    parser.add_argument("--json", type=Path, help="also write every figure here")
    args = parser.parse_args()
    data = args.data or DATA / f"monitor-{args.rows}-{args.batch_rows}-{args.algorithm}-binary"
    build(data, rows=args.rows, batch_rows=args.batch_rows, algorithm=args.algorithm, tasks=("binary",))

    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    webhook = f"http://127.0.0.1:{server.server_address[1]}/alerts"
    runs: dict[str, list[dict[str, Any]]] = {"off": [], "on": [], "webhook": []}
    for number in range(args.runs):
        for mode in runs:
            figures = run(data, mode, webhook=webhook if mode == "webhook" else None)
            runs[mode].append(figures)
            print(
                f"run {number + 1} {mode:>7}: {figures['seconds']:.2f} s ({figures['cpu_s']:.2f} s CPU), "
                f"alerts {figures['alert_seconds']:.3f} s, "
                f"{figures['fired']} fired, {figures['delivered']} delivered",
                flush=True,
            )
    server.shutdown()
    # CPU seconds (the process's user + system) as well as wall-clock: on a loaded machine the wall-clock
    # of one process varies by more than the few percent measured here
    summary: dict[str, Any] = {
        mode: {"seconds": median([r["seconds"] for r in rs]), "cpu_s": median([r["cpu_s"] for r in rs])}
        for mode, rs in runs.items()
    }
    for mode in ("on", "webhook"):
        summary[mode]["alert_seconds"] = median([r["alert_seconds"] for r in runs[mode]])
        summary[mode]["vs_off"] = summary[mode]["seconds"] / summary["off"]["seconds"]
        summary[mode]["vs_off_cpu"] = summary[mode]["cpu_s"] / summary["off"]["cpu_s"]
        summary[mode]["alert_share"] = median([r["alert_seconds"] / r["seconds"] for r in runs[mode]])
        summary[mode]["alert_share_of_cpu"] = median([r["alert_seconds"] / r["cpu_s"] for r in runs[mode]])
    print(json.dumps(summary, indent=2))
    if args.json:
        document = {
            "machine": machine(),
            "rows": args.rows,
            "batch_rows": args.batch_rows,
            "runs": runs,
            "summary": summary,
        }
        args.json.write_text(json.dumps(document, indent=2))


if __name__ == "__main__":
    main()
