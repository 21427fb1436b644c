"""What a model predicts (its task), and the policy that follows from it: the metric a candidate is
gated on against the champion, and the metric whose fall triggers retraining, with their direction.

A version's task is recorded with it and never guessed again; every per-task decision is made here,
every per-task computation in `pipelines.ml.tasks`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from governance.errors import InputError


class Task(StrEnum):
    BINARY = "binary"


@dataclass(frozen=True)
class TaskMetric:
    """A metric the policy judges by: its key in metric maps, its display name, and its direction."""

    name: str
    label: str
    higher_is_better: bool = True

    def falls_short(self, value: float, *, of: float, by_more_than: float) -> bool:
        """Whether `value` is worse than `of` by more than the margin `by_more_than`."""
        return falls_short(value, of=of, by_more_than=by_more_than, higher_is_better=self.higher_is_better)


def falls_short(value: float, *, of: float, by_more_than: float, higher_is_better: bool) -> bool:
    """Whether `value` is worse than `of` by more than `by_more_than`, in the metric's direction."""
    return value < of - by_more_than if higher_is_better else value > of + by_more_than


ROC_AUC = TaskMetric("roc_auc", "ROC AUC")

# The metric a candidate is compared on against the champion, on the same holdout.
_GATE_METRIC = {Task.BINARY: ROC_AUC}
# The metric whose fall below the version's holdout value calls for retraining.
_HEALTH_METRIC = {Task.BINARY: ROC_AUC}


def gate_metric(task: Task) -> TaskMetric:
    return _GATE_METRIC[task]


def health_metric(task: Task) -> TaskMetric:
    return _HEALTH_METRIC[task]


def parse_task(text: str) -> Task:
    try:
        return Task(text.strip().lower())
    except ValueError:
        raise InputError(f"unknown task {text!r}: expected one of {', '.join(t.value for t in Task)}") from None
