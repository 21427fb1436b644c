"""What each task computes: its target and labels, its outputs and what scoring writes of them, its
metrics and its label-free estimate. Every job looks these up from the version's task (`kind_of`)
instead of assuming binary classification; the policy built on them is in `governance.tasks`.

A model's *outputs* are what it says about rows, as one array: for binary classification the
probability of the positive class.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import polars as pl
from sklearn.model_selection import StratifiedKFold, cross_val_predict

from governance.errors import InputError
from governance.features import FeatureSpec
from governance.tasks import Task
from pipelines.ml.estimation import Calibration, estimate_performance, fit_calibration
from pipelines.ml.modeling import (
    DECISION_THRESHOLD,
    classification_metrics,
    model_frame,
    score_rows,
)

CALIBRATION_FOLDS = 5


class TaskKind(Protocol):
    """The computations of one task."""

    @property
    def task(self) -> Task: ...

    def target(self, series: pl.Series) -> np.ndarray:
        """The training target, validated; InputError naming the column when it does not fit the task."""
        ...

    def labels(self, series: pl.Series) -> pl.Series:
        """Ground truth as stored in the labels table, validated like the target."""
        ...

    def outputs(self, estimator: Any, rows: pl.DataFrame, spec: FeatureSpec, *, chunk_rows: int) -> np.ndarray:
        """The model's outputs for `rows`, chunk by chunk."""
        ...

    def prediction_columns(self, outputs: np.ndarray) -> dict[str, np.ndarray]:
        """The columns of the predictions table that hold `outputs`."""
        ...

    def stored_outputs(self, predictions: pl.DataFrame) -> np.ndarray:
        """Outputs read back from rows of the predictions table."""
        ...

    def metrics(self, labels: np.ndarray, outputs: np.ndarray) -> dict[str, float]:
        """Metrics of `outputs` against the ground truth."""
        ...

    def calibrate(self, estimator: Any, rows: pl.DataFrame, spec: FeatureSpec, target: str) -> Calibration:
        """What a label-free estimate needs, fitted on data whose labels are known."""
        ...

    def estimate(self, outputs: np.ndarray, *, calibration: Calibration) -> dict[str, float]:
        """Expected metrics of a batch from its outputs alone."""
        ...


@dataclass(frozen=True)
class BinaryTask:
    """Two classes, 0 and 1 (or false and true); the output is P(1), the label is output >= 0.5."""

    task: Task = Task.BINARY

    def target(self, series: pl.Series) -> np.ndarray:
        return _zero_one(series, what="target column", both=True).to_numpy()

    def labels(self, series: pl.Series) -> pl.Series:
        return _zero_one(series, what="label column", both=False)

    def outputs(self, estimator: Any, rows: pl.DataFrame, spec: FeatureSpec, *, chunk_rows: int) -> np.ndarray:
        return score_rows(estimator, rows, spec, chunk_rows=chunk_rows)

    def prediction_columns(self, outputs: np.ndarray) -> dict[str, np.ndarray]:
        return {"score": outputs, "predicted_label": (outputs >= DECISION_THRESHOLD).astype(np.int64)}

    def stored_outputs(self, predictions: pl.DataFrame) -> np.ndarray:
        return predictions["score"].to_numpy().astype(np.float64)

    def metrics(self, labels: np.ndarray, outputs: np.ndarray) -> dict[str, float]:
        return classification_metrics(labels, outputs)

    def calibrate(self, estimator: Any, rows: pl.DataFrame, spec: FeatureSpec, target: str) -> Calibration:
        """Isotonic calibration on out-of-fold scores of the version's recipe over its training table.

        Calibrating on the holdout alone overfits it (a few hundred rows, a few dozen positives) and
        copies its luck: estimates came out ~0.05 ROC AUC high. Five folds use every labelled row.
        """
        labels = self.target(rows[target])
        folds = StratifiedKFold(n_splits=CALIBRATION_FOLDS, shuffle=True, random_state=0)
        scores = cross_val_predict(estimator, model_frame(rows, spec), labels, cv=folds, method="predict_proba")[:, 1]
        return fit_calibration(scores, labels)

    def estimate(self, outputs: np.ndarray, *, calibration: Calibration) -> dict[str, float]:
        return estimate_performance(outputs, calibration=calibration)


def _zero_one(series: pl.Series, *, what: str, both: bool) -> pl.Series:
    """0/1 ints from 0/1 numbers or booleans; with `both`, each class must occur."""
    if series.null_count():
        raise InputError(f"{what} {series.name!r} has {series.null_count()} missing values")
    expected = "both 0 and 1 (or true and false)" if both else "0/1 or true/false"
    if series.dtype.is_float() and not series.is_finite().all():
        bad = int((~series.is_finite()).sum())
        raise InputError(f"{what} {series.name!r} has {bad} NaN or infinite values: expected {expected}")
    values = set(series.unique().to_list())
    zero_one = series.dtype == pl.Boolean or (series.dtype.is_numeric() and values <= {0, 1})
    if zero_one and (len(values) == 2 or not both):
        return series.cast(pl.Int64)
    raise InputError(f"{what} {series.name!r} must hold {expected}")


KINDS: Mapping[Task, TaskKind] = {Task.BINARY: BinaryTask()}


def kind_of(task: Task) -> TaskKind:
    """The computations of `task`."""
    return KINDS[task]
