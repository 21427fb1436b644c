"""Batch scoring throughput: bare predict_proba vs our scoring path vs MLflow's pyfunc, same model and rows.

    .venv/bin/python bench/bench_scoring.py                          # 1M and 5M rows, logreg and hgb
    .venv/bin/python bench/bench_scoring.py --rows 200000 --repeats 2   # quicker

* bare:   estimator.predict_proba(frame)[:, 1] on a pandas frame prepared beforehand (untimed);
* ours:   what pipelines/score.py does with the collected polars rows: pipelines.ml.modeling.score_rows
          in chunks of Settings.score_chunk_rows (each distinct combination of categories encoded once);
* pyfunc: mlflow.pyfunc.load_model("models:/...").predict(frame)[:, 1] on the same prepared frame.

Models are pipelines.ml.modeling.build_estimator pipelines fitted on the demo loan history and logged
once through lakehouse.registry.ModelRegistry into a temporary SQLite registry; bare and ours use
the estimator the registry loads (as the score job does), pyfunc loads the same version. Rows are
drawn with replacement from demo loan weeks (nulls and non-ASCII text included). Timings run in a
fresh interpreter per (algorithm, rows), the three methods interleaved, and a second fresh
interpreter measures our path's peak memory above the loaded rows. Scores must be identical to
pyfunc's second column.
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

from governance.features import FeatureSpec
from lakehouse.settings import Settings
from pipelines.ml.modeling import model_frame, positive_scores, score_rows

CHUNK_ROWS = Settings(home=Path(), tracking_uri="").score_chunk_rows


def _our_scores(estimator: Any, rows: pl.DataFrame, spec: FeatureSpec) -> np.ndarray:
    return score_rows(estimator, rows, spec, chunk_rows=CHUNK_ROWS)  # as pipelines/score.py calls it


def _setup(folder: Path, algorithms: list[str]) -> dict[str, Any]:
    from lakehouse.registry import ModelRegistry
    from pipelines.demo.data import build_demo_datasets
    from pipelines.ml.modeling import Algorithm, build_estimator, feature_spec
    from pipelines.ml.tasks import BinaryTask

    loans = build_demo_datasets(
        start=datetime(2026, 6, 1, tzinfo=UTC), history_rows=50_000, batch_rows=100_000, n_weeks=2, drift_from_week=1
    )[0]
    spec = feature_spec(
        loans.history.schema, exclude=[loans.key, loans.timestamp, loans.target], requested=list(loans.features)
    )
    pl.concat(loans.weeks).select(spec.columns).write_parquet(folder / "pool.parquet")
    registry = ModelRegistry(
        tracking_uri=f"sqlite:///{folder / 'mlflow.db'}", artifact_root=(folder / "artifacts").as_uri()
    )
    for algorithm in algorithms:
        estimator = build_estimator(Algorithm(algorithm), spec)
        estimator.fit(model_frame(loans.history, spec), BinaryTask().target(loans.history[loans.target]))
        registry.log_model(
            model=f"bench_{algorithm}",
            estimator=estimator,
            input_example=model_frame(loans.history.head(5), spec),
            params={"algorithm": algorithm},
            metrics={},
            tags={},
        )
    return {"numeric": spec.numeric, "categorical": spec.categorical}


# --- measured runs, each in its own interpreter ------------------------------------------------


def _load(folder: Path, algorithm: str, rows: int) -> tuple[pl.DataFrame, FeatureSpec, Any]:
    from lakehouse.registry import ModelRegistry

    spec_json = json.loads((folder / "spec.json").read_text())
    spec = FeatureSpec(numeric=tuple(spec_json["numeric"]), categorical=tuple(spec_json["categorical"]))
    frame = pl.read_parquet(folder / "pool.parquet").sample(n=rows, with_replacement=True, seed=rows)
    registry = ModelRegistry(
        tracking_uri=f"sqlite:///{folder / 'mlflow.db'}", artifact_root=(folder / "artifacts").as_uri()
    )
    estimator = registry.load_estimator(f"bench_{algorithm}", "1")
    return frame, spec, estimator


def _timing_worker(folder: Path, algorithm: str, rows: int, repeats: int) -> dict[str, Any]:
    import mlflow

    frame, spec, estimator = _load(folder, algorithm, rows)
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    pyfunc = mlflow.pyfunc.load_model(f"models:/bench_{algorithm}/1")
    prepared = model_frame(frame, spec)  # bare and pyfunc get the frame ready-made

    runs: dict[str, list[float]] = {"bare": [], "ours": [], "pyfunc": []}
    cpu: dict[str, list[float]] = {"bare": [], "ours": [], "pyfunc": []}
    scores: dict[str, np.ndarray] = {}
    methods = {
        "bare": lambda: np.asarray(estimator.predict_proba(prepared)[:, 1], dtype=np.float64),
        "ours": lambda: _our_scores(estimator, frame, spec),
        "pyfunc": lambda: np.asarray(pyfunc.predict(prepared))[:, 1],
    }
    for _ in range(repeats):
        for name, method in methods.items():  # interleaved: a load spike hits every method alike
            gc.collect()
            start, start_cpu = time.perf_counter(), time.process_time()
            result = method()
            runs[name].append(time.perf_counter() - start)
            cpu[name].append(time.process_time() - start_cpu)  # all threads: less sensitive to others' load
            scores.setdefault(name, result)
    return {
        "seconds": runs,
        "cpu_seconds": cpu,
        "ours_equals_pyfunc": bool(np.array_equal(scores["ours"], scores["pyfunc"])),
        "ours_equals_bare": bool(np.array_equal(scores["ours"], scores["bare"])),
        "max_abs_diff_vs_pyfunc": float(np.max(np.abs(scores["ours"] - scores["pyfunc"]))),
    }


def _memory_worker(folder: Path, algorithm: str, rows: int, method: str) -> dict[str, Any]:
    frame, spec, estimator = _load(folder, algorithm, rows)
    positive_scores(estimator, model_frame(frame.head(1000), spec))  # warm lazy imports before measuring
    gc.collect()
    reset_peak_rss()
    loaded = rss_mb()
    if method == "ours":
        _our_scores(estimator, frame, spec)
    else:  # bare, with its whole-frame preparation: what scoring without chunks would hold
        positive_scores(estimator, model_frame(frame, spec))
    return {"loaded_rss_mb": loaded, "peak_rss_mb": peak_rss_mb(), "extra_mb": peak_rss_mb() - loaded}


# --- the driver ---------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--worker", choices=["timing", "memory"], help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--algorithm", help=argparse.SUPPRESS)
    parser.add_argument("--method", default="ours", help=argparse.SUPPRESS)
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 5_000_000])
    parser.add_argument("--algorithms", nargs="+", default=["logreg", "hgb"], choices=["logreg", "hgb", "rf"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--threads",
        type=int,
        help="pin BLAS/OpenMP/polars threads of every method to this (default: the libraries' own)",
    )
    parser.add_argument("--json", type=Path, help="also write every figure here")
    args = parser.parse_args()
    if args.worker == "timing":
        print(json.dumps(_timing_worker(args.folder, args.algorithm, args.rows[0], args.repeats)))
        return
    if args.worker == "memory":
        print(json.dumps(_memory_worker(args.folder, args.algorithm, args.rows[0], args.method)))
        return

    info = machine()
    print(f"machine: {info}", flush=True)
    summary: dict[str, Any] = {
        "machine": info,
        "threads": args.threads or "library defaults",
        "chunk_rows": CHUNK_ROWS,
        "repeats": args.repeats,
        "results": [],
    }
    with tempfile.TemporaryDirectory(prefix="mlgov-bench-scoring-") as scratch:
        folder = Path(scratch)
        spec = _setup(folder, args.algorithms)
        (folder / "spec.json").write_text(json.dumps(spec))
        summary["features"] = spec
        here = Path(__file__)
        for algorithm in args.algorithms:
            for rows in args.rows:
                common = ("--folder", str(folder), "--algorithm", algorithm, "--rows", str(rows))
                timing = run_worker(here, "timing", *common, "--repeats", str(args.repeats), threads=args.threads)
                memory = run_worker(here, "memory", *common, "--method", "ours", threads=args.threads)
                bare_memory = run_worker(here, "memory", *common, "--method", "bare", threads=args.threads)
                med = {name: median(seconds) for name, seconds in timing["seconds"].items()}
                med_cpu = {name: median(seconds) for name, seconds in timing["cpu_seconds"].items()}
                result = {
                    "algorithm": algorithm,
                    "rows": rows,
                    "median_s": med,
                    "rows_per_s": {name: rows / s for name, s in med.items()},
                    "ours_vs_bare": med["bare"] / med["ours"],
                    "pyfunc_vs_bare": med["bare"] / med["pyfunc"],
                    "ours_vs_pyfunc": med["pyfunc"] / med["ours"],
                    "median_cpu_s": med_cpu,
                    "ours_vs_bare_cpu": med_cpu["bare"] / med_cpu["ours"],
                    "all_seconds": timing["seconds"],
                    "all_cpu_seconds": timing["cpu_seconds"],
                    "ours_equals_pyfunc": timing["ours_equals_pyfunc"],
                    "ours_equals_bare": timing["ours_equals_bare"],
                    "max_abs_diff_vs_pyfunc": timing["max_abs_diff_vs_pyfunc"],
                    "ours_extra_mb": memory["extra_mb"],
                    "ours_loaded_rss_mb": memory["loaded_rss_mb"],
                    "bare_unchunked_extra_mb": bare_memory["extra_mb"],
                }
                summary["results"].append(result)
                print(
                    f"  {algorithm:<6} {rows:>9,} rows  bare {med['bare']:7.2f} s  ours {med['ours']:7.2f} s"
                    f"  pyfunc {med['pyfunc']:7.2f} s  ours/bare {result['ours_vs_bare']:.2f}x"
                    f"  pyfunc/bare {result['pyfunc_vs_bare']:.2f}x  (cpu: ours/bare {result['ours_vs_bare_cpu']:.2f}x)"
                    f"  ours extra {memory['extra_mb']:.0f} MB"
                    f"  identical to pyfunc: {timing['ours_equals_pyfunc']}",
                    flush=True,
                )
    summary["date"] = datetime.now(UTC).isoformat(timespec="seconds")
    print(json.dumps(summary, indent=2))
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2) + "\n")
    if not all(r["ours_equals_pyfunc"] for r in summary["results"]):
        raise SystemExit("scores differ from MLflow pyfunc's")


if __name__ == "__main__":
    main()
