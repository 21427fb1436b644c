"""Batch scoring throughput: bare predict_proba vs our scoring path vs MLflow's pyfunc, same model and rows;
and `mlgov score` as a user runs it vs a plain process scoring with the model's own MLflow flavor.

    .venv/bin/python bench/bench_scoring.py                          # 1M and 5M rows, four algorithms; processes at 1M
    .venv/bin/python bench/bench_scoring.py --rows 200000 --repeats 2 --algorithms logreg \
        --process-rows 200000 --process-runs 1                       # quicker

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

Processes (--process-algorithms, default lightgbm and xgboost): a home built once through the real
jobs by bench_monitor.build (bench/.data/scoring-<train rows>-<rows>-<algorithm>/: `ingest` of a
training table and a batch table of --process-rows rows, `mlgov train --algorithm ALGORITHM`, two
approvals), then, interleaved --process-runs times:

* mlgov:  `mlgov score bench_default --table incoming --json` in a fresh process, start included,
          on the home restored (untimed) to before its first score: read the Delta table, score,
          write predictions, lineage, audit and batch records;
* flavor: bench/flavor_score.py in a fresh process: import MLflow, load the same version in its own
          flavor (mlflow.lightgbm / mlflow.xgboost for a model logged in one; mlgov's are scikit-learn
          pipelines ending in LightGBM's or XGBoost's classifier, so mlflow.sklearn), read the same rows
          with pandas, predict_proba.

Both under /usr/bin/time -v with OMP_NUM_THREADS=1 (the models' own n_jobs is 1). The scores mlgov
wrote must equal the flavor's for every row.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
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
ALGORITHMS = ["logreg", "hgb", "rf", "lightgbm", "xgboost"]
SCORING_GOAL = 0.9  # mlgov score's rows/s at least this share of the flavor's own


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


# --- processes: `mlgov score` vs the flavor's own, each a fresh process --------------------------


def _mlgov_score(data: Path, version: str, rows: int) -> dict[str, Any]:
    from bench_monitor import BATCH, MAKER, TASKS, _timed, environment, restore

    restore(data)  # before the batch's first score: every run scores and writes it
    command = [str(Path(sys.executable).parent / "mlgov"), "score", TASKS["binary"][0], "--table", BATCH]
    done, figures = _timed([*command, "--actor", MAKER, "--json"], env=environment(data), cwd=data)
    result = json.loads(done.stdout)
    if result["rows"] != rows or result["model_version"] != version or result["already_scored"]:
        raise SystemExit(f"mlgov score did not score the {rows} rows with version {version}: {result}")
    return figures


def _flavor_score(data: Path, version: str, scores: Path) -> dict[str, Any]:
    from bench_drift import CATEGORICAL, NUMERICAL
    from bench_monitor import TASKS, THREADS, _timed

    command = [
        sys.executable,
        str(Path(__file__).resolve().parent / "flavor_score.py"),
        *("--tracking-uri", f"sqlite:///{data / 'home' / 'mlflow.db'}"),
        *("--model-uri", f"models:/{TASKS['binary'][0]}/{version}"),
        *("--frame", str(data / "batch.parquet"), "--columns", ",".join((*NUMERICAL, *CATEGORICAL))),
        *("--scores", str(scores)),
    ]
    done, figures = _timed(command, env={**os.environ, **THREADS}, cwd=data)
    return {**figures, **json.loads(done.stdout.strip().splitlines()[-1])}


def _same_scores(data: Path, scores: Path) -> dict[str, Any]:
    """mlgov's predictions (from the home after its last run) against the flavor's, row by row."""
    theirs = pl.DataFrame({"entity_key": pl.read_parquet(data / "batch.parquet", columns=["id"])["id"]})
    theirs = theirs.with_columns(pl.Series("flavor", np.load(scores)))
    ours = pl.read_delta(str(data / "home" / "lakehouse" / "predictions")).select("entity_key", "score")
    joined = theirs.join(ours, on="entity_key", how="left")
    return {
        "rows_compared": joined.height,
        "identical_scores": bool(joined["score"].null_count() == 0 and (joined["score"] == joined["flavor"]).all()),
        "max_abs_diff": float((joined["score"] - joined["flavor"]).abs().max() or 0.0),  # type: ignore[arg-type]
    }


def _processes(args: argparse.Namespace) -> dict[str, Any]:
    from bench_monitor import DATA, build, print_profile_tail, profile_mlgov

    homes: dict[str, tuple[Path, str]] = {}
    for algorithm in args.process_algorithms:
        data = DATA / f"scoring-{args.train_rows}-{args.process_rows}-{algorithm}"
        print(f"home for {algorithm}: {data}", flush=True)
        built = build(
            data,
            rows=args.train_rows,
            batch_rows=args.process_rows,
            algorithm=algorithm,
            tasks=("binary",),
            score=False,
        )
        homes[algorithm] = (data, str(built["versions"]["binary"]["version"]))
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {a: {"mlgov": [], "flavor": []} for a in homes}
    for number in range(args.process_runs):
        for algorithm, (data, version) in homes.items():
            order = ["mlgov", "flavor"] if number % 2 == 0 else ["flavor", "mlgov"]  # neither always reads first
            for side in order:
                if side == "mlgov":
                    run = _mlgov_score(data, version, args.process_rows)
                else:
                    run = _flavor_score(data, version, data / "flavor-scores.npy")
                runs[algorithm][side].append(run)
                print(
                    f"  run {number + 1} {algorithm:<8} {side:<6} {run['seconds']:6.2f} s  cpu {run['cpu_s']:6.2f} s"
                    f"  peak {run['peak_mb']:5.0f} MB  load {run['load_avg_before']}"
                    + (
                        f"  (imports {run['imports_s']:.1f} s, read {run['read_s']:.1f} s, load {run['load_s']:.1f} s,"
                        f" predict {run['predict_s']:.1f} s; {run['flavor']} flavor)"
                        if side == "flavor"
                        else ""
                    ),
                    flush=True,
                )
    results = []
    for algorithm, (data, version) in homes.items():
        sides = runs[algorithm]
        med = {side: median([r["seconds"] for r in sides[side]]) for side in sides}
        flavor = sides["flavor"]
        result = {
            "algorithm": algorithm,
            "rows": args.process_rows,
            "train_rows": args.train_rows,
            "version": version,
            "home": str(data),
            "flavor": flavor[0]["flavor"],
            "median_s": med,
            "all_s": {side: [round(r["seconds"], 3) for r in sides[side]] for side in sides},
            "median_cpu_s": {side: median([r["cpu_s"] for r in sides[side]]) for side in sides},
            "peak_mb": {side: max(r["peak_mb"] for r in sides[side]) for side in sides},
            "load_avg_before": {side: [r["load_avg_before"] for r in sides[side]] for side in sides},
            "flavor_steps_median_s": {
                step: median([r[step] for r in flavor]) for step in ("imports_s", "read_s", "load_s", "predict_s")
            },
            "mlgov_vs_flavor": med["flavor"] / med["mlgov"],  # rows/s of mlgov score over the flavor's
            "mlgov_vs_flavor_predict_only": median([r["predict_s"] for r in flavor]) / med["mlgov"],
            **_same_scores(data, data / "flavor-scores.npy"),
        }
        results.append(result)
        print(
            f"  {algorithm:<8} {args.process_rows:>9,} rows  mlgov score {med['mlgov']:6.2f} s"
            f"  flavor process {med['flavor']:6.2f} s  mlgov/flavor {result['mlgov_vs_flavor']:.2f}x"
            f" (goal >= {SCORING_GOAL}x)  identical scores: {result['identical_scores']}",
            flush=True,
        )
    processes: dict[str, Any] = {"runs": args.process_runs, "goal": SCORING_GOAL, "results": results}
    if args.profile:
        from bench_monitor import TASKS

        processes["profiles"] = {}
        for algorithm, (data, _version) in homes.items():
            (data / "profiles").mkdir(exist_ok=True)
            profile = profile_mlgov(
                data,
                ["score", TASKS["binary"][0], "--table", "incoming", "--actor", "maya"],
                data / "profiles" / "score.prof",
            )
            processes["profiles"][algorithm] = profile
            print(
                f"\nmlgov score ({algorithm}): {profile['wall_s']:.2f} s under cProfile; our functions, cumulative s:"
            )
            for row in profile["ours_by_cumulative_s"][:30]:
                print(f"  {row['s']:8.3f}  {row['calls']:>6}  {row['function']}")
            print_profile_tail(profile)
    return processes


# --- the driver ---------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--worker", choices=["timing", "memory"], help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--algorithm", help=argparse.SUPPRESS)
    parser.add_argument("--method", default="ours", help=argparse.SUPPRESS)
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 5_000_000])
    parser.add_argument("--algorithms", nargs="*", default=["logreg", "hgb", "lightgbm", "xgboost"], choices=ALGORITHMS)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--process-algorithms",
        nargs="*",
        default=["lightgbm", "xgboost"],
        choices=ALGORITHMS,
        help="`mlgov score` vs the flavor's own process for these (none: skip)",
    )
    parser.add_argument("--process-rows", type=int, default=1_000_000, help="rows of the batch both processes score")
    parser.add_argument("--train-rows", type=int, default=200_000, help="rows the processes' models are trained on")
    parser.add_argument("--process-runs", type=int, default=3)
    parser.add_argument("--profile", action="store_true", help="also run `mlgov score` once under cProfile")
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
        if not args.algorithms:  # processes only
            args.rows = []
        spec = _setup(folder, args.algorithms) if args.algorithms else {}
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
    if args.process_algorithms:
        summary["processes"] = _processes(args)
    summary["date"] = datetime.now(UTC).isoformat(timespec="seconds")
    print(json.dumps(summary, indent=2))
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2) + "\n")
    if not all(r["ours_equals_pyfunc"] for r in summary["results"]):
        raise SystemExit("scores differ from MLflow pyfunc's")
    if not all(r["identical_scores"] for r in summary.get("processes", {}).get("results", [])):
        raise SystemExit("the scores mlgov score wrote differ from the flavor's")


if __name__ == "__main__":
    main()
