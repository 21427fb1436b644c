"""Fairness statistics, pure and vectorised: per group of a protected attribute, the rates the fairness
metrics of `governance.fairness` compare (one group-by), and each metric of every group against the
reference group.

Binary: selection rate P(predicted 1) over every row; true-positive rate, false-positive rate and
precision over the labelled rows. Other tasks: the mean loss (`pipelines.ml.segments.row_loss`) over the
labelled rows. `LABEL` holds the truth, null where no label has arrived.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from governance.fairness import FairnessMetric, FairnessPolicy, FairnessVerdict, fairness_metrics, judge_fairness
from governance.tasks import Task
from pipelines.ml.segments import LOSS, MISSING

LABEL = "truth"


def group_rates(frame: pl.DataFrame, column: str, *, task: Task) -> pl.DataFrame:
    """One row per group of `column`: its rows and the counts and rates its metrics need."""
    group = pl.col(column).cast(pl.String).fill_null(MISSING)
    labelled = pl.col(LABEL).is_not_null()
    if task is not Task.BINARY:
        return (
            frame.group_by(group.alias("group"))
            .agg(rows=pl.len(), labelled=labelled.sum(), error=pl.col(LOSS).filter(labelled).mean())
            .sort("group")
        )
    predicted = pl.col("predicted_label") == 1
    truth = pl.col(LABEL) == 1
    return (
        frame.group_by(group.alias("group"))
        .agg(
            rows=pl.len(),
            selected=predicted.sum(),
            labelled=labelled.sum(),
            positives=(labelled & truth).sum(),
            negatives=(labelled & ~truth).sum(),
            predicted_labelled=(labelled & predicted).sum(),
            true_positives=(labelled & predicted & truth).sum(),
            false_positives=(labelled & predicted & ~truth).sum(),
        )
        .with_columns(
            selection_rate=pl.col("selected") / pl.col("rows"),
            true_positive_rate=pl.col("true_positives") / pl.col("positives"),
            false_positive_rate=pl.col("false_positives") / pl.col("negatives"),
            precision=pl.col("true_positives") / pl.col("predicted_labelled"),
        )
        .sort("group")
    )


# metric -> (the rate compared, the count behind it, difference or ratio)
_BASIS: dict[FairnessMetric, tuple[str, str, bool]] = {
    FairnessMetric.STATISTICAL_PARITY: ("selection_rate", "rows", False),
    FairnessMetric.DISPARATE_IMPACT: ("selection_rate", "rows", True),
    FairnessMetric.EQUAL_OPPORTUNITY: ("true_positive_rate", "positives", False),
    FairnessMetric.PREDICTIVE_EQUALITY: ("false_positive_rate", "negatives", False),
    FairnessMetric.PREDICTIVE_PARITY: ("precision", "predicted_labelled", False),
    FairnessMetric.ERROR_PARITY: ("error", "labelled", True),
}


@dataclass(frozen=True)
class GroupMetric:
    """One metric of one group against the reference group; `support` is the smaller of the two
    counts the rates stand on (rows, positives, negatives, ...), what a verdict needs to trust it."""

    group: str
    metric: FairnessMetric
    value: float
    group_rate: float
    reference_rate: float
    support: int
    rows: int
    labelled: int


def reference_group(rates: pl.DataFrame, declared: str | None) -> str:
    """The declared reference group, else the group with the most rows (ties: the first by name)."""
    if declared is not None:
        return declared
    return str(rates.sort(["rows", "group"], descending=[True, False])["group"][0])


def group_metrics(rates: pl.DataFrame, *, task: Task, reference: str) -> list[GroupMetric]:
    """Every metric of `task` for every group other than `reference` (rows of `group_rates`)."""
    base = rates.filter(pl.col("group") == reference)
    if base.is_empty():
        return []
    base_row = base.row(0, named=True)
    metrics = []
    for row in rates.filter(pl.col("group") != reference).iter_rows(named=True):
        for metric in fairness_metrics(task):
            rate, count, ratio = _BASIS[metric]
            mine, theirs = _number(row[rate]), _number(base_row[rate])
            value = (mine / theirs if theirs else float("nan")) if ratio else mine - theirs
            metrics.append(
                GroupMetric(
                    group=row["group"],
                    metric=metric,
                    value=value,
                    group_rate=mine,
                    reference_rate=theirs,
                    support=min(int(row[count]), int(base_row[count])),
                    rows=int(row["rows"]),
                    labelled=int(row["labelled"]),
                )
            )
    return metrics


def _number(value: float | None) -> float:
    return float("nan") if value is None else float(value)


@dataclass(frozen=True)
class JudgedAttribute:
    """Every group of one protected attribute against its reference group, each metric with its verdict."""

    attribute: str
    reference: str
    groups: int
    rows: int
    metrics: tuple[tuple[GroupMetric, FairnessVerdict], ...]


def judge_attribute(
    frame: pl.DataFrame, attribute: str, *, declared: str | None, task: Task, policy: FairnessPolicy
) -> JudgedAttribute:
    """The fairness of `frame` (prediction columns, LABEL and, for other tasks than binary, LOSS) across
    the groups of `attribute`; no metrics when fewer than two groups (or no reference group) occur."""
    rates = group_rates(frame, attribute, task=task)
    reference = reference_group(rates, declared)
    metrics = group_metrics(rates, task=task, reference=reference)
    return JudgedAttribute(
        attribute=attribute,
        reference=reference,
        groups=rates.height,
        rows=frame.height,
        metrics=tuple(
            (m, judge_fairness(m.metric, value=m.value, group_rows=m.support, policy=policy)) for m in metrics
        ),
    )
