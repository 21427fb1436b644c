"""`mlgov score` of models trained outside mlgov and brought in by `mlgov register`, against the same
models scored in their own flavor by a plain process (issue #8: at least 0.9x).

    .venv/bin/python bench/bench_register_scoring.py --json /tmp/register-scoring.json
    .venv/bin/python bench/bench_register_scoring.py --train-rows 50000 --rows 200000 --runs 1   # quicker

The home is built once (bench/.data/register-<train rows>-<rows>/, ignored by git) through the real
commands, by bench_monitor.build: `init`, grants, `ingest` of a training table (bench_drift's 20
features, 14 numbers and 6 text, with missing values and non-ASCII text, plus a 0/1 target) and of a
batch table of --rows rows. Then, for each kind (lightgbm, xgboost, sklearn), a notebook process
(bench/notebook_models.py) fits the model on the first 80% of the training rows with pandas (text as
pandas categories for LightGBM; the numbers only for XGBoost, which refuses categories it did not see
in training and the batch has new ones; a scikit-learn pipeline of imputation, scaling and one-hot
encoding otherwise) and logs it with plain MLflow to the home's tracking server; `mlgov register`
brings it in and two reviewers promote it.

Then, interleaved --runs times, each a fresh process under /usr/bin/time -v with OMP_NUM_THREADS=1:

* mlgov:  `mlgov score bench_<kind> --table incoming --json`, start included, on the home restored
          (untimed) to before its first score: read the Delta table, score with the flavor's own
          predict_proba in chunks, write predictions, lineage, audit and batch records;
* flavor: notebook_models.py score: import MLflow, load the registered version with
          mlflow.<flavor>.load_model, read the same rows with pandas (text as category where the
          model was fitted so), predict_proba.

mlgov's scores must equal the flavor's on every row.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, median
from bench_monitor import BATCH, DATA, MAKER, REVIEWERS, THREADS, TRAINING, _timed, build, environment, mlgov

GOAL = 0.9
KINDS = ("lightgbm", "xgboost", "sklearn")
HERE = Path(__file__).resolve().parent


def _tracking(data: Path) -> str:
    return f"sqlite:///{data / 'home' / 'mlflow.db'}"


def _prepare(data: Path, *, train_rows: int, rows: int, kinds: list[str]) -> dict[str, str]:
    """The home with one registered, promoted version per kind (and its pristine copy); kind -> version."""
    marker = data / "registered.json"
    build(data, rows=train_rows, batch_rows=rows, algorithm="none", tasks=(), score=False)
    if marker.exists() and set(json.loads(marker.read_text())) >= set(kinds):
        return {k: v for k, v in json.loads(marker.read_text()).items() if k in kinds}
    versions: dict[str, str] = {}
    for kind in kinds:
        fitted = _run(
            [sys.executable, str(HERE / "notebook_models.py"), "fit", kind, str(data / "training.parquet")], data
        )
        uri = fitted.strip().splitlines()[-1]
        registered = mlgov(
            data,
            *("register", f"bench_{kind}", "--model-uri", uri, "--table", TRAINING, "--target", "defaulted"),
            *("--actor", MAKER),
        )
        request = mlgov(
            data, "promote", "request", f"bench_{kind}", registered["version"], "--actor", MAKER, "--reason", "bench"
        )
        for reviewer in REVIEWERS:
            approved = mlgov(
                data, "promote", "approve", request["request_id"], "--actor", reviewer, "--reason", "bench"
            )
        if approved["status"] != "promoted":
            raise SystemExit(f"bench_{kind} was not promoted: {approved}")
        versions[kind] = registered["version"]
        print(
            f"  {kind}: registered v{registered['version']} ({registered['flavor']}), "
            f"holdout ROC AUC {registered['metrics']['roc_auc']:.3f}",
            flush=True,
        )
    for name in ("home", "seals"):
        shutil.rmtree(data / "pristine" / name, ignore_errors=True)
        if (data / name).exists():
            shutil.copytree(data / name, data / "pristine" / name, symlinks=True)
    marker.write_text(json.dumps(versions))
    return versions


def _run(command: list[str], data: Path) -> str:
    import subprocess

    env = {**environment(data), "MLFLOW_TRACKING_URI": _tracking(data)}
    env.pop("MLGOV_HOME")
    done = subprocess.run([*command, _tracking(data)], capture_output=True, text=True, env=env, cwd=data)
    if done.returncode != 0:
        raise SystemExit(f"`{' '.join(command)}` failed:\n{done.stderr[-3000:]}")
    return done.stdout


def _restore(data: Path) -> None:
    for name in ("home", "seals"):
        shutil.rmtree(data / name, ignore_errors=True)
        if (data / "pristine" / name).exists():
            shutil.copytree(data / "pristine" / name, data / name, symlinks=True)


def _mlgov_score(data: Path, kind: str, rows: int) -> dict[str, Any]:
    _restore(data)
    command = [str(Path(sys.executable).parent / "mlgov"), "score", f"bench_{kind}", "--table", BATCH]
    done, figures = _timed([*command, "--actor", MAKER, "--json"], env=environment(data), cwd=data)
    if json.loads(done.stdout)["rows"] != rows:
        raise SystemExit(f"mlgov score of bench_{kind} did not score {rows} rows: {done.stdout}")
    # kept aside: the next run restores the home, and these are compared with the flavor's at the end
    pl.read_delta(str(data / "home" / "lakehouse" / "predictions")).filter(pl.col("model") == f"bench_{kind}").select(
        "entity_key", "score"
    ).write_parquet(data / f"mlgov-{kind}.parquet")
    return figures


def _flavor_score(data: Path, kind: str, version: str) -> dict[str, Any]:
    command = [
        sys.executable,
        str(HERE / "notebook_models.py"),
        *(
            "score",
            kind,
            f"models:/bench_{kind}/{version}",
            str(data / "batch.parquet"),
            str(data / f"flavor-{kind}.npy"),
        ),
        _tracking(data),
    ]
    done, figures = _timed(command, env={**os.environ, **THREADS}, cwd=data)
    return {**figures, **json.loads(done.stdout.strip().splitlines()[-1])}


def _same_scores(data: Path, kind: str) -> dict[str, Any]:
    theirs = pl.DataFrame({"entity_key": pl.read_parquet(data / "batch.parquet", columns=["id"])["id"]})
    theirs = theirs.with_columns(pl.Series("flavor", np.load(data / f"flavor-{kind}.npy")))
    ours = pl.read_parquet(data / f"mlgov-{kind}.parquet")
    joined = theirs.join(ours, on="entity_key", how="left")
    return {
        "rows_compared": joined.height,
        "identical_scores": bool(joined["score"].null_count() == 0 and (joined["score"] == joined["flavor"]).all()),
        "max_abs_diff": float((joined["score"] - joined["flavor"]).abs().max() or 0.0),  # type: ignore[arg-type]
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train-rows", type=int, default=100_000)
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the batch both processes score")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--kinds", nargs="*", default=list(KINDS), choices=KINDS)
    parser.add_argument("--json", type=Path, help="also write every figure here")
    args = parser.parse_args()
    info = machine()
    print(f"machine: {info}", flush=True)
    data = DATA / f"register-{args.train_rows}-{args.rows}"
    versions = _prepare(data, train_rows=args.train_rows, rows=args.rows, kinds=args.kinds)
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {k: {"mlgov": [], "flavor": []} for k in args.kinds}
    for number in range(args.runs):
        for kind in args.kinds:
            for side in ["mlgov", "flavor"] if number % 2 == 0 else ["flavor", "mlgov"]:
                run = (
                    _mlgov_score(data, kind, args.rows)
                    if side == "mlgov"
                    else _flavor_score(data, kind, versions[kind])
                )
                runs[kind][side].append(run)
                print(
                    f"  run {number + 1} {kind:<8} {side:<6} {run['seconds']:6.2f} s  cpu {run['cpu_s']:6.2f} s"
                    f"  peak {run['peak_mb']:5.0f} MB  load {run['load_avg_before']}",
                    flush=True,
                )
    results = []
    for kind in args.kinds:
        med = {side: median([r["seconds"] for r in runs[kind][side]]) for side in ("mlgov", "flavor")}
        result = {
            "kind": kind,
            "rows": args.rows,
            "median_s": med,
            "all_s": {side: [round(r["seconds"], 3) for r in runs[kind][side]] for side in runs[kind]},
            "median_cpu_s": {side: median([r["cpu_s"] for r in runs[kind][side]]) for side in runs[kind]},
            "flavor_predict_median_s": median([r["predict_s"] for r in runs[kind]["flavor"]]),
            "mlgov_vs_flavor": med["flavor"] / med["mlgov"],
            **_same_scores(data, kind),
        }
        results.append(result)
        print(
            f"  {kind:<8} {args.rows:>9,} rows  mlgov score {med['mlgov']:6.2f} s  flavor process {med['flavor']:6.2f} s"
            f"  mlgov/flavor {result['mlgov_vs_flavor']:.2f}x (goal >= {GOAL}x)"
            f"  identical scores: {result['identical_scores']}",
            flush=True,
        )
    if args.json:
        args.json.write_text(
            json.dumps({"machine": info, "runs": args.runs, "goal": GOAL, "results": results}, indent=2)
        )


if __name__ == "__main__":
    main()
