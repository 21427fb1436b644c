"""Drift of one batch: our profile engine vs Evidently's full Report vs Evidently per column.

    .venv/bin/python bench/bench_drift.py                      # 1M x 20 current, 200k reference
    .venv/bin/python bench/bench_drift.py --rows 200000 --report-runs 1 --ours-runs 3   # quicker

The data (seeded: 14 numeric columns incl. low-cardinality integers and a binary flag, 6 text
columns incl. non-ASCII and a level the reference never saw) is written to Parquet once. Every
measured run is a fresh interpreter that imports the libraries, loads it, then resets its peak
RSS (VmHWM): `extra` is the peak of the drift computation alone above the loaded data, `peak` the
whole process's (imports and data included). The runs of different methods are
interleaved, so a busy machine slows them alike. At the end, the results are compared: same
methods, same verdicts, largest statistic difference.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, median, peak_rss_mb, reset_peak_rss, rss_mb, run_worker

NUMERICAL = (
    "income",
    "loan_amount",
    "credit_score",
    "age",
    "balance",
    "ratio",
    "amount",
    "distance_km",
    "tenure_months",
    "noise",
    "has_cosigner",
    "term_months",
    "dependents",
    "rating",
)
CATEGORICAL = ("home", "purpose", "region", "country", "channel", "merchant")
REGIONS = ("Île-de-France", "Bayern", "Lombardia", "Cataluña", "Noord-Holland")
COUNTRIES = ("France", "Germany", "Spain", "Côte d'Ivoire", "Türkiye", "Brazil")


def _batch(rng: np.random.Generator, n: int, *, current: bool) -> pl.DataFrame:
    shift = 1.0 if current else 0.0
    income = np.exp(rng.normal(np.log(58_000.0) - 0.1 * shift, 0.45, n))
    income[rng.random(n) < 0.01] = np.nan
    amount = np.round(np.exp(rng.normal(np.log(45.0), 1.0, n)), 2)
    amount[rng.random(n) < 0.001] = np.inf
    purposes = ["debt", "card", "home", "car", "business", "medical", "other"]
    merchants = [f"m-{i:03d}" for i in range(200 + (10 if current else 0))]  # current: 10 new merchants
    return pl.DataFrame(
        {
            "income": income,
            "loan_amount": np.round(income * rng.lognormal(np.log(0.28), 0.45, n), -2),
            "credit_score": np.clip(np.round(rng.normal(695.0 - 20 * shift, 55.0, n)), 300, 850).astype(np.int64),
            "age": rng.integers(18, 91, n),
            "balance": rng.normal(1000.0, 300.0, n),
            "ratio": rng.beta(2.0, 5.0 + shift, n),
            "amount": amount,
            "distance_km": np.round(rng.exponential(15.0, n), 2),
            "tenure_months": rng.integers(1, 73, n),
            "noise": rng.normal(0.0, 1.0, n),
            "has_cosigner": (rng.random(n) < 0.12).astype(np.int64),
            "term_months": rng.choice(np.array([36, 60]), n, p=[0.7, 0.3]),
            "dependents": rng.integers(0, 5, n),
            "rating": rng.integers(1, 4, n),
            "home": rng.choice(["RENT", "OWN", "MORTGAGE"], n, p=[0.40, 0.15, 0.45]),
            "purpose": rng.choice(purposes, n, p=[0.30, 0.17, 0.10, 0.08, 0.25, 0.04, 0.06] if current else None),
            "region": rng.choice(REGIONS, n),
            "country": rng.choice(COUNTRIES, n),
            "channel": rng.choice(["web", "app", "branch", "phone"], n),
            "merchant": rng.choice(merchants, n),
        }
    )


# --- one measured run, in its own interpreter --------------------------------------------------


def _worker(method: str, data: Path) -> dict[str, Any]:
    # import first (each method only what it needs): a library's footprint is not the run's memory
    from governance.features import FeatureSpec

    spec = FeatureSpec(numeric=tuple(NUMERICAL), categorical=tuple(CATEGORICAL))
    if method == "ours":
        from pipelines.ml.drift import profile_drift, profile_reference
    else:
        import evidently.presets  # noqa: F401  (what a Report imports on first use)

        from lakehouse.evidently_drift import evidently_drift, evidently_report_drift
    started = rss_mb()
    reference = pl.read_parquet(data / "reference.parquet")
    current = pl.read_parquet(data / "current.parquet")
    gc.collect()
    load_peak = peak_rss_mb()
    reset_peak_rss()
    loaded = rss_mb()
    timings: dict[str, float] = {}
    if method == "ours":
        start = time.perf_counter()
        profile = profile_reference(reference, spec)
        timings["profile_s"] = time.perf_counter() - start
        start = time.perf_counter()
        drifts = profile_drift(profile, current)
        timings["drift_s"] = time.perf_counter() - start
        timings["total_s"] = timings["profile_s"] + timings["drift_s"]
    else:
        run = evidently_report_drift if method == "report" else evidently_drift
        start = time.perf_counter()
        drifts = run(reference, current, spec=spec)
        timings["total_s"] = time.perf_counter() - start
    peak = peak_rss_mb()
    return {
        "method": method,
        **timings,
        "imports_rss_mb": started,
        "loaded_rss_mb": loaded,
        "peak_rss_mb": max(peak, load_peak),
        "extra_mb": peak - loaded,
        "drift": [
            {"feature": d.feature, "method": d.method, "statistic": d.statistic, "drifted": d.drifted} for d in drifts
        ],
    }


# --- the driver ---------------------------------------------------------------------------------


def _compare(ours: list[dict[str, Any]], theirs: list[dict[str, Any]]) -> dict[str, Any]:
    same_features = [d["feature"] for d in ours] == [d["feature"] for d in theirs]
    pairs = list(zip(ours, theirs, strict=False))
    return {
        "same_features": same_features,
        "same_methods": same_features and all(a["method"] == b["method"] for a, b in pairs),
        "same_verdicts": same_features and all(a["drifted"] == b["drifted"] for a, b in pairs),
        "max_abs_statistic_diff": max(abs(a["statistic"] - b["statistic"]) for a, b in pairs),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--worker", choices=["ours", "report", "per_column"], help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--rows", type=int, default=1_000_000, help="current batch rows")
    parser.add_argument("--reference-rows", type=int, default=200_000)
    parser.add_argument("--ours-runs", type=int, default=5)
    parser.add_argument("--report-runs", type=int, default=2)
    parser.add_argument("--per-column-runs", type=int, default=1)
    parser.add_argument("--json", type=Path, help="also write every figure here")
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(_worker(args.worker, args.data)))
        return

    info = machine()
    print(f"machine: {info}", flush=True)
    with tempfile.TemporaryDirectory(prefix="mlgov-bench-drift-") as scratch:
        data = Path(scratch)
        rng = np.random.default_rng(20260601)
        _batch(rng, args.reference_rows, current=False).write_parquet(data / "reference.parquet")
        _batch(rng, args.rows, current=True).write_parquet(data / "current.parquet")
        plan = ["ours"] * args.ours_runs + ["report"] * args.report_runs + ["per_column"] * args.per_column_runs
        # interleave: ours, report, per_column, ours, report, ours, ... so load spikes hit all methods
        order = sorted(range(len(plan)), key=lambda i: (plan[:i].count(plan[i]), i))
        runs: dict[str, list[dict[str, Any]]] = {"ours": [], "report": [], "per_column": []}
        for i in order:
            result = run_worker(Path(__file__), plan[i], "--data", str(data))
            runs[plan[i]].append(result)
            print(
                f"  {plan[i]:<10} {result['total_s']:8.3f} s  peak {result['peak_rss_mb']:7.0f} MB"
                f"  extra {result['extra_mb']:6.0f} MB",
                flush=True,
            )

    summary: dict[str, Any] = {"machine": info, "rows": args.rows, "reference_rows": args.reference_rows}
    summary["columns"] = {"numerical": len(NUMERICAL), "categorical": len(CATEGORICAL)}
    for method, results in runs.items():
        if results:
            summary[method] = {
                "runs": len(results),
                "median_s": median([r["total_s"] for r in results]),
                "median_peak_rss_mb": median([r["peak_rss_mb"] for r in results]),
                "median_extra_mb": median([r["extra_mb"] for r in results]),
                "median_loaded_rss_mb": median([r["loaded_rss_mb"] for r in results]),
                "median_imports_rss_mb": median([r["imports_rss_mb"] for r in results]),
            }
    ours = summary["ours"]
    ours["median_profile_s"] = median([r["profile_s"] for r in runs["ours"]])
    ours["median_drift_s"] = median([r["drift_s"] for r in runs["ours"]])
    for method in ("report", "per_column"):
        if runs[method]:
            summary[method]["speedup_ours_total"] = summary[method]["median_s"] / ours["median_s"]
            summary[method]["speedup_ours_batch_only"] = summary[method]["median_s"] / ours["median_drift_s"]
            summary[method]["equality"] = _compare(runs["ours"][0]["drift"], runs[method][0]["drift"])
    summary["methods_used"] = sorted({d["method"] for d in runs["ours"][0]["drift"]})
    summary["drifted_features"] = [d["feature"] for d in runs["ours"][0]["drift"] if d["drifted"]]
    summary["date"] = datetime.now(UTC).isoformat(timespec="seconds")
    print(json.dumps(summary, indent=2))
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
