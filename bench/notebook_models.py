"""A notebook, as a process of its own, for bench_register_scoring.py: fit a model the way a data
scientist would (pandas; text as category for LightGBM, numbers only for XGBoost, a scikit-learn
pipeline otherwise) on the first 80% of the training rows by time, and log it with plain MLflow; or score a
frame with a model in its own flavor, as that notebook would without mlgov.

    python notebook_models.py fit KIND TRAINING.parquet TRACKING_URI      -> prints the runs:/ URI
    python notebook_models.py score KIND MODEL_URI FRAME.parquet SCORES.npy TRACKING_URI
"""

from __future__ import annotations

import time

STARTED = time.perf_counter()

import json  # noqa: E402  (after the clock starts: imports are part of the process's time)
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import mlflow  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_drift import CATEGORICAL, NUMERICAL  # noqa: E402

FEATURES = [*NUMERICAL, *CATEGORICAL]
KINDS = ("lightgbm", "xgboost", "sklearn")


def _categories(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(**{c: frame[c].astype("category") for c in CATEGORICAL})


def fit(kind: str, training: str, tracking_uri: str) -> str:
    from mlflow.models import infer_signature

    rows = pd.read_parquet(training).sort_values("at")
    rows = rows.head(int(len(rows) * 0.8))
    features, target = rows[FEATURES], rows["defaulted"]
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_experiment(f"notebook-{kind}")
    with mlflow.start_run() as run:
        if kind == "lightgbm":
            import lightgbm

            model = lightgbm.LGBMClassifier(n_estimators=200, learning_rate=0.05, n_jobs=1, verbose=-1)
            model.fit(_categories(features), target)
            signature = infer_signature(features, model.predict_proba(_categories(features.head(100))))
            mlflow.lightgbm.log_model(model, name="model", signature=signature)
        elif kind == "xgboost":
            import xgboost

            # numbers only: XGBoost refuses a category it did not see in training, and the batch has new ones
            numbers = features[list(NUMERICAL)]
            model = xgboost.XGBClassifier(n_estimators=200, learning_rate=0.05, n_jobs=1)
            model.fit(numbers, target)
            signature = infer_signature(numbers, model.predict_proba(numbers.head(100)))
            mlflow.xgboost.log_model(model, name="model", signature=signature)
        else:
            from sklearn.compose import ColumnTransformer
            from sklearn.impute import SimpleImputer
            from sklearn.linear_model import LogisticRegression
            from sklearn.pipeline import make_pipeline
            from sklearn.preprocessing import OneHotEncoder, StandardScaler

            columns = ColumnTransformer(
                [
                    ("numbers", make_pipeline(SimpleImputer(), StandardScaler()), NUMERICAL),
                    (
                        "text",
                        make_pipeline(SimpleImputer(strategy="most_frequent"), OneHotEncoder(handle_unknown="ignore")),
                        CATEGORICAL,
                    ),
                ]
            )
            model = make_pipeline(columns, LogisticRegression(max_iter=500)).fit(features, target)
            signature = infer_signature(features, model.predict_proba(features.head(100)))
            mlflow.sklearn.log_model(model, name="model", signature=signature, serialization_format="cloudpickle")
    return f"runs:/{run.info.run_id}/model"


def score(kind: str, model_uri: str, frame_path: str, scores: str, tracking_uri: str) -> dict[str, float]:
    imported = time.perf_counter()
    mlflow.set_tracking_uri(tracking_uri)
    model = getattr(mlflow, kind).load_model(model_uri)
    loaded = time.perf_counter()
    frame = pd.read_parquet(frame_path, columns=list(NUMERICAL) if kind == "xgboost" else FEATURES)
    if kind == "lightgbm":
        frame = _categories(frame)
    read = time.perf_counter()
    np.save(scores, np.asarray(model.predict_proba(frame))[:, 1])
    return {
        "imports_s": imported - STARTED,
        "load_s": loaded - imported,
        "read_s": read - loaded,
        "predict_s": time.perf_counter() - read,
    }


if __name__ == "__main__":
    if sys.argv[1] == "fit":
        print(fit(*sys.argv[2:5]))
    else:
        print(json.dumps(score(*sys.argv[2:7])))
