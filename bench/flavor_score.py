"""Score a frame with a registered model in its own MLflow flavor, as a plain Python process would
without mlgov: import MLflow, load the model, read the rows with pandas, call predict_proba.

    .venv/bin/python bench/flavor_score.py --tracking-uri sqlite:///HOME/mlflow.db \\
        --model-uri models:/bench_default/1 --frame batch.parquet --columns a,b,c --scores /tmp/scores.npy

bench_scoring.py runs it in a fresh process beside `mlgov score` on the same rows. It prints one JSON
document: the flavor it loaded with and the seconds of each step (imports, load, read, predict).
`flavor_scores` is all a model registered from outside needs: any model URI whose MLmodel carries
the lightgbm, xgboost or sklearn flavor.
"""

from __future__ import annotations

import time

STARTED = time.perf_counter()

import argparse  # noqa: E402  (after the clock starts: imports are part of the process's time)
import importlib  # noqa: E402
import json  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import mlflow  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

# the first of these a model carries is the one it is loaded with: the native flavors before sklearn's
FLAVORS = ("lightgbm", "xgboost", "sklearn")


def load_in_flavor(model_uri: str) -> tuple[Any, str]:
    """The model at `model_uri` loaded by its own flavor, and that flavor's name. A model mlgov trained
    is a scikit-learn pipeline (columns, then LightGBM, XGBoost or scikit-learn) in the sklearn flavor;
    one logged with mlflow.lightgbm or mlflow.xgboost loads as LightGBM's or XGBoost's own model."""
    flavors = mlflow.models.get_model_info(model_uri).flavors
    for name in FLAVORS:
        if name in flavors:
            return importlib.import_module(f"mlflow.{name}").load_model(model_uri), name
    raise SystemExit(f"{model_uri} has none of the flavors {', '.join(FLAVORS)} (it has {', '.join(flavors)})")


def positive_probability(model: Any, frame: pd.DataFrame) -> np.ndarray:
    """P(class 1) of each row by the model's own method: predict_proba where it has one (scikit-learn's
    API, LightGBM's and XGBoost's included), else a native booster's predict (a binary objective's
    probability)."""
    if hasattr(model, "predict_proba"):
        return np.asarray(model.predict_proba(frame))[:, 1]
    if type(model).__module__.startswith("xgboost"):
        import xgboost

        return np.asarray(model.predict(xgboost.DMatrix(frame)))
    return np.asarray(model.predict(frame))


def flavor_scores(model_uri: str, frame: pd.DataFrame) -> tuple[np.ndarray, dict[str, Any]]:
    """The positive-class scores of `frame` by the model at `model_uri` in its own flavor, and the
    flavor with the seconds its load and its predict took."""
    started = time.perf_counter()
    model, flavor = load_in_flavor(model_uri)
    loaded = time.perf_counter()
    scores = positive_probability(model, frame)
    return scores, {"flavor": flavor, "load_s": loaded - started, "predict_s": time.perf_counter() - loaded}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tracking-uri", required=True, help="the MLflow tracking and registry URI")
    parser.add_argument("--model-uri", required=True, help="e.g. models:/NAME/VERSION")
    parser.add_argument("--frame", type=Path, required=True, help="Parquet file of the rows to score")
    parser.add_argument("--columns", required=True, help="comma-separated feature columns to read")
    parser.add_argument("--scores", type=Path, help="write the scores here (.npy)")
    args = parser.parse_args()
    imported = time.perf_counter()
    mlflow.set_tracking_uri(args.tracking_uri)
    mlflow.set_registry_uri(args.tracking_uri)
    frame = pd.read_parquet(args.frame, columns=args.columns.split(","))
    read = time.perf_counter()
    scores, steps = flavor_scores(args.model_uri, frame)
    if args.scores:
        np.save(args.scores, scores)
    print(json.dumps({"imports_s": imported - STARTED, "read_s": read - imported, "rows": len(scores), **steps}))


if __name__ == "__main__":
    main()
