"""Segment search and fairness on a 1M-row batch against the batch's drift, side by side in one run (issue #12).

    .venv/bin/python bench/bench_segments.py --json /tmp/segments.json         # 1,000,000 rows, 3 runs each
    .venv/bin/python bench/bench_segments.py --rows 200000 --runs 1             # a quick look

The batch and reference are bench_drift.py's (1,000,000 current rows x 20 columns, 200,000 reference
rows), written to Parquet once, with a predicted label per row and a label for every row; the model
errs in 10% of rows, and in 45% of a planted intersection (region = the first region and the youngest
age quartile), which the search must rank first.

Each side runs in a fresh interpreter (imports, reading the Parquet files and the work, as monitoring
does them for one batch of a new version), interleaved, OMP_NUM_THREADS=1 on both:

* `drift`: `profile_reference` of the reference + `profile_drift` of the batch, what the drift
  calculator does;
* `segments`: what the segment and fairness calculators do for the same batch: slice the reference and
  the batch (`slicing_edges`), the share search against the reference and the error
  search over the labelled rows (8 columns: 28 pairs and 56 triples each, `search_segments`), and fairness across `home` (`judge_attribute`: five metrics per group).

Goal: segments within 2x of drift.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, median, run_worker
from bench_drift import CATEGORICAL, NUMERICAL
from bench_drift import _batch as feature_rows

DATA = Path(__file__).resolve().parent / ".data"
# the columns searched, as a model's policy and features would give them (8: the search's default maximum)
SEARCHED = ("region", "age", "home", "purpose", "channel", "country", "credit_score", "income")


def _build(rows: int, reference_rows: int) -> Path:
    folder = DATA / f"segments-{rows}-{reference_rows}"
    if (folder / "current.parquet").exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(12)
    feature_rows(rng, reference_rows, current=False).write_parquet(folder / "reference.parquet")
    current = feature_rows(rng, rows, current=True)
    young = current["age"] < current["age"].quantile(0.25)
    planted = (current["region"] == current["region"][0]) & young
    predicted = (rng.random(rows) < 0.3).astype(np.int64)
    wrong = np.where(planted.to_numpy(), rng.random(rows) < 0.45, rng.random(rows) < 0.10)
    current.with_columns(
        pl.Series("predicted_label", predicted), pl.Series("truth", np.where(wrong, 1 - predicted, predicted))
    ).write_parquet(folder / "current.parquet")
    return folder


def _worker(method: str, folder: Path) -> dict[str, Any]:
    started = time.perf_counter()
    from governance.features import FeatureSpec

    spec = FeatureSpec(numeric=NUMERICAL, categorical=CATEGORICAL)
    if method == "drift":
        from pipelines.ml.drift import profile_drift, profile_reference

        reference = pl.read_parquet(folder / "reference.parquet", columns=list(spec.columns))
        current = pl.read_parquet(folder / "current.parquet", columns=list(spec.columns))
        drifted = sum(d.drifted for d in profile_drift(profile_reference(reference, spec), current))
        return {"seconds": time.perf_counter() - started, "drifted_columns": drifted}

    from governance.fairness import FairnessPolicy
    from governance.segments import MAX_LEVELS, SearchPolicy, SegmentTest, segment_reported
    from governance.tasks import Task
    from pipelines.ml.fairness import LABEL, judge_attribute
    from pipelines.ml.segments import (
        LOSS,
        row_loss,
        search_segments,
        slicing_edges,
        without_refinements,
    )

    policy = SearchPolicy()
    reference = pl.read_parquet(folder / "reference.parquet", columns=list(spec.columns))
    current = pl.read_parquet(folder / "current.parquet").rename({"truth": LABEL})
    edges, columns = slicing_edges(
        reference,
        chosen=[],
        candidates=SEARCHED,
        numeric_buckets=policy.numeric_buckets,
        max_levels=MAX_LEVELS,
        max_columns=policy.max_columns,
    )
    searched = {c: edges[c] for c in columns}
    loss = current.select(row_loss(Task.BINARY, label=LABEL))
    found = search_segments(
        current.select(columns), reference.select(columns), searched, loss=loss[LOSS], min_rows=policy.min_rows
    )
    shifted, worse = found.shares, found.losses
    assert worse is not None  # every row is labelled
    judged = judge_attribute(current, "home", declared=None, task=Task.BINARY, policy=FairnessPolicy())

    def reported(tested: pl.DataFrame) -> list[str]:
        return without_refinements(
            [
                r["segment"]
                for r in tested.iter_rows(named=True)
                if segment_reported(SegmentTest(r["rows"], r["gap"], r["adjusted_p"]), policy=policy)
            ]
        )

    found = reported(worse)
    return {
        "seconds": time.perf_counter() - started,
        "columns": columns,
        "tested_error_segments": worse.height,
        "tested_share_segments": shifted.height,
        "first_error_finding": found[0] if found else None,
        "error_findings": len(found),
        "share_findings": len(reported(shifted)),
        "fairness_checks": len(judged.metrics),
        "planted_region": str(current["region"][0]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--reference-rows", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--worker", nargs=2, metavar=("METHOD", "FOLDER"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        method, folder = args.worker
        print(json.dumps(_worker(method, Path(folder))))
        return
    folder = _build(args.rows, args.reference_rows)
    script = Path(__file__).resolve()
    runs: dict[str, list[dict[str, Any]]] = {"drift": [], "segments": []}
    for _ in range(args.runs):
        for method in runs:  # interleaved: load from other work falls on both sides alike
            runs[method].append(run_worker(script, method, str(folder), threads=1))
    drift = median([r["seconds"] for r in runs["drift"]])
    segments = median([r["seconds"] for r in runs["segments"]])
    last = runs["segments"][-1]
    result = {
        "machine": machine(),
        "rows": args.rows,
        "reference_rows": args.reference_rows,
        "drift_median_s": round(drift, 2),
        "segments_median_s": round(segments, 2),
        "segments_over_drift": round(segments / drift, 2),
        "goal": "segments within 2x of drift",
        "segments": {k: v for k, v in last.items() if k != "seconds"},
        "runs": runs,
    }
    print(
        f"drift {drift:.2f} s, segments + fairness {segments:.2f} s: {segments / drift:.2f}x "
        f"(first error finding: {last['first_error_finding']})"
    )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
