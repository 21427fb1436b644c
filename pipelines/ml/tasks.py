"""What each task computes: its target and labels, its outputs and what scoring writes of them, its
metrics and its label-free estimate. Every job looks these up from the version's task (`kind_of`)
instead of assuming binary classification; the policy built on them is in `governance.tasks`.

A model's *outputs* are what it says about rows, as one array:

* binary: P(class 1), shape (n,);
* multiclass: P(class) for each of the version's classes, in their order, shape (n, k);
* regression: the predicted value, shape (n,).

Multiclass classes are text: whole numbers and booleans become their text ("3", "true"), so labels
that arrive later compare equal to the classes the model learned.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import numpy as np
import polars as pl
from sklearn.model_selection import KFold, StratifiedKFold, cross_val_predict

from governance.errors import InputError
from governance.features import FeatureSpec
from governance.tasks import TargetSummary, Task, ValueKind, task_problem
from pipelines.ml.estimation import (
    BinaryCalibration,
    Calibration,
    ClassCalibration,
    LossModel,
    estimate_classes,
    estimate_loss,
    estimate_performance,
    fit_calibration,
    fit_class_calibration,
    fit_loss_model,
)
from pipelines.ml.modeling import (
    DECISION_THRESHOLD,
    Output,
    classification_metrics,
    model_frame,
    model_outputs,
    multiclass_metrics,
    regression_metrics,
    score_rows,
)

CALIBRATION_FOLDS = 5
_C = TypeVar("_C", BinaryCalibration, ClassCalibration, LossModel)

# The predictions table's columns that hold outputs, every one nullable: a task fills its own.
PREDICTION_SCHEMA: Mapping[str, pl.DataType] = {
    "score": pl.Float64(),  # binary: P(1); multiclass: P(predicted class)
    "predicted_label": pl.Int64(),  # binary: 1 when score >= 0.5
    "predicted_class": pl.String(),  # multiclass: the most probable class
    "class_probabilities": pl.List(pl.Float64()),  # multiclass: P(class), in the version's class order
    "prediction": pl.Float64(),  # regression: the predicted value
}
# The labels table's columns that hold ground truth, every one nullable: a task fills its own.
LABEL_SCHEMA: Mapping[str, pl.DataType] = {
    "label": pl.Int64(),  # binary: 0 or 1
    "label_class": pl.String(),  # multiclass: a class, as text
    "label_value": pl.Float64(),  # regression: the true value
}


class TaskKind(Protocol):
    """The computations of one task."""

    @property
    def task(self) -> Task: ...

    @property
    def label_column(self) -> str:
        """The column of the labels table (LABEL_SCHEMA) that holds this task's ground truth."""
        ...

    @property
    def output_column(self) -> str:
        """The predictions table's column whose distribution is the model's output drift."""
        ...

    @property
    def estimate_reads_features(self) -> bool:
        """Whether `estimate` needs the batch's feature rows besides its outputs."""
        ...

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
        """The columns of the predictions table (PREDICTION_SCHEMA) that hold `outputs`."""
        ...

    def stored_outputs(self, predictions: pl.DataFrame) -> np.ndarray:
        """Outputs read back from rows of the predictions table."""
        ...

    def metrics(self, labels: np.ndarray, outputs: np.ndarray) -> dict[str, float]:
        """Metrics of `outputs` against the ground truth."""
        ...

    def calibrate(self, estimator: Any, rows: pl.DataFrame, spec: FeatureSpec, target: str) -> Calibration:
        """What a label-free estimate needs, fitted on out-of-fold outputs: `estimator` (the version's
        recipe, unfitted) is refitted on folds of `rows` and each row is scored by the fold that left
        it out. Training work: done once per version, stored with it."""
        ...

    def calibrate_outputs(
        self, outputs: np.ndarray, labels: np.ndarray, *, rows: pl.DataFrame, spec: FeatureSpec
    ) -> Calibration:
        """What a label-free estimate needs, fitted on a fitted model's `outputs` for labelled `rows` it did
        not train on (its holdout): for models trained elsewhere, whose recipe cannot be refitted."""
        ...

    def estimate(
        self, outputs: np.ndarray, *, calibration: Calibration, rows: pl.DataFrame | None = None
    ) -> dict[str, float]:
        """Expected metrics of a batch from its outputs alone (and its feature `rows`, in the order of the
        outputs, where `estimate_reads_features`)."""
        ...


@dataclass(frozen=True)
class BinaryTask:
    """Two classes, 0 and 1 (or false and true); the output is P(1), the label is output >= 0.5."""

    task: Task = Task.BINARY
    label_column: str = "label"
    output_column: str = "score"
    estimate_reads_features: bool = False

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

    def calibrate_outputs(
        self, outputs: np.ndarray, labels: np.ndarray, *, rows: pl.DataFrame, spec: FeatureSpec
    ) -> Calibration:
        return fit_calibration(outputs, labels)

    def estimate(
        self, outputs: np.ndarray, *, calibration: Calibration, rows: pl.DataFrame | None = None
    ) -> dict[str, float]:
        return estimate_performance(outputs, calibration=_expect(calibration, BinaryCalibration, self.task))


@dataclass(frozen=True)
class MulticlassTask:
    """Named classes; the output is P(class) for each of `classes` (the version's, in its model's
    order), the predicted class the most probable one.

    Validating a target or labels needs no classes (with them, a class the model never saw is refused);
    everything that reads outputs needs them: `kind_of(Task.MULTICLASS, classes=classes_of(model))`.
    """

    classes: tuple[str, ...] = ()
    task: Task = Task.MULTICLASS
    label_column: str = "label_class"
    output_column: str = "predicted_class"
    estimate_reads_features: bool = False

    def target(self, series: pl.Series) -> np.ndarray:
        _refuse(task_problem(self.task, summarize_target(series)))
        return self._known(as_classes(series), what="target column", name=series.name).to_numpy()

    def labels(self, series: pl.Series) -> pl.Series:
        what = f"label column {series.name!r}"
        summary = summarize_target(series)
        if summary.missing:
            raise InputError(f"{what} has {summary.missing} missing values: expected a class on every row")
        if summary.kind is ValueKind.OTHER:
            raise InputError(f"{what} has type {summary.dtype}: expected classes as text or whole numbers")
        if summary.non_finite or (summary.kind is ValueKind.NUMBER and not summary.integral):
            raise InputError(f"{what} holds NaN, infinite or fractional numbers: expected classes")
        return self._known(as_classes(series), what="label column", name=series.name)

    def _known(self, classes: pl.Series, *, what: str, name: str) -> pl.Series:
        if self.classes:
            unknown = classes.filter(~classes.is_in(list(self.classes))).unique(maintain_order=True)
            if unknown.len():
                shown = ", ".join(repr(c) for c in unknown.head(3).to_list())
                more = f" and {unknown.len() - 3} more" if unknown.len() > 3 else ""
                raise InputError(
                    f"{what} {name!r} holds classes the model never saw: {shown}{more} "
                    f"(its classes: {', '.join(self.classes)})"
                )
        return classes

    def _names(self, outputs: np.ndarray | None = None) -> np.ndarray:
        if not self.classes:
            raise ValueError("a multiclass kind needs its version's classes: kind_of(Task.MULTICLASS, classes=...)")
        if outputs is not None and (outputs.ndim != 2 or outputs.shape[1] != len(self.classes)):
            raise ValueError(f"outputs of shape {outputs.shape} do not have one column per class of {self.classes}")
        return np.asarray(self.classes, dtype=object)

    def outputs(self, estimator: Any, rows: pl.DataFrame, spec: FeatureSpec, *, chunk_rows: int) -> np.ndarray:
        """P(class) in the order of `classes` (the estimator's own order when they are not given)."""
        probabilities = model_outputs(estimator, rows, spec, chunk_rows=chunk_rows, output=Output.CLASS_PROBABILITIES)
        own = classes_of(estimator)
        if not self.classes or own == self.classes:
            return probabilities
        if set(own) != set(self.classes):
            raise InputError(
                f"the model's classes ({', '.join(own)}) are not the version's ({', '.join(self.classes)})"
            )
        return probabilities[:, [own.index(c) for c in self.classes]]

    def prediction_columns(self, outputs: np.ndarray) -> dict[str, np.ndarray]:
        """The most probable class, its probability as the score, and every class's probability (an (n, k)
        array: a list column of the table)."""
        names = self._names(outputs)
        best = np.argmax(outputs, axis=1)
        return {
            "predicted_class": names[best],
            "score": outputs[np.arange(len(outputs)), best],
            "class_probabilities": outputs,
        }

    def stored_outputs(self, predictions: pl.DataFrame) -> np.ndarray:
        k = len(self._names())
        column = predictions["class_probabilities"]
        if not isinstance(column.dtype, pl.List):
            column = column.cast(pl.List(pl.Float64))
        if column.null_count() or (column.list.len() != k).any():
            raise InputError(f"stored class probabilities are missing or do not have one value per class ({k})")
        return column.explode().to_numpy().astype(np.float64).reshape(-1, k)

    def metrics(self, labels: np.ndarray, outputs: np.ndarray) -> dict[str, float]:
        """Accuracy, macro F1, macro one-vs-rest ROC AUC (when every class occurs) and recall per class."""
        return multiclass_metrics(labels, outputs, tuple(self._names(outputs)))

    def calibrate(self, estimator: Any, rows: pl.DataFrame, spec: FeatureSpec, target: str) -> Calibration:
        """Per-class isotonic calibration on out-of-fold probabilities over the training table (stratified
        folds; a class too rare for five folds is missing from some and scores 0 there)."""
        labels = self.target(rows[target])
        folds = StratifiedKFold(n_splits=CALIBRATION_FOLDS, shuffle=True, random_state=0)
        outputs = cross_val_predict(estimator, model_frame(rows, spec), labels, cv=folds, method="predict_proba")
        # cross_val_predict orders the columns by the sorted labels, as fitting on them does
        return fit_class_calibration(outputs, labels, tuple(np.unique(labels).tolist()))

    def calibrate_outputs(
        self, outputs: np.ndarray, labels: np.ndarray, *, rows: pl.DataFrame, spec: FeatureSpec
    ) -> Calibration:
        return fit_class_calibration(outputs, labels, tuple(self._names(outputs)))

    def estimate(
        self, outputs: np.ndarray, *, calibration: Calibration, rows: pl.DataFrame | None = None
    ) -> dict[str, float]:
        """Expected accuracy, macro F1, macro ROC AUC and recall per class (multiclass CBPE)."""
        fitted = _expect(calibration, ClassCalibration, self.task)
        names = tuple(self._names(outputs))
        if names != fitted.classes:
            if set(names) != set(fitted.classes):
                raise ValueError(f"the calibration's classes {fitted.classes} are not the version's {names}")
            outputs = outputs[:, [names.index(c) for c in fitted.classes]]
        return estimate_classes(outputs, calibration=fitted)


@dataclass(frozen=True)
class RegressionTask:
    """A number; the output is the predicted value."""

    task: Task = Task.REGRESSION
    label_column: str = "label_value"
    output_column: str = "prediction"
    estimate_reads_features: bool = True

    def target(self, series: pl.Series) -> np.ndarray:
        _refuse(task_problem(self.task, summarize_target(series)))
        return series.cast(pl.Float64).to_numpy()

    def labels(self, series: pl.Series) -> pl.Series:
        what = f"label column {series.name!r}"
        summary = summarize_target(series)
        if summary.missing:
            raise InputError(f"{what} has {summary.missing} missing values: expected a number on every row")
        if summary.kind is not ValueKind.NUMBER:
            raise InputError(f"{what} has type {summary.dtype}: expected numbers")
        if summary.non_finite:
            raise InputError(f"{what} has {summary.non_finite} NaN or infinite values: expected finite numbers")
        return series.cast(pl.Float64)

    def outputs(self, estimator: Any, rows: pl.DataFrame, spec: FeatureSpec, *, chunk_rows: int) -> np.ndarray:
        return model_outputs(estimator, rows, spec, chunk_rows=chunk_rows, output=Output.PREDICTION)

    def prediction_columns(self, outputs: np.ndarray) -> dict[str, np.ndarray]:
        return {"prediction": outputs}

    def stored_outputs(self, predictions: pl.DataFrame) -> np.ndarray:
        return predictions["prediction"].to_numpy().astype(np.float64)

    def metrics(self, labels: np.ndarray, outputs: np.ndarray) -> dict[str, float]:
        """MAE, RMSE, MAPE (over rows whose target is not 0), R² and the mean target and prediction."""
        return regression_metrics(np.asarray(labels, dtype=np.float64), outputs)

    def calibrate(self, estimator: Any, rows: pl.DataFrame, spec: FeatureSpec, target: str) -> Calibration:
        """Direct loss estimation fitted on out-of-fold predictions over the training table."""
        targets = self.target(rows[target])
        folds = KFold(n_splits=CALIBRATION_FOLDS, shuffle=True, random_state=0)
        predictions = cross_val_predict(estimator, model_frame(rows, spec), targets, cv=folds, method="predict")
        return fit_loss_model(np.asarray(predictions, dtype=np.float64), targets, rows, spec)

    def calibrate_outputs(
        self, outputs: np.ndarray, labels: np.ndarray, *, rows: pl.DataFrame, spec: FeatureSpec
    ) -> Calibration:
        return fit_loss_model(outputs, np.asarray(labels, dtype=np.float64), rows, spec)

    def estimate(
        self, outputs: np.ndarray, *, calibration: Calibration, rows: pl.DataFrame | None = None
    ) -> dict[str, float]:
        """Expected MAE and RMSE (direct loss estimation); needs the batch's feature `rows`."""
        if rows is None or rows.height != len(outputs):
            raise ValueError("a regression estimate needs the batch's feature rows, one per output")
        return estimate_loss(outputs, rows, calibration=_expect(calibration, LossModel, self.task))


def _expect(calibration: Calibration, kind: type[_C], task: Task) -> _C:
    if not isinstance(calibration, kind):
        raise ValueError(f"a {type(calibration).__name__} is not a calibration of a {task.value} model")
    return calibration


def _refuse(problem: str | None) -> None:
    if problem is not None:
        raise InputError(problem)


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


def summarize_target(series: pl.Series) -> TargetSummary:
    """What the task rules of `governance.tasks` need to know about a target column."""
    dtype = series.dtype
    if dtype == pl.Boolean:
        kind = ValueKind.BOOLEAN
    elif dtype.is_numeric():
        kind = ValueKind.NUMBER
    elif dtype in (pl.String, pl.Categorical) or isinstance(dtype, pl.Enum):
        kind = ValueKind.TEXT
    else:
        kind = ValueKind.OTHER
    values = series.drop_nulls()
    non_finite = 0
    if kind is ValueKind.NUMBER:
        values = values.cast(pl.Float64)
        finite = values.is_finite()
        non_finite = int((~finite).sum())
        values = values.filter(finite)
    try:
        distinct = values.n_unique()
    except pl.exceptions.PolarsError:  # a type polars cannot compare: no task predicts it anyway
        distinct = 0
    numbers = kind is ValueKind.NUMBER and distinct > 0
    return TargetSummary(
        column=series.name,
        dtype=str(dtype),
        kind=kind,
        distinct=distinct,
        integral=numbers and bool((values == values.floor()).all()),
        zero_one=kind is ValueKind.BOOLEAN or (numbers and bool(values.is_in([0.0, 1.0]).all())),
        missing=series.null_count(),
        non_finite=non_finite,
    )


def as_classes(series: pl.Series) -> pl.Series:
    """Classes as text: text as it is, whole numbers without a decimal point ("3", never "3.0"),
    booleans as "true"/"false". Call on validated values (no NaN, no fractions)."""
    if series.dtype.is_numeric() and not series.dtype.is_integer():
        series = series.cast(pl.Int64)
    return series.cast(pl.String)


def classes_of(estimator: Any) -> tuple[str, ...]:
    """A fitted classifier's classes as text (see `as_classes`), in the order of its probabilities."""
    return tuple(as_classes(pl.Series("classes", np.asarray(estimator.classes_))).to_list())


def prediction_frame(columns: Mapping[str, np.ndarray], *, rows: int) -> pl.DataFrame:
    """Every output column of the predictions table (PREDICTION_SCHEMA) for `rows` rows: those a task
    wrote from `columns`, the others null."""
    return pl.DataFrame(
        [
            pl.Series(name, columns[name]).cast(dtype)
            if name in columns
            else pl.Series(name, [None] * rows, dtype=dtype)
            for name, dtype in PREDICTION_SCHEMA.items()
        ]
    )


def kind_of(task: Task, *, classes: Sequence[str] = ()) -> TaskKind:
    """The computations of `task`; a multiclass version's need its classes, in its model's order
    (`classes_of(estimator)`), for everything that reads outputs."""
    match task:
        case Task.BINARY:
            return BinaryTask()
        case Task.MULTICLASS:
            return MulticlassTask(classes=tuple(classes))
        case Task.REGRESSION:
            return RegressionTask()
    raise ValueError(f"unknown task {task!r}")
