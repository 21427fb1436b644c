"""Pure modeling steps: which columns are features of which kind, the estimator, its outputs, the metrics.

sklearn sees a frame only at the model boundary (`model_frame`): numbers and booleans become floats
(nulls become NaN, imputed inside the model) and text becomes str with nulls as a '(missing)' level.
Every estimator is one shape, columns -> model, for every algorithm and task, so scoring's fast
category-encoding path applies to all of them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import (
    accuracy_score,
    brier_score_loss,
    f1_score,
    log_loss,
    mean_absolute_error,
    mean_absolute_percentage_error,
    precision_recall_fscore_support,
    r2_score,
    roc_auc_score,
    root_mean_squared_error,
)
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from governance.errors import InputError
from governance.features import FeatureSpec
from governance.tasks import Task

MISSING_LEVEL = "(missing)"
DECISION_THRESHOLD = 0.5
HOLDOUT_SHARE = 0.2


class Algorithm(StrEnum):
    """How a model is fitted; each builds the classifier or the regressor its task needs."""

    HGB = "hgb"  # scikit-learn's histogram gradient boosting
    LOGREG = "logreg"  # the linear model: logistic regression for classes, ridge regression for numbers
    RF = "rf"  # random forest
    LIGHTGBM = "lightgbm"
    XGBOOST = "xgboost"  # from the xgboost-cpu package


class Output(StrEnum):
    """What a model says about each row."""

    POSITIVE_PROBABILITY = "positive_probability"  # P(class 1): (n,)
    CLASS_PROBABILITIES = "class_probabilities"  # P(class) in the order of `classes_`: (n, k)
    PREDICTION = "prediction"  # a regressor's predicted value: (n,)


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


def build_estimator(algorithm: Algorithm, spec: FeatureSpec, *, task: Task = Task.BINARY, seed: int = 0) -> Pipeline:
    """The unfitted pipeline for `algorithm` and `task`: columns (median-imputed numbers, one-hot
    categories) -> a classifier (binary, multiclass) or a regressor. Multiclass XGBoost is wrapped in
    `LabelEncodedClassifier`, as XGBoost takes classes 0..k-1 only."""
    numeric = [SimpleImputer(strategy="median")]
    if algorithm is Algorithm.LOGREG:
        numeric.append(StandardScaler())
    encoder = OneHotEncoder(handle_unknown="infrequent_if_exist", max_categories=30, sparse_output=False)
    columns = ColumnTransformer(
        [("numeric", make_pipeline(*numeric), list(spec.numeric)), ("categorical", encoder, list(spec.categorical))]
    )
    if task is Task.REGRESSION:
        return Pipeline([("columns", columns), ("regressor", _regressor(algorithm, seed=seed))])
    classifier = _classifier(algorithm, seed=seed)
    if algorithm is Algorithm.XGBOOST and task is Task.MULTICLASS:
        classifier = LabelEncodedClassifier(classifier)
    return Pipeline([("columns", columns), ("classifier", classifier)])


# LightGBM and XGBoost run on one thread, as the random forest does: their OpenMP threads spin while
# they wait, and on a shared machine (or beside pytest-xdist's workers) fitting got 10x slower.
def _classifier(algorithm: Algorithm, *, seed: int) -> Any:
    match algorithm:
        case Algorithm.LOGREG:
            return LogisticRegression(max_iter=1000)
        case Algorithm.HGB:
            return HistGradientBoostingClassifier(max_iter=200, learning_rate=0.05, random_state=seed)
        case Algorithm.RF:
            return RandomForestClassifier(n_estimators=200, min_samples_leaf=5, n_jobs=1, random_state=seed)
        case Algorithm.LIGHTGBM:
            import lightgbm  # imported when used: ~1 s

            return lightgbm.LGBMClassifier(
                n_estimators=200, learning_rate=0.05, n_jobs=1, random_state=seed, verbose=-1
            )
        case Algorithm.XGBOOST:
            import xgboost

            return xgboost.XGBClassifier(n_estimators=200, learning_rate=0.05, n_jobs=1, random_state=seed)
    raise ValueError(f"unknown algorithm {algorithm!r}")


def _regressor(algorithm: Algorithm, *, seed: int) -> Any:
    match algorithm:
        case Algorithm.LOGREG:
            return Ridge(alpha=1.0)
        case Algorithm.HGB:
            return HistGradientBoostingRegressor(max_iter=200, learning_rate=0.05, random_state=seed)
        case Algorithm.RF:
            return RandomForestRegressor(n_estimators=200, min_samples_leaf=5, n_jobs=1, random_state=seed)
        case Algorithm.LIGHTGBM:
            import lightgbm

            return lightgbm.LGBMRegressor(n_estimators=200, learning_rate=0.05, n_jobs=1, random_state=seed, verbose=-1)
        case Algorithm.XGBOOST:
            import xgboost

            return xgboost.XGBRegressor(n_estimators=200, learning_rate=0.05, n_jobs=1, random_state=seed)
    raise ValueError(f"unknown algorithm {algorithm!r}")


class LabelEncodedClassifier(ClassifierMixin, BaseEstimator):
    """A classifier that takes classes 0..k-1 only (XGBoost), fitted on any labels: `classes_` are the
    labels, sorted, and `predict_proba`'s columns follow them."""

    def __init__(self, estimator: Any) -> None:
        self.estimator = estimator

    def fit(self, X: Any, y: Any) -> LabelEncodedClassifier:
        self.classes_, codes = np.unique(np.asarray(y), return_inverse=True)
        self.estimator_ = clone(self.estimator).fit(X, codes)
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        return np.asarray(self.estimator_.predict_proba(X))

    def predict(self, X: Any) -> np.ndarray:
        return np.asarray(self.classes_[np.argmax(self.predict_proba(X), axis=1)])


def positive_scores(estimator: Pipeline, features: pd.DataFrame) -> np.ndarray:
    return _outputs_of(estimator, features, Output.POSITIVE_PROBABILITY)


def _outputs_of(model: Any, features: Any, output: Output) -> np.ndarray:
    match output:
        case Output.POSITIVE_PROBABILITY:
            return np.asarray(model.predict_proba(features)[:, 1], dtype=np.float64)
        case Output.CLASS_PROBABILITIES:
            return np.asarray(model.predict_proba(features), dtype=np.float64)
        case Output.PREDICTION:
            return np.asarray(model.predict(features), dtype=np.float64)
    raise ValueError(f"unknown output {output!r}")


def score_rows(estimator: Pipeline, rows: pl.DataFrame, spec: FeatureSpec, *, chunk_rows: int) -> np.ndarray:
    """The positive-class scores of `rows`, chunk by chunk (memory stays bounded by `chunk_rows`).

    The same numbers as `estimator.predict_proba(model_frame(rows, spec))[:, 1]`, bit for bit: see
    `model_outputs`.
    """
    return model_outputs(estimator, rows, spec, chunk_rows=chunk_rows, output=Output.POSITIVE_PROBABILITY)


def model_outputs(
    estimator: Any, rows: pl.DataFrame, spec: FeatureSpec, *, chunk_rows: int, output: Output
) -> np.ndarray:
    """The `output` of `estimator` for `rows`, chunk by chunk (memory stays bounded by `chunk_rows`).

    The same numbers as `predict_proba` (or `predict`) on `model_frame(rows, spec)`, bit for bit: for the
    pipelines `build_estimator` makes, each distinct combination of categories is one-hot encoded once
    and gathered for its rows, instead of sklearn's per-row dictionary lookups over Python strings
    (most of a linear model's scoring time). Any other estimator takes the plain path.
    """
    outputs = _encoded_outputs if encodes_categories_once(estimator, spec) else _plain_outputs
    if rows.height == 0:
        width = (len(estimator.classes_),) if output is Output.CLASS_PROBABILITIES else ()
        return np.empty((0, *width), dtype=np.float64)
    return np.concatenate([outputs(estimator, chunk, spec, output) for chunk in rows.iter_slices(chunk_rows)])


def _plain_outputs(estimator: Any, chunk: pl.DataFrame, spec: FeatureSpec, output: Output) -> np.ndarray:
    # a model trained elsewhere takes its rows as its own signature types them (`ml.foreign`)
    frame = estimator.input_frame(chunk) if hasattr(estimator, "input_frame") else model_frame(chunk, spec)
    return _outputs_of(estimator, frame, output)


def encodes_categories_once(estimator: object, spec: FeatureSpec) -> bool:
    """Whether `estimator` is build_estimator's shape: numeric, then one-hot categories, then a model."""
    if not (isinstance(estimator, Pipeline) and len(estimator.steps) == 2 and spec.numeric and spec.categorical):
        return False
    columns = estimator.steps[0][1]
    if not isinstance(columns, ColumnTransformer) or not hasattr(columns, "transformers_"):
        return False
    fitted = [(name, list(cols)) for name, transformer, cols in columns.transformers_ if transformer != "drop"]
    expected = [("numeric", list(spec.numeric)), ("categorical", list(spec.categorical))]
    return fitted == expected and isinstance(columns.named_transformers_["categorical"], OneHotEncoder)


def _encoded_outputs(estimator: Pipeline, chunk: pl.DataFrame, spec: FeatureSpec, output: Output) -> np.ndarray:
    columns: ColumnTransformer = estimator.steps[0][1]
    numeric = columns.named_transformers_["numeric"].transform(chunk.select(_numbers(spec.numeric)).to_pandas())
    levels = chunk.select(_levels(spec.categorical))
    distinct = levels.unique(maintain_order=True)
    # each row's position among the distinct combinations (a left join keeps the rows' order)
    position = levels.join(
        distinct.with_row_index("_distinct"), on=list(spec.categorical), how="left", maintain_order="left"
    )["_distinct"].to_numpy()
    encoded = columns.named_transformers_["categorical"].transform(distinct.to_pandas())
    # as ColumnTransformer stacks its parts, so the model sees the very same matrix
    features = np.hstack([numeric, encoded[position]])
    return _outputs_of(estimator.steps[1][1], features, output)


def classification_metrics(labels: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    """Binary classification metrics at the 0.5 threshold; ranking metrics need both classes."""
    predicted = (scores >= DECISION_THRESHOLD).astype(np.int64)
    # one pass for the three: precision_score, recall_score and f1_score each call this and keep one
    precision, recall, f1, _ = precision_recall_fscore_support(labels, predicted, average="binary", zero_division=0)
    metrics = {
        "accuracy": float(accuracy_score(labels, predicted)),
        "precision": float(precision),
        "recall": float(recall),
        "f1": float(f1),
        "brier": float(brier_score_loss(labels, scores)),
        "positive_rate": float(labels.mean()),
        "mean_score": float(scores.mean()),
    }
    if len(np.unique(labels)) == 2:
        metrics["roc_auc"] = float(roc_auc_score(labels, scores))
        metrics["log_loss"] = float(log_loss(labels, np.clip(scores, 1e-15, 1 - 1e-15)))
    return metrics


def multiclass_metrics(labels: np.ndarray, probabilities: np.ndarray, classes: Sequence[str]) -> dict[str, float]:
    """Multiclass metrics of the most probable class; `probabilities` has one column per class, in the
    order of `classes`. ROC AUC (macro one-vs-rest) only when every class, and no other, occurs among
    the labels; recall per class (`recall:<class>`) for each class that occurs."""
    if len(labels) == 0:
        return {}
    names = np.asarray(classes, dtype=object)
    labels = np.asarray(labels, dtype=object)
    predicted = names[np.argmax(probabilities, axis=1)]
    metrics = {
        "accuracy": float(accuracy_score(labels, predicted)),
        "f1": float(f1_score(labels, predicted, average="macro", zero_division=0)),
    }
    present = set(labels.tolist())
    if present == set(classes):
        order = np.argsort(names)  # scikit-learn wants the labels sorted, and the columns in their order
        metrics["roc_auc"] = float(
            roc_auc_score(
                labels, probabilities[:, order], multi_class="ovr", average="macro", labels=names[order].tolist()
            )
        )
    for name in classes:
        if name in present:
            metrics[f"recall:{name}"] = float(np.mean(predicted[labels == name] == name))
    return metrics


def regression_metrics(targets: np.ndarray, predictions: np.ndarray) -> dict[str, float]:
    """Regression metrics. MAPE leaves out rows whose target is 0 (their percentage error is undefined;
    scikit-learn divides by 2.2e-16 instead) and is absent when every target is 0; R² needs two rows."""
    if len(targets) == 0:
        return {}
    metrics = {
        "mae": float(mean_absolute_error(targets, predictions)),
        "rmse": float(root_mean_squared_error(targets, predictions)),
        "mean_target": float(np.mean(targets)),
        "mean_prediction": float(np.mean(predictions)),
    }
    nonzero = targets != 0
    if nonzero.any():
        metrics["mape"] = float(mean_absolute_percentage_error(targets[nonzero], predictions[nonzero]))
    if len(targets) >= 2:
        metrics["r2"] = float(r2_score(targets, predictions))
    return metrics


def split_holdout(frame: pl.DataFrame, *, timestamp: str | None, key: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The latest HOLDOUT_SHARE of rows (by event time, else by key) are held out for evaluation."""
    ordered = frame.sort([timestamp, key] if timestamp else [key])
    cut = int(ordered.height * (1 - HOLDOUT_SHARE))
    return ordered.head(cut), ordered.tail(ordered.height - cut)
