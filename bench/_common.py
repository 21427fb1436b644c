"""What the benchmarks share: memory read from /proc, the machine they ran on, a worker subprocess, runs of
several modes interleaved and their medians against a baseline."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def rss_mb() -> float:
    """Resident memory of this process now."""
    return _status_kb("VmRSS") / 1024


def peak_rss_mb() -> float:
    """Highest resident memory of this process since it started (VmHWM)."""
    return _status_kb("VmHWM") / 1024


def reset_peak_rss() -> None:
    """Start VmHWM afresh from the current RSS (Linux >= 4.0), so a peak is one step's own."""
    Path("/proc/self/clear_refs").write_text("5")


def machine() -> dict[str, Any]:
    model = "unknown"
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        model = next(line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name"))
    except (OSError, subprocess.CalledProcessError, StopIteration):
        pass
    mem_kb = next(
        int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")
    )
    load = Path("/proc/loadavg").read_text().split()[:3]
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "ram_gb": round(mem_kb / 1024**2, 1),
        "python": platform.python_version(),
        "load_avg_at_start": " ".join(load),
    }


def thread_env(threads: int | None) -> dict[str, str]:
    """Environment pinning every native thread pool (BLAS, OpenMP, polars) to `threads`; None: defaults."""
    env = dict(os.environ)
    if threads is not None:
        for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "POLARS_MAX_THREADS"):
            env[name] = str(threads)
    return env


def run_worker(script: Path, *args: str, threads: int | None = None) -> dict[str, Any]:
    """Run `script --worker ...` in a fresh interpreter; it prints one JSON document last."""
    done = subprocess.run(
        [sys.executable, str(script), "--worker", *args], capture_output=True, text=True, env=thread_env(threads)
    )
    if done.returncode != 0:
        raise RuntimeError(f"worker {args} failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def median(values: list[float]) -> float:
    return statistics.median(values)


def against(runs: dict[str, list[dict[str, Any]]], baseline: str) -> dict[str, dict[str, float]]:
    """Per mode: the median wall-clock and CPU seconds of its runs, and each as a ratio of `baseline`'s."""
    medians = {
        mode: {"seconds": median([r["seconds"] for r in rs]), "cpu_s": median([r["cpu_s"] for r in rs])}
        for mode, rs in runs.items()
    }
    base = medians[baseline]
    return {
        mode: {
            **figures,
            "ratio": figures["seconds"] / base["seconds"],
            "ratio_cpu": figures["cpu_s"] / base["cpu_s"],
        }
        for mode, figures in medians.items()
    }


def interleave(
    modes: Sequence[str], rounds: int, run: Callable[[str], dict[str, Any]], *, say: Callable[[dict[str, Any]], str]
) -> dict[str, list[dict[str, Any]]]:
    """`rounds` rounds of `run(mode)` for every mode in turn, so load from other work falls on every mode
    alike; each run's figures, printed by `say`."""
    runs: dict[str, list[dict[str, Any]]] = {mode: [] for mode in modes}
    for number in range(rounds):
        for mode in modes:
            figures = run(mode)
            runs[mode].append(figures)
            print(f"run {number + 1} {mode:>10}: {say(figures)}", flush=True)
    return runs
