"""Fairness of a model's predictions across the groups of a protected attribute declared on the model:
which metrics each task is judged by, their thresholds and the verdicts.

Every group is compared with a reference group (the one declared with the attribute, else the group
with the most rows). Classification (binary) is judged by

* statistical parity difference, P(predicted 1 | group) - P(predicted 1 | reference), at most 0.1 apart;
* disparate-impact ratio, P(predicted 1 | group) / P(predicted 1 | reference): the four-fifths rule,
  within 0.8..1.25 (read both ways, as the reference need not be the favoured group);
* equal opportunity (true-positive rate), predictive equality (false-positive rate) and predictive
  parity (precision) differences, each at most 0.1 apart (these need labels);

multiclass and regression by error parity: the group's error (misclassification rate, mean absolute
error) over the reference's, within 0.8..1.25. A group with fewer than `min_group_rows` rows gets no
verdict: its rates are too noisy to judge.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from governance.errors import InputError
from governance.segments import MAX_LEVELS
from governance.tasks import Task

POLICY_PREFIX = "protected:"  # a model policy setting "protected:<column>" = its reference group, or ""


class FairnessMetric(StrEnum):
    STATISTICAL_PARITY = "statistical_parity_difference"
    DISPARATE_IMPACT = "disparate_impact_ratio"
    EQUAL_OPPORTUNITY = "equal_opportunity_difference"
    PREDICTIVE_EQUALITY = "predictive_equality_difference"
    PREDICTIVE_PARITY = "predictive_parity_difference"
    ERROR_PARITY = "error_parity_ratio"


RATIOS = frozenset({FairnessMetric.DISPARATE_IMPACT, FairnessMetric.ERROR_PARITY})
NEEDS_LABELS = frozenset(
    {
        FairnessMetric.EQUAL_OPPORTUNITY,
        FairnessMetric.PREDICTIVE_EQUALITY,
        FairnessMetric.PREDICTIVE_PARITY,
        FairnessMetric.ERROR_PARITY,
    }
)


def fairness_metrics(task: Task) -> tuple[FairnessMetric, ...]:
    """The metrics a model of `task` is judged by."""
    if task is Task.BINARY:
        return (
            FairnessMetric.STATISTICAL_PARITY,
            FairnessMetric.DISPARATE_IMPACT,
            FairnessMetric.EQUAL_OPPORTUNITY,
            FairnessMetric.PREDICTIVE_EQUALITY,
            FairnessMetric.PREDICTIVE_PARITY,
        )
    return (FairnessMetric.ERROR_PARITY,)


@dataclass(frozen=True)
class FairnessPolicy:
    max_difference: float = 0.1
    min_ratio: float = 0.8  # the four-fifths rule; a ratio above 1 / min_ratio fails the same way
    min_group_rows: int = 30


@dataclass(frozen=True)
class FairnessVerdict:
    """`passed` is None when the group is too small to judge; `rule` says the threshold in words."""

    passed: bool | None
    threshold: float
    rule: str


def judge_fairness(
    metric: FairnessMetric, *, value: float, group_rows: int, policy: FairnessPolicy = FairnessPolicy()
) -> FairnessVerdict:
    if metric in RATIOS:
        low, high = policy.min_ratio, 1 / policy.min_ratio
        rule = f"within {low:g}..{high:.3g}" + (
            " (four-fifths rule)" if metric is FairnessMetric.DISPARATE_IMPACT else ""
        )
        threshold = policy.min_ratio
        ok = low <= value <= high
    else:
        rule = f"at most {policy.max_difference:g} apart"
        threshold = policy.max_difference
        ok = abs(value) <= policy.max_difference
    if group_rows < policy.min_group_rows or value != value:  # NaN: a rate over no rows
        return FairnessVerdict(None, threshold, f"not judged: under {policy.min_group_rows} rows; {rule}")
    return FairnessVerdict(ok, threshold, rule)


@dataclass(frozen=True)
class ProtectedAttribute:
    column: str
    reference: str | None = None  # the group every other is compared with; None: the largest

    @property
    def setting(self) -> str:
        return f"{POLICY_PREFIX}{self.column}"

    @property
    def value(self) -> str:
        return self.reference or ""


def parse_protected(text: str) -> ProtectedAttribute:
    """`COLUMN` or `COLUMN=REFERENCE_GROUP` into a protected attribute, or one clear error."""
    column, eq, reference = text.strip().partition("=")
    if not column.strip() or (eq and not reference.strip()):
        raise InputError(f"--protected {text!r}: expected COLUMN or COLUMN=REFERENCE_GROUP, e.g. gender=male")
    return ProtectedAttribute(column.strip(), reference.strip() or None)


def protected_problem(attribute: ProtectedAttribute, groups: list[str] | None, *, columns: list[str]) -> str | None:
    """Why `attribute` cannot be judged (one line naming the column), or None; `groups` are its
    distinct values in the training data, None when the training table has no such column."""
    name = f"--protected {attribute.column!r}"
    if groups is None:
        return f"{name}: unknown column; the training table's columns are {sorted(columns)}"
    if len(groups) < 2:
        shown = f" ({groups[0]!r})" if groups else ""
        return f"{name} has a single value{shown} in the training data: fairness compares at least two groups"
    if len(groups) > MAX_LEVELS:
        return f"{name} has {len(groups):,} distinct values: a protected attribute has at most {MAX_LEVELS} groups"
    if attribute.reference is not None and attribute.reference not in groups:
        return f"{name}: reference group {attribute.reference!r} does not occur; its groups are {sorted(groups)[:10]}"
    return None


def protected_attributes(settings: dict[str, str]) -> tuple[ProtectedAttribute, ...]:
    """The protected attributes among a model's policy settings."""
    return tuple(
        ProtectedAttribute(name.removeprefix(POLICY_PREFIX), value or None)
        for name, value in settings.items()
        if name.startswith(POLICY_PREFIX)
    )
