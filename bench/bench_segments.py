"""What segment search and fairness add to `mlgov monitor` as a user runs it, on a 1M-row batch (issue #12).

    .venv/bin/python bench/bench_segments.py --json /tmp/segments.json     # 1,000,000-row batch, 3 runs of each
    .venv/bin/python bench/bench_segments.py --batch-rows 200000 --runs 1  # a quick look

The home is bench_monitor.py's (a promoted binary LightGBM model trained on --rows, which scored a
drifting --batch-rows batch; shared with bench_alerts.py), copied once to
bench/.data/segments-<rows>-<batch rows>-<algorithm>/, where every row of the batch gets a label through
`mlgov labels`: the model's predicted label, wrong in 10% of rows and in 45% of a planted intersection
(region = the batch's first row's region and age under the batch's lower quartile), which the error
search must rank first.

Each timed run restores that home (untimed), so every run is the batch's first monitor (drift,
quality, label-free estimates, realized performance and, but for `without`, segments), then runs the
whole command in a fresh process under /usr/bin/time -v, start-up and imports included, three ways,
interleaved:

* `without`: `mlgov monitor bench_default --json` with no segment or fairness calculator
  (`monitor_wrapper.py no-segments`: the same entry point, the monitor as before issue #12; the
  product has no switch for it);
* `search`: `mlgov monitor bench_default --json` as shipped with no column chosen: the automatic share
  and error searches over two and three of the model's columns (at most 8);
* `configured`: the same after `mlgov model set bench_default --segment region --segment age:4
  --protected home` (untimed, after the restore): the searches, the chosen segments' drift and
  performance, and fairness across `home`.

Headline: each mode's median against `without`, wall-clock and CPU seconds. The goal (issue #12) is
segment search + fairness within 2x of the batch's drift: after the interleaved runs, `configured`
and `search` run --breakdown more times each through `monitor_wrapper.py timed`, which reports each
calculator's wall-clock and CPU seconds in the same process: the segment and fairness calculators
against the drift calculator.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import against, interleave, machine, median
from bench_monitor import (
    ADMIN,
    DATA,
    MAKER,
    TASKS,
    _load,
    _timed,
    binary_home,
    binary_home_options,
    environment,
    restore,
)
from monitor_wrapper import seconds_from

MODEL = TASKS["binary"][0]
MLGOV = str(Path(sys.executable).parent / "mlgov")
WRAPPER = str(Path(__file__).resolve().with_name("monitor_wrapper.py"))
CONFIGURE = ("--segment", "region", "--segment", "age:4", "--protected", "home")
MODES = ("without", "search", "configured")
GOAL = 2.0  # segment search + fairness within 2x of the batch's drift
LABELLED_FORMAT = 1  # bump when the labels change: an older copy is labelled again


def labelled_home(base: Path, data: Path) -> Path:
    """A copy of the built home under `data` whose batch is labelled, made once."""
    marker = data / "labelled.json"
    if marker.exists() and json.loads(marker.read_text()).get("format") == LABELLED_FORMAT:
        print(f"reusing {data}", flush=True)
        return data
    shutil.rmtree(data, ignore_errors=True)
    shutil.copytree(base, data, symlinks=True)
    restore(data)
    environ = environment(data)
    lakehouse = data / "home" / "lakehouse"
    predicted = pl.read_delta(str(lakehouse / "predictions")).filter(pl.col("model") == MODEL)
    batch = pl.read_parquet(data / "batch.parquet", columns=["id", "region", "age"])
    rows = batch.join(predicted.select(pl.col("entity_key").alias("id"), "predicted_label"), on="id")
    planted = (pl.col("region") == batch["region"][0]) & (pl.col("age") < batch["age"].quantile(0.25))
    error_rate = rows.select(pl.when(planted).then(0.45).otherwise(0.10)).to_series().to_numpy()
    wrong = np.random.default_rng(12).random(rows.height) < error_rate
    labels = rows.with_columns(wrong=pl.Series(wrong)).select(
        "id", pl.when("wrong").then(1 - pl.col("predicted_label")).otherwise("predicted_label").alias("defaulted")
    )
    labels.write_parquet(data / "labels.parquet")
    command = [MLGOV, "labels", MODEL, str(data / "labels.parquet"), "--key", "id", "--label", "defaulted"]
    subprocess.run([*command, "--actor", MAKER], check=True, env=environ, cwd=data, capture_output=True)
    for name in ("home", "seals"):
        shutil.rmtree(data / "pristine" / name, ignore_errors=True)
        if (data / name).exists():
            shutil.copytree(data / name, data / "pristine" / name, symlinks=True)
    planted_region = str(batch["region"][0])
    marker.write_text(json.dumps({"format": LABELLED_FORMAT, "rows": labels.height, "planted": planted_region}))
    return data


def first_error_finding(data: Path) -> str | None:
    """The segment the error search of the last monitor ranked first."""
    segments = pl.read_delta(str(data / "home" / "lakehouse" / "monitoring" / "segments"))
    found = segments.filter((pl.col("kind") == "search_error") & pl.col("reported")).sort("adjusted_p")
    return str(found["segment"][0]) if found.height else None


def run(data: Path, mode: str, *, timed: bool = False) -> dict[str, Any]:
    restore(data)
    env = environment(data)
    if mode == "configured":
        subprocess.run(
            [MLGOV, "model", "set", MODEL, *CONFIGURE, "--actor", ADMIN], check=True, env=env, capture_output=True
        )
    if mode == "without":
        command = [sys.executable, WRAPPER, "no-segments"]
    else:
        command = [sys.executable, WRAPPER, "timed"] if timed else [MLGOV]
    done, figures = _timed([*command, "monitor", MODEL, "--json"], env=env, cwd=data)
    (batch,) = json.loads(done.stdout)["batches"]
    result = {**figures, "drifted": sum(bool(d["drifted"]) for d in batch["drift"])}
    if mode != "without":
        result["first_error_finding"] = first_error_finding(data)
    if timed:
        result["calculator_seconds"] = seconds_from(done.stderr)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    binary_home_options(parser)
    parser.add_argument("--breakdown", type=int, default=1, help="in-process timed runs of search and configured")
    args = parser.parse_args()
    data = labelled_home(binary_home(args), DATA / f"segments-{args.rows}-{args.batch_rows}-{args.algorithm}")
    started_load = _load()

    def say(figures: dict[str, Any]) -> str:
        return (
            f"{figures['seconds']:.2f} s ({figures['cpu_s']:.2f} s CPU, load {figures['load_avg_before']}), "
            f"first error finding {figures.get('first_error_finding')}"
        )

    runs = interleave(MODES, args.runs, lambda mode: run(data, mode), say=say)
    timed = interleave(MODES[1:], args.breakdown, lambda mode: run(data, mode, timed=True), say=say)
    summary: dict[str, Any] = against(runs, "without")
    for mode, figures in summary.items():
        if not timed.get(mode):
            continue
        for clock in ("wall", "cpu"):
            seconds = {
                name: median([t["calculator_seconds"][clock].get(name, 0.0) for t in timed[mode]])
                for name in timed[mode][0]["calculator_seconds"][clock]
            }
            figures[f"calculator_{clock}_s_in_process"] = seconds
            segments = seconds.get("segments", 0.0) + seconds.get("fairness", 0.0)
            figures[f"segments_and_fairness_over_drift_{clock}"] = segments / seconds["drift"]
    for mode in ("search", "configured"):
        figures = summary[mode]
        line = f"{mode}: {figures['ratio']:.3f}x wall, {figures['ratio_cpu']:.3f}x CPU of `mlgov monitor` without"
        if "segments_and_fairness_over_drift_cpu" in figures:
            line += (
                f"; in process, segments + fairness {figures['segments_and_fairness_over_drift_wall']:.2f}x wall, "
                f"{figures['segments_and_fairness_over_drift_cpu']:.2f}x CPU of the drift calculator "
                f"(goal within {GOAL:.0f}x)"
            )
        print(line)
    print(json.dumps(summary, indent=2))
    if args.json:
        document = {
            "machine": {**machine(), "load_avg_at_start": started_load},
            "rows": args.rows,
            "batch_rows": args.batch_rows,
            "configured": " ".join(CONFIGURE),
            "labelled": json.loads((data / "labelled.json").read_text()),
            "goal": f"segments + fairness within {GOAL}x of drift",
            "summary": summary,
            "runs": runs,
            "breakdown": timed,
        }
        args.json.write_text(json.dumps(document, indent=2))


if __name__ == "__main__":
    main()
