"""What alert evaluation adds to `mlgov monitor` as a user runs it (issue #12: under 5%).

    .venv/bin/python bench/bench_alerts.py --json /tmp/alerts.json       # 1,000,000-row batch; builds the home once
    .venv/bin/python bench/bench_alerts.py --batch-rows 200000 --runs 3  # a quicker look

The home is bench_monitor.py's, built once through the real jobs and reused (shared with
bench_segments.py): a promoted binary LightGBM model trained on --rows, whose scored --batch-rows batch
drifts. Each timed run restores it (untimed), so every run is the batch's first monitor, then runs the
whole command in a fresh process under /usr/bin/time -v, start-up and imports included, three ways,
interleaved:

* `without`: `mlgov monitor bench_default --json` with alert evaluation a no-op
  (`monitor_wrapper.py no-alerts`: the same entry point; the product has no switch for it);
* `rules`: `mlgov monitor bench_default --json` as shipped: the default rules (the drifted batch
  fires), no channel;
* `webhook`: the same after a rule (set untimed, after the restore) sending drift-share alerts from a
  share of 0.05 to a signed webhook on 127.0.0.1 (a receiver in this process).

Headline: each mode's median against `without`, wall-clock and CPU seconds. Detail: after the
interleaved runs, `rules` and `webhook` run --breakdown more times each through `monitor_wrapper.py
timed`, which reports the wall-clock and CPU seconds spent inside `alert_on_monitoring`, free of the
noise between two processes.
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
from _common import against, interleave, machine, median
from bench_monitor import ADMIN, TASKS, _load, _timed, binary_home, binary_home_options, environment, restore
from monitor_wrapper import seconds_from

MODEL = TASKS["binary"][0]
SECRET = "bench-secret"
MLGOV = str(Path(sys.executable).parent / "mlgov")
WRAPPER = str(Path(__file__).resolve().with_name("monitor_wrapper.py"))
MODES = ("without", "rules", "webhook")
GOAL = 1.05  # alerts add under 5%


class _Receiver(BaseHTTPRequestHandler):
    received = 0

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        _Receiver.received += 1
        self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def run(data: Path, mode: str, *, webhook: str, timed: bool = False) -> dict[str, Any]:
    restore(data)
    env = environment(data)
    if mode == "webhook":
        env |= {"MLGOV_CHANNEL_OPS": webhook, "MLGOV_CHANNEL_OPS_SECRET": SECRET}
        # fires as soon as one feature in twenty drifted: the batch's drift-share alert is delivered
        rule = [*("alerts", "rule", "set", MODEL, "--kind", "drift_share", "--threshold", "0.05"), "--channel", "ops"]
        subprocess.run([MLGOV, *rule, "--actor", ADMIN], check=True, env=env, capture_output=True)
    if mode == "without":
        command = [sys.executable, WRAPPER, "no-alerts"]
    else:
        command = [sys.executable, WRAPPER, "timed"] if timed else [MLGOV]
    done, figures = _timed([*command, "monitor", MODEL, "--json"], env=env, cwd=data)
    report = json.loads(done.stdout)
    result = {
        **figures,
        "fired": len(report["alerts"]["fired"]),
        "delivered": len(report["alerts"]["delivered"]),
    }
    if timed:
        seconds = seconds_from(done.stderr)
        result["alert_seconds"], result["alert_cpu_s"] = seconds["wall"]["alerts"], seconds["cpu"]["alerts"]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, help="where the home is built (default bench/.data/monitor-...)")
    binary_home_options(parser)
    parser.add_argument("--breakdown", type=int, default=1, help="in-process timed runs of rules and webhook")
    args = parser.parse_args()
    data = binary_home(args, args.data)
    started_load = _load()

    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    webhook = f"http://127.0.0.1:{server.server_address[1]}/alerts"

    def say(figures: dict[str, Any]) -> str:
        return (
            f"{figures['seconds']:.2f} s ({figures['cpu_s']:.2f} s CPU, load {figures['load_avg_before']}), "
            f"{figures['fired']} fired, {figures['delivered']} delivered"
        )

    runs = interleave(MODES, args.runs, lambda mode: run(data, mode, webhook=webhook), say=say)
    breakdown = interleave(
        MODES[1:], args.breakdown, lambda mode: run(data, mode, webhook=webhook, timed=True), say=say
    )
    server.shutdown()
    summary: dict[str, Any] = against(runs, "without")
    for mode, timed in breakdown.items():
        if timed:
            summary[mode]["alert_seconds_in_process"] = median([r["alert_seconds"] for r in timed])
            summary[mode]["alert_cpu_s_in_process"] = median([r["alert_cpu_s"] for r in timed])
            summary[mode]["alert_share_of_timed_run_cpu"] = median([r["alert_cpu_s"] / r["cpu_s"] for r in timed])
    for mode in ("rules", "webhook"):
        figures = summary[mode]
        print(
            f"{mode}: {figures['ratio']:.3f}x wall, {figures['ratio_cpu']:.3f}x CPU of `mlgov monitor` without "
            f"alert evaluation (goal under {GOAL:.2f}x)"
            + (
                f"; in-process {figures['alert_seconds_in_process']:.3f} s, "
                f"{figures['alert_cpu_s_in_process']:.3f} s CPU ({figures['alert_share_of_timed_run_cpu']:.1%} of the run's)"
                if "alert_seconds_in_process" in figures
                else ""
            )
        )
    print(json.dumps(summary, indent=2))
    if args.json:
        document = {
            "machine": {**machine(), "load_avg_at_start": started_load},
            "rows": args.rows,
            "batch_rows": args.batch_rows,
            "goal": f"rules and webhook under {GOAL}x of without",
            "summary": summary,
            "runs": runs,
            "breakdown": breakdown,
        }
        args.json.write_text(json.dumps(document, indent=2))


if __name__ == "__main__":
    main()
