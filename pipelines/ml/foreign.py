"""Models trained elsewhere, called through their own predict.

`ForeignModel` gives such a model the face every task's computations expect of ours (`predict_proba`
over `classes_`, or `predict`, plus `input_frame`: the rows as the model's signature types them), so
scoring, evidence and monitoring treat it like any version. `wrap` reads what the model says about a
few rows to tell which task it serves, and refuses one that cannot serve the task asked of it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np
import pandas as pd
import polars as pl

from governance.errors import InputError
from governance.tasks import Task
from pipelines.ml.tasks import as_classes

# MLflow's column types (its signature's ColSpec types), as polars casts them.
_CASTS: dict[str, pl.DataType] = {
    "double": pl.Float64(),
    "float": pl.Float32(),
    "long": pl.Int64(),
    "integer": pl.Int32(),
    "boolean": pl.Boolean(),
    "string": pl.String(),
}
PROBABILITY_TOLERANCE = 1e-3


class Says(StrEnum):
    """What a model's output holds for each row."""

    PROBABILITIES = "class probabilities"
    NUMBERS = "a number"
    LABELS = "a label"


@dataclass(frozen=True)
class Output:
    says: Says
    classes: tuple[str, ...] = ()  # PROBABILITIES: the classes as text, in the order of the columns


@dataclass
class ForeignModel:
    """A model trained elsewhere, in its own flavor, behind the interface of the models mlgov trains,
    for its `task`: a classifier's `predict_proba` has one column per class of `classes_` (binary: 0
    then 1), a regressor's `predict` one number per row.

    `inputs` are the signature's columns and MLflow types (None without a signature: `columns`, as the
    table types them); `categories`, for a text column, are the levels a LightGBM model was fitted on
    as a pandas category (its own way of knowing them)."""

    model: Any
    native: bool
    task: Task
    inputs: tuple[tuple[str, str], ...] | None
    columns: tuple[str, ...]
    categories: dict[str, list[Any]] = field(default_factory=dict)
    as_category: bool = False  # an XGBoost model fitted on pandas categories wants text as category
    _classes: tuple[str, ...] | None = None  # as the model names them, in the order of its columns

    def input_frame(self, rows: pl.DataFrame) -> pd.DataFrame:
        if self.inputs is None:
            frame = rows.select(self.columns).to_pandas()
        else:
            frame = rows.select(
                pl.col(name).cast(_CASTS[kind]) if kind in _CASTS else pl.col(name) for name, kind in self.inputs
            ).to_pandas()
        for name, levels in self.categories.items():
            frame[name] = pd.Categorical(frame[name], categories=levels)
        if self.as_category:
            for name in frame.select_dtypes(include="object").columns:
                frame[name] = frame[name].astype("category")
        return frame

    def raw_output(self, frame: pd.DataFrame) -> Any:
        try:
            if self.native and hasattr(self.model, "predict_proba") and hasattr(self.model, "classes_"):
                return self.model.predict_proba(frame)
            return self.model.predict(frame)
        except Exception as error:  # the model's own code, whatever it raises: one line naming it
            raise InputError(f"the model failed on these rows: {_one_line(error)}") from None

    @property
    def classes_(self) -> np.ndarray:
        if self.task is Task.BINARY:
            return np.asarray([0, 1])
        if self._classes is None:
            self._classes = _class_names(getattr(self.model, "classes_", None) if self.native else None, None, 0)
        return np.asarray(self._classes, dtype=object)

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        raw = self.raw_output(frame)
        values = _matrix(raw)
        if values.ndim == 1:  # P(1) alone, as a binary Booster gives it
            values, self._classes = np.column_stack([1 - values, values]), ("0", "1")
        else:
            own = getattr(self.model, "classes_", None) if self.native else None
            self._classes = _class_names(own, raw, values.shape[1])
        if self.task is not Task.BINARY:
            return values
        positive = self._classes.index("1" if "1" in self._classes else "true")
        return values[:, [1 - positive, positive]]

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return np.asarray(_matrix(self.raw_output(frame)), dtype=np.float64).reshape(-1)


def wrap(
    model: Any,
    *,
    native: bool,
    inputs: tuple[tuple[str, str], ...] | None,
    columns: Sequence[str],
    text_columns: Sequence[str],
    task: Task | None,
    sample: pl.DataFrame | None,
    target_task: Task | None = None,
) -> ForeignModel:
    """The model behind mlgov's interface. With a `sample` of feature rows, the task is read from what the
    model says about them: `task` when given (refused when the model's own output contradicts it), else
    the one its output shows (for one number per row, which may be P(1) or a value, the `target_task`
    the target suggests). Without a sample, `task` is the version's, recorded when it was registered."""
    foreign = ForeignModel(
        model=model,
        native=native,
        task=task or Task.REGRESSION,
        inputs=inputs,
        columns=tuple(columns),
        categories=_lightgbm_categories(model, text_columns),
        as_category=bool(getattr(model, "enable_categorical", False)),
    )
    if sample is None:
        if task is None:
            raise ValueError("wrap needs the version's task or a sample to read it from")
        return foreign
    output = read_output(foreign, sample)
    foreign.task = _task_of(output, task, target_task)
    binary_classes = ({"0", "1"}, {"false", "true"})
    if foreign.task is Task.BINARY and output.says is Says.PROBABILITIES and set(output.classes) not in binary_classes:
        raise InputError(
            f"the model's classes are {', '.join(output.classes)}: a binary model predicts 0 and 1 "
            "(or false and true), the values of a binary target"
        )
    return foreign


def read_output(foreign: ForeignModel, sample: pl.DataFrame) -> Output:
    """What the model says about `sample`: class probabilities (and over which classes), numbers or labels."""
    raw = foreign.raw_output(foreign.input_frame(sample))
    own = getattr(foreign.model, "classes_", None) if foreign.native else None
    values = _matrix(raw)
    if values.ndim == 2 and values.shape[1] >= 2:
        _check_probabilities(values)
        return Output(Says.PROBABILITIES, _class_names(own, raw, values.shape[1]))
    if values.dtype.kind in "biuf":
        return Output(Says.NUMBERS)
    return Output(Says.LABELS)


def _task_of(output: Output, task: Task | None, target_task: Task | None) -> Task:
    if output.says is Says.PROBABILITIES:
        own = Task.BINARY if len(output.classes) == 2 else Task.MULTICLASS
        if task is Task.REGRESSION or (task is Task.BINARY and own is Task.MULTICLASS):
            raise InputError(
                f"--task {task.value} contradicts the model: it gives probabilities of "
                f"{len(output.classes)} classes ({', '.join(output.classes[:5])}), so it is {own.value}"
            )
        return task or own
    chosen = task or target_task or Task.REGRESSION
    if output.says is Says.LABELS or chosen is Task.MULTICLASS:
        raise InputError(
            f"the model gives {output.says.value} per row, not class probabilities: mlgov needs a classifier's "
            "probabilities (sklearn-style predict_proba, or a pyfunc returning one column per class)"
        )
    return chosen


def check_binary_numbers(outputs: np.ndarray) -> None:
    """A model that gives one number per row serves a binary task only if the number is P(1)."""
    if outputs.size and np.isin(outputs, (0.0, 1.0)).all():
        raise InputError(
            "the model gives labels only (every output is 0 or 1), not probabilities: mlgov needs P(1) to "
            "rank, calibrate and monitor it (log predict_proba, or a pyfunc returning probabilities)"
        )
    if outputs.size and ((outputs < 0) | (outputs > 1)).any():
        raise InputError(
            "the model gives numbers outside 0..1, not probabilities: a binary model must give P(1) "
            "(is it a regression model? then pass --task regression)"
        )


def check_outputs(outputs: np.ndarray) -> None:
    bad = int((~np.isfinite(outputs)).sum())
    if bad:
        raise InputError(f"the model gave {bad} NaN or infinite outputs on the holdout: expected finite numbers")


def _check_probabilities(values: np.ndarray) -> None:
    outside = (values < -PROBABILITY_TOLERANCE) | (values > 1 + PROBABILITY_TOLERANCE)
    if not np.isfinite(values).all() or outside.any():
        raise InputError("the model's output columns are not probabilities (values outside 0..1 or not finite)")
    if (np.abs(values.sum(axis=1) - 1) > PROBABILITY_TOLERANCE).any():
        raise InputError("the model's output columns are not class probabilities: a row's do not sum to 1")


def _matrix(raw: Any) -> np.ndarray:
    """The output as an array: a column vector becomes (n,)."""
    values = np.asarray(raw.to_numpy() if hasattr(raw, "to_numpy") else raw)
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    if values.dtype == object:
        try:
            return values.astype(np.float64)
        except (TypeError, ValueError):
            return values
    return values


def _class_names(own: Any, raw: Any, width: int) -> tuple[str, ...]:
    """The classes of a model's probability columns, as text: its `classes_`, else the columns of the
    frame it returned, else 0..k-1."""
    names = own if own is not None else getattr(raw, "columns", range(width))
    return tuple(as_classes(pl.Series("classes", np.asarray(list(names)))).to_list())


def _lightgbm_categories(model: Any, text_columns: Sequence[str]) -> dict[str, list[Any]]:
    """A LightGBM model fitted on pandas categories knows their levels, not their columns: those are its
    text columns, in order."""
    booster = getattr(model, "booster_", None)
    levels = getattr(booster, "pandas_categorical", None) if booster is not None else None
    if not levels:
        return {}
    if len(levels) != len(text_columns):
        raise InputError(
            f"the LightGBM model was fitted on {len(levels)} pandas category columns but takes "
            f"{len(text_columns)} text columns: give it a signature naming its category columns as strings"
        )
    return dict(zip(text_columns, (list(level) for level in levels), strict=True))


def _one_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__
