"""Request-sized scoring of mlgov's own pipelines, with the same numbers as batch scoring.

A request holds a few rows, so scikit-learn's per-call input checks cost more than the model. For the
pipelines `ml.modeling.build_estimator` makes (numbers through an imputer and maybe a scaler, text
one-hot encoded, then a model), the numeric steps are applied as the very arithmetic they do, and each
combination of categories is one-hot encoded once per server and remembered: the model then sees the
same matrix as in `ml.modeling` (bit for bit; tested), and its answers are the same.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from governance.features import FeatureSpec
from pipelines.ml.modeling import MISSING_LEVEL, encodes_categories_once

_CACHE_LIMIT = 100_000  # category combinations remembered; beyond it the memory starts afresh


class RequestScorer:
    """Stands in for a fitted `build_estimator` pipeline where `ml.modeling` scores rows: it makes the
    model's input matrix (`input_frame`) and answers through the pipeline's own model."""

    def __init__(self, estimator: Pipeline, spec: FeatureSpec) -> None:
        columns: ColumnTransformer = estimator.steps[0][1]
        self._spec = spec
        self._numeric = columns.named_transformers_["numeric"]
        self._encoder = columns.named_transformers_["categorical"]
        self._model = estimator.steps[1][1]
        self._arithmetic = _as_arithmetic(self._numeric)
        self._encoded: dict[tuple[str, ...], np.ndarray] = {}
        if hasattr(self._model, "classes_"):
            self.classes_ = self._model.classes_

    def input_frame(self, chunk: pl.DataFrame) -> np.ndarray:
        numbers = chunk.select(pl.col(c).cast(pl.Float64) for c in self._spec.numeric)
        if self._arithmetic is None:
            numeric = self._numeric.transform(numbers.to_pandas())
        else:
            numeric = numbers.to_numpy().astype(np.float64, copy=True)
            for step in self._arithmetic:
                numeric = step(numeric)
        levels = chunk.select(pl.col(c).cast(pl.String).fill_null(MISSING_LEVEL) for c in self._spec.categorical)
        combinations = levels.rows()
        unseen = [combination for combination in dict.fromkeys(combinations) if combination not in self._encoded]
        if unseen:
            if len(self._encoded) + len(unseen) > _CACHE_LIMIT:
                self._encoded = {}
            encoded = self._encoder.transform(pd.DataFrame(unseen, columns=list(self._spec.categorical)))
            self._encoded.update(zip(unseen, np.asarray(encoded, dtype=np.float64), strict=True))
        categories = np.vstack([self._encoded[combination] for combination in combinations])
        return np.hstack([numeric, categories])

    def predict_proba(self, features: np.ndarray) -> Any:
        return self._model.predict_proba(features)

    def predict(self, features: np.ndarray) -> Any:
        return self._model.predict(features)


def request_scorer(estimator: Any, spec: FeatureSpec) -> Any:
    """`estimator` made quick for requests where it is `build_estimator`'s shape; else as it is."""
    return RequestScorer(estimator, spec) if encodes_categories_once(estimator, spec) else estimator


def _as_arithmetic(numeric: Any) -> list[Callable[[np.ndarray], np.ndarray]] | None:
    """The fitted numeric steps as numpy operations, when each is one whose transform is just that
    arithmetic (a median/mean imputer without empty columns, a standard scaler); else None."""
    steps = numeric.steps if isinstance(numeric, Pipeline) else [("only", numeric)]
    operations: list[Callable[[np.ndarray], np.ndarray]] = []
    for _, step in steps:
        if isinstance(step, SimpleImputer):
            fills = np.asarray(step.statistics_, dtype=np.float64)
            if step.add_indicator or np.isnan(fills).any() or not _nan_is_missing(step.missing_values):
                return None
            operations.append(partial(_imputed, fills=fills))
        elif isinstance(step, StandardScaler):
            mean = step.mean_ if step.with_mean else None
            scale = step.scale_ if step.with_std else None
            operations.append(partial(_scaled, mean=mean, scale=scale))
        else:
            return None
    return operations


def _imputed(x: np.ndarray, *, fills: np.ndarray) -> np.ndarray:
    return np.where(np.isnan(x), fills, x)


def _nan_is_missing(value: object) -> bool:
    return isinstance(value, float) and np.isnan(value)


def _scaled(x: np.ndarray, *, mean: np.ndarray | None, scale: np.ndarray | None) -> np.ndarray:
    if mean is not None:
        x = x - mean
    if scale is not None:
        x = x / scale
    return x
