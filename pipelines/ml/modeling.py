"""Pure modeling steps: which columns are features of which kind, the estimator, the metrics.

sklearn sees a frame only at the model boundary (`model_frame`): numbers and booleans become floats
(nulls become NaN, imputed inside the model) and text becomes str with nulls as a '(missing)' level.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import StrEnum

import numpy as np
import pandas as pd
import polars as pl
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (
    accuracy_score,
    brier_score_loss,
    f1_score,
    log_loss,
    precision_score,
    recall_score,
    roc_auc_score,
)
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from governance.errors import InputError
from governance.features import FeatureSpec

MISSING_LEVEL = "(missing)"
DECISION_THRESHOLD = 0.5
HOLDOUT_SHARE = 0.2


class Algorithm(StrEnum):
    HGB = "hgb"
    LOGREG = "logreg"
    RF = "rf"


def feature_spec(
    schema: Mapping[str, pl.DataType], *, exclude: Sequence[str], requested: Sequence[str] | None
) -> FeatureSpec:
    """The features to train on, by dtype: `requested`, or every column not excluded when it is None.
    Refuses an empty request, empty names, and columns that are missing or of an unusable type."""
    if requested is None:
        names = [c for c in schema if c not in exclude]
        if not names:
            raise InputError("no feature columns: the table holds only the key, timestamp and target")
    else:
        names = list(requested)
        if not names:
            raise InputError("the feature list is empty: expected at least one column name")
        if not all(name.strip() for name in names):
            raise InputError(f"the feature list {names!r} has an empty column name: expected column names")
    numeric: list[str] = []
    categorical: list[str] = []
    for name in names:
        if name not in schema:
            raise InputError(f"feature column {name!r} is not in the table (columns: {', '.join(schema)})")
        if name in exclude:
            raise InputError(f"column {name!r} is the key, timestamp or target and cannot be a feature")
        dtype = schema[name]
        if dtype.is_numeric() or dtype == pl.Boolean:
            numeric.append(name)
        elif dtype in (pl.String, pl.Categorical) or isinstance(dtype, pl.Enum):
            categorical.append(name)
        else:
            raise InputError(f"feature column {name!r} has type {dtype}: expected a number, boolean or text")
    return FeatureSpec(numeric=tuple(numeric), categorical=tuple(categorical))


def model_frame(frame: pl.DataFrame, spec: FeatureSpec) -> pd.DataFrame:
    """The features as the estimator expects them: float numbers, str categories."""
    return frame.select(*_numbers(spec.numeric), *_levels(spec.categorical)).to_pandas()


def _numbers(columns: Sequence[str]) -> list[pl.Expr]:
    return [pl.col(c).cast(pl.Float64) for c in columns]


def _levels(columns: Sequence[str]) -> list[pl.Expr]:
    return [pl.col(c).cast(pl.String).fill_null(MISSING_LEVEL) for c in columns]


def build_estimator(algorithm: Algorithm, spec: FeatureSpec, *, seed: int = 0) -> Pipeline:
    numeric = [SimpleImputer(strategy="median")]
    if algorithm is Algorithm.LOGREG:
        numeric.append(StandardScaler())
    encoder = OneHotEncoder(handle_unknown="infrequent_if_exist", max_categories=30, sparse_output=False)
    columns = ColumnTransformer(
        [("numeric", make_pipeline(*numeric), list(spec.numeric)), ("categorical", encoder, list(spec.categorical))]
    )
    classifier: LogisticRegression | HistGradientBoostingClassifier | RandomForestClassifier
    match algorithm:
        case Algorithm.LOGREG:
            classifier = LogisticRegression(max_iter=1000)
        case Algorithm.HGB:
            classifier = HistGradientBoostingClassifier(max_iter=200, learning_rate=0.05, random_state=seed)
        case Algorithm.RF:
            classifier = RandomForestClassifier(n_estimators=200, min_samples_leaf=5, n_jobs=1, random_state=seed)
    return Pipeline([("columns", columns), ("classifier", classifier)])


def positive_scores(estimator: Pipeline, features: pd.DataFrame) -> np.ndarray:
    return np.asarray(estimator.predict_proba(features)[:, 1], dtype=np.float64)


def score_rows(estimator: Pipeline, rows: pl.DataFrame, spec: FeatureSpec, *, chunk_rows: int) -> np.ndarray:
    """The positive-class scores of `rows`, chunk by chunk (memory stays bounded by `chunk_rows`).

    The same numbers as `estimator.predict_proba(model_frame(rows, spec))[:, 1]`, bit for bit: for the
    pipelines `build_estimator` makes, each distinct combination of categories is one-hot encoded once
    and gathered for its rows, instead of sklearn's per-row dictionary lookups over Python strings
    (most of a linear model's scoring time). Any other estimator takes the plain path.
    """
    score = _encoded_scores if encodes_categories_once(estimator, spec) else _plain_scores
    if rows.height == 0:
        return np.empty(0, dtype=np.float64)
    return np.concatenate([score(estimator, chunk, spec) for chunk in rows.iter_slices(chunk_rows)])


def _plain_scores(estimator: Pipeline, chunk: pl.DataFrame, spec: FeatureSpec) -> np.ndarray:
    return positive_scores(estimator, model_frame(chunk, spec))


def encodes_categories_once(estimator: object, spec: FeatureSpec) -> bool:
    """Whether `estimator` is build_estimator's shape: numeric, then one-hot categories, then a classifier."""
    if not (isinstance(estimator, Pipeline) and len(estimator.steps) == 2 and spec.numeric and spec.categorical):
        return False
    columns = estimator.steps[0][1]
    if not isinstance(columns, ColumnTransformer) or not hasattr(columns, "transformers_"):
        return False
    fitted = [(name, list(cols)) for name, transformer, cols in columns.transformers_ if transformer != "drop"]
    expected = [("numeric", list(spec.numeric)), ("categorical", list(spec.categorical))]
    return fitted == expected and isinstance(columns.named_transformers_["categorical"], OneHotEncoder)


def _encoded_scores(estimator: Pipeline, chunk: pl.DataFrame, spec: FeatureSpec) -> np.ndarray:
    columns: ColumnTransformer = estimator.steps[0][1]
    numeric = columns.named_transformers_["numeric"].transform(chunk.select(_numbers(spec.numeric)).to_pandas())
    levels = chunk.select(_levels(spec.categorical))
    distinct = levels.unique(maintain_order=True)
    # each row's position among the distinct combinations (a left join keeps the rows' order)
    position = levels.join(
        distinct.with_row_index("_distinct"), on=list(spec.categorical), how="left", maintain_order="left"
    )["_distinct"].to_numpy()
    encoded = columns.named_transformers_["categorical"].transform(distinct.to_pandas())
    # as ColumnTransformer stacks its parts, so the classifier sees the very same matrix
    features = np.hstack([numeric, encoded[position]])
    return np.asarray(estimator.steps[1][1].predict_proba(features)[:, 1], dtype=np.float64)


def classification_metrics(labels: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    """Binary classification metrics at the 0.5 threshold; ranking metrics need both classes."""
    predicted = (scores >= DECISION_THRESHOLD).astype(np.int64)
    metrics = {
        "accuracy": float(accuracy_score(labels, predicted)),
        "precision": float(precision_score(labels, predicted, zero_division=0)),
        "recall": float(recall_score(labels, predicted, zero_division=0)),
        "f1": float(f1_score(labels, predicted, zero_division=0)),
        "brier": float(brier_score_loss(labels, scores)),
        "positive_rate": float(labels.mean()),
        "mean_score": float(scores.mean()),
    }
    if len(np.unique(labels)) == 2:
        metrics["roc_auc"] = float(roc_auc_score(labels, scores))
        metrics["log_loss"] = float(log_loss(labels, np.clip(scores, 1e-15, 1 - 1e-15)))
    return metrics


def split_holdout(frame: pl.DataFrame, *, timestamp: str | None, key: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The latest HOLDOUT_SHARE of rows (by event time, else by key) are held out for evaluation."""
    ordered = frame.sort([timestamp, key] if timestamp else [key])
    cut = int(ordered.height * (1 - HOLDOUT_SHARE))
    return ordered.head(cut), ordered.tail(ordered.height - cut)
