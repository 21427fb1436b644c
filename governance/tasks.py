"""What a model predicts (its task), and the policy that follows from it: which task a target calls for,
why a task does not fit a target, the metric a candidate is gated on against the champion, and the
metric whose fall triggers retraining, with their direction.

A version's task is recorded with it and never guessed again; every per-task decision is made here,
every per-task computation in `pipelines.ml.tasks`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from governance.errors import InputError


class Task(StrEnum):
    BINARY = "binary"  # two classes, 0 and 1 (or false and true); the output is P(1)
    MULTICLASS = "multiclass"  # named classes (text or whole numbers); the output is P(class) for each
    REGRESSION = "regression"  # a number; the output is the predicted number


@dataclass(frozen=True)
class TaskMetric:
    """A metric the policy judges by: its key in metric maps, its display name, its direction, and
    whether margins on it are relative (a share of the value compared with: an error in the target's
    own units, where 0.05 means nothing until the scale is known)."""

    name: str
    label: str
    higher_is_better: bool = True
    relative: bool = False

    def falls_short(self, value: float, *, of: float, by_more_than: float) -> bool:
        """Whether `value` is worse than `of` by more than the margin `by_more_than`."""
        return falls_short(
            value, of=of, by_more_than=by_more_than, higher_is_better=self.higher_is_better, relative=self.relative
        )

    def margin(self, by_more_than: float) -> str:
        """The margin as a person reads it: 0.05, or 5% where it is relative."""
        return margin_text(by_more_than, relative=self.relative)


def falls_short(
    value: float, *, of: float, by_more_than: float, higher_is_better: bool, relative: bool = False
) -> bool:
    """Whether `value` is worse than `of` by more than `by_more_than` (a share of |of| when `relative`),
    in the metric's direction."""
    allowed = by_more_than * abs(of) if relative else by_more_than
    return value < of - allowed if higher_is_better else value > of + allowed


def margin_text(by_more_than: float, *, relative: bool) -> str:
    return f"{by_more_than:.0%}" if relative else f"{by_more_than:.2f}"


ROC_AUC = TaskMetric("roc_auc", "ROC AUC")
MACRO_ROC_AUC = TaskMetric("roc_auc", "ROC AUC (macro one-vs-rest)")
# A tier's 0.01 is then "at most 1% worse than the champion", retraining's 0.05 "5% worse than the holdout".
RMSE = TaskMetric("rmse", "RMSE", higher_is_better=False, relative=True)

# The metric a candidate is compared on against the champion, on the same holdout.
_GATE_METRIC = {Task.BINARY: ROC_AUC, Task.MULTICLASS: MACRO_ROC_AUC, Task.REGRESSION: RMSE}
# The metric whose fall below the version's holdout value calls for retraining.
_HEALTH_METRIC = {Task.BINARY: ROC_AUC, Task.MULTICLASS: MACRO_ROC_AUC, Task.REGRESSION: RMSE}


def gate_metric(task: Task) -> TaskMetric:
    return _GATE_METRIC[task]


def health_metric(task: Task) -> TaskMetric:
    return _HEALTH_METRIC[task]


def parse_task(text: str) -> Task:
    try:
        return Task(text.strip().lower())
    except ValueError:
        raise InputError(f"unknown task {text!r}: expected one of {', '.join(t.value for t in Task)}") from None


# ---- which task a target calls for -------------------------------------------------------------

MAX_MULTICLASS_LEVELS = 20  # whole numbers with at most this many distinct values are taken as classes
MAX_CLASSES = 100  # beyond this a column is an identifier or a number, not a set of classes


class ValueKind(StrEnum):
    """What a column holds, by its type."""

    BOOLEAN = "boolean"
    NUMBER = "number"  # integers or floats
    TEXT = "text"  # strings and categoricals
    OTHER = "other"  # dates, lists, structs, ...: nothing a model predicts


@dataclass(frozen=True)
class TargetSummary:
    """What the task rules need to know about a target column (computed in `pipelines.ml.tasks`).

    `distinct` counts distinct values that are neither missing nor NaN/inf; `integral` is whether every
    such value is a whole number (false for text and booleans); `zero_one` whether they all are 0 or 1
    (true for booleans).
    """

    column: str
    dtype: str  # its type as the table names it, for messages
    kind: ValueKind
    distinct: int
    integral: bool
    zero_one: bool
    missing: int = 0  # nulls
    non_finite: int = 0  # NaN, inf and -inf (numbers only)


def infer_task(summary: TargetSummary) -> Task:
    """The task a target calls for when none is given. The rule, in order:

    1. booleans, or numbers that are all 0 or 1 -> binary;
    2. text, or whole numbers with at most MAX_MULTICLASS_LEVELS (20) distinct values -> multiclass;
    3. any other numbers -> regression.

    Binary needs 0/1 (or false/true) so that the positive class is never a guess: two named classes
    ("yes"/"no") are multiclass. NaN/inf and missing values are left out of the rule; `task_problem`
    then reports them. Raises InputError for a column with no values or of a type no task predicts.
    """
    if summary.kind is ValueKind.OTHER:
        raise InputError(_problem_of_type(summary))
    if summary.distinct == 0:
        raise InputError(f"target column {summary.column!r} has no values to learn from")
    if summary.kind is ValueKind.BOOLEAN or (summary.kind is ValueKind.NUMBER and summary.zero_one):
        return Task.BINARY
    if summary.kind is ValueKind.TEXT or (summary.integral and summary.distinct <= MAX_MULTICLASS_LEVELS):
        return Task.MULTICLASS
    return Task.REGRESSION


def task_problem(task: Task, summary: TargetSummary) -> str | None:
    """Why `task` does not fit the target `summary` describes (one line naming the column), or None."""
    name = f"target column {summary.column!r}"
    if summary.kind is ValueKind.OTHER:
        return _problem_of_type(summary)
    if summary.missing:
        return f"{name} has {summary.missing} missing values: every training row needs a target"
    if summary.non_finite:
        return f"{name} has {summary.non_finite} NaN or infinite values: a {task.value} target must be finite"
    if summary.distinct == 0:
        return f"{name} has no values to learn from"
    match task:
        case Task.BINARY:
            expected = "binary needs both 0 and 1 (or false and true)"
            if summary.kind is ValueKind.TEXT:
                return f"{name} holds text ({summary.dtype}): {expected}; named classes are a multiclass task"
            if not summary.zero_one:
                return f"{name} holds {summary.distinct} distinct values, not only 0 and 1: {expected}"
            if summary.distinct < 2:
                return f"{name} holds a single class: {expected}"
        case Task.MULTICLASS:
            if summary.kind is ValueKind.NUMBER and not summary.integral:
                return (
                    f"{name} holds fractional numbers: multiclass classes are text or whole numbers "
                    "(a number to predict is a regression task)"
                )
            if summary.distinct < 2:
                return f"{name} holds a single class: multiclass needs at least two"
            if summary.distinct > MAX_CLASSES:
                return f"{name} holds {summary.distinct} distinct values: multiclass allows at most {MAX_CLASSES}"
        case Task.REGRESSION:
            if summary.kind is not ValueKind.NUMBER:
                return f"{name} holds {summary.kind.value} values ({summary.dtype}): regression needs numbers"
            if summary.distinct < 2:
                return f"{name} is constant: regression needs at least two distinct values"
    return None


def _problem_of_type(summary: TargetSummary) -> str:
    return f"target column {summary.column!r} has type {summary.dtype}: a target holds numbers, booleans or text"
