"""The task policy as tables: which task a target calls for, why a task does not fit a target, and the
metrics each task is gated and monitored on, with their direction."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from governance.errors import InputError
from governance.promotion import RiskTier, metric_gates, tier_policy
from governance.retraining import BatchHealth, RetrainPolicy, TriggerKind, retrain_trigger
from governance.tasks import (
    MAX_CLASSES,
    MAX_MULTICLASS_LEVELS,
    TargetSummary,
    Task,
    ValueKind,
    gate_metric,
    health_metric,
    infer_task,
    parse_task,
    task_problem,
)


def summary(
    kind: ValueKind,
    distinct: int,
    *,
    integral: bool = False,
    zero_one: bool = False,
    missing: int = 0,
    non_finite: int = 0,
    dtype: str = "",
) -> TargetSummary:
    dtype = dtype or {"boolean": "Boolean", "number": "Float64", "text": "String", "other": "Date"}[kind.value]
    return TargetSummary(
        column="y",
        dtype=dtype,
        kind=kind,
        distinct=distinct,
        integral=integral,
        zero_one=zero_one,
        missing=missing,
        non_finite=non_finite,
    )


BOOLEANS = summary(ValueKind.BOOLEAN, 2, zero_one=True)
ZERO_ONE = summary(ValueKind.NUMBER, 2, integral=True, zero_one=True, dtype="Int64")
ONLY_ZERO = summary(ValueKind.NUMBER, 1, integral=True, zero_one=True, dtype="Int64")
TWO_NAMES = summary(ValueKind.TEXT, 2)  # "yes" / "no"
THREE_NAMES = summary(ValueKind.TEXT, 3)
ONE_NAME = summary(ValueKind.TEXT, 1)
ONE_TWO = summary(ValueKind.NUMBER, 2, integral=True, dtype="Int64")  # 1 and 2: which is positive?
FEW_LEVELS = summary(ValueKind.NUMBER, MAX_MULTICLASS_LEVELS, integral=True, dtype="Int64")
MANY_LEVELS = summary(ValueKind.NUMBER, MAX_MULTICLASS_LEVELS + 1, integral=True, dtype="Int64")
WHOLE_FLOATS = summary(ValueKind.NUMBER, 5, integral=True)  # 1.0 .. 5.0
FRACTIONS = summary(ValueKind.NUMBER, 900)
THREE_FRACTIONS = summary(ValueKind.NUMBER, 3)  # 0.5, 1.5, 2.5: few, but not whole numbers
CONSTANT = summary(ValueKind.NUMBER, 1)
NAN_IN_ZERO_ONE = summary(ValueKind.NUMBER, 2, integral=True, zero_one=True, non_finite=3)
INF_IN_PRICES = summary(ValueKind.NUMBER, 500, non_finite=1)
DATES = summary(ValueKind.OTHER, 10)


@pytest.mark.parametrize(
    ("target", "task"),
    [
        (BOOLEANS, Task.BINARY),
        (ZERO_ONE, Task.BINARY),
        (ONLY_ZERO, Task.BINARY),  # then task_problem says one class is not enough
        (NAN_IN_ZERO_ONE, Task.BINARY),  # NaN is left out of the rule: task_problem names it
        (TWO_NAMES, Task.MULTICLASS),
        (THREE_NAMES, Task.MULTICLASS),
        (ONE_NAME, Task.MULTICLASS),
        (ONE_TWO, Task.MULTICLASS),
        (FEW_LEVELS, Task.MULTICLASS),
        (WHOLE_FLOATS, Task.MULTICLASS),
        (MANY_LEVELS, Task.REGRESSION),
        (FRACTIONS, Task.REGRESSION),
        (THREE_FRACTIONS, Task.REGRESSION),
        (CONSTANT, Task.REGRESSION),
        (INF_IN_PRICES, Task.REGRESSION),
    ],
)
def test_infer_task(target: TargetSummary, task: Task) -> None:
    assert infer_task(target) is task


@pytest.mark.parametrize(
    ("target", "message"),
    [
        (DATES, "target column 'y' has type Date: a target holds numbers, booleans or text"),
        (summary(ValueKind.NUMBER, 0, missing=4), "target column 'y' has no values to learn from"),
        (summary(ValueKind.TEXT, 0), "target column 'y' has no values to learn from"),
    ],
)
def test_infer_task_refuses_what_no_task_predicts(target: TargetSummary, message: str) -> None:
    with pytest.raises(InputError) as raised:
        infer_task(target)
    assert str(raised.value) == message


@dataclass(frozen=True)
class Fit:
    task: Task
    target: TargetSummary
    problem: str | None  # None: the task fits


FITS = [
    Fit(Task.BINARY, BOOLEANS, None),
    Fit(Task.BINARY, ZERO_ONE, None),
    Fit(Task.MULTICLASS, TWO_NAMES, None),
    Fit(Task.MULTICLASS, THREE_NAMES, None),
    Fit(Task.MULTICLASS, ZERO_ONE, None),  # 0/1 as two named classes is allowed when asked for
    Fit(Task.MULTICLASS, BOOLEANS, None),
    Fit(Task.MULTICLASS, MANY_LEVELS, None),  # inferred as regression, but whole numbers may be classes
    Fit(Task.MULTICLASS, WHOLE_FLOATS, None),
    Fit(Task.REGRESSION, FRACTIONS, None),
    Fit(Task.REGRESSION, FEW_LEVELS, None),  # counts may be regressed on when asked for
    Fit(Task.REGRESSION, ZERO_ONE, None),
    # binary
    Fit(
        Task.BINARY,
        summary(ValueKind.NUMBER, 3, integral=True, dtype="Int64"),
        "target column 'y' holds 3 distinct values, not only 0 and 1: binary needs both 0 and 1 (or false and true)",
    ),
    Fit(
        Task.BINARY,
        ONE_TWO,
        "target column 'y' holds 2 distinct values, not only 0 and 1: binary needs both 0 and 1 (or false and true)",
    ),
    Fit(
        Task.BINARY, ONLY_ZERO, "target column 'y' holds a single class: binary needs both 0 and 1 (or false and true)"
    ),
    Fit(
        Task.BINARY,
        summary(ValueKind.BOOLEAN, 1, zero_one=True),
        "target column 'y' holds a single class: binary needs both 0 and 1 (or false and true)",
    ),
    Fit(
        Task.BINARY,
        TWO_NAMES,
        "target column 'y' holds text (String): binary needs both 0 and 1 (or false and true); "
        "named classes are a multiclass task",
    ),
    Fit(Task.BINARY, NAN_IN_ZERO_ONE, "target column 'y' has 3 NaN or infinite values: a binary target must be finite"),
    # multiclass
    Fit(Task.MULTICLASS, ONE_NAME, "target column 'y' holds a single class: multiclass needs at least two"),
    Fit(
        Task.MULTICLASS,
        summary(ValueKind.NUMBER, 1, integral=True, dtype="Int64"),
        "target column 'y' holds a single class: multiclass needs at least two",
    ),
    Fit(
        Task.MULTICLASS,
        THREE_FRACTIONS,
        "target column 'y' holds fractional numbers: multiclass classes are text or whole numbers "
        "(a number to predict is a regression task)",
    ),
    Fit(Task.MULTICLASS, summary(ValueKind.TEXT, MAX_CLASSES), None),
    Fit(
        Task.MULTICLASS,
        summary(ValueKind.TEXT, MAX_CLASSES + 1),
        f"target column 'y' holds {MAX_CLASSES + 1} distinct values: multiclass allows at most {MAX_CLASSES}",
    ),
    Fit(
        Task.MULTICLASS,
        summary(ValueKind.NUMBER, 4, integral=True, non_finite=2),
        "target column 'y' has 2 NaN or infinite values: a multiclass target must be finite",
    ),
    # regression
    Fit(Task.REGRESSION, THREE_NAMES, "target column 'y' holds text values (String): regression needs numbers"),
    Fit(
        Task.REGRESSION,
        summary(ValueKind.TEXT, 40, dtype="Categorical"),
        "target column 'y' holds text values (Categorical): regression needs numbers",
    ),
    Fit(Task.REGRESSION, BOOLEANS, "target column 'y' holds boolean values (Boolean): regression needs numbers"),
    Fit(
        Task.REGRESSION,
        INF_IN_PRICES,
        "target column 'y' has 1 NaN or infinite values: a regression target must be finite",
    ),
    Fit(
        Task.REGRESSION,
        summary(ValueKind.NUMBER, 0, non_finite=7),
        "target column 'y' has 7 NaN or infinite values: a regression target must be finite",
    ),
    Fit(Task.REGRESSION, CONSTANT, "target column 'y' is constant: regression needs at least two distinct values"),
    # every task
    *(
        Fit(
            task,
            summary(ValueKind.NUMBER, 2, integral=True, zero_one=True, missing=5),
            "target column 'y' has 5 missing values: every training row needs a target",
        )
        for task in Task
    ),
    *(Fit(task, DATES, "target column 'y' has type Date: a target holds numbers, booleans or text") for task in Task),
    *(Fit(task, summary(ValueKind.TEXT, 0), "target column 'y' has no values to learn from") for task in Task),
]


@pytest.mark.parametrize("fit", FITS, ids=lambda f: f"{f.task.value}-{f.target.kind.value}-{f.target.distinct}")
def test_task_problem(fit: Fit) -> None:
    assert task_problem(fit.task, fit.target) == fit.problem


@pytest.mark.parametrize(
    "target",
    [BOOLEANS, ZERO_ONE, TWO_NAMES, THREE_NAMES, ONE_TWO, FEW_LEVELS, WHOLE_FLOATS, MANY_LEVELS, FRACTIONS],
)
def test_an_inferred_task_fits_a_clean_target(target: TargetSummary) -> None:
    assert task_problem(infer_task(target), target) is None


@pytest.mark.parametrize(
    ("task", "gate", "health", "higher_is_better"),
    [
        (Task.BINARY, "roc_auc", "roc_auc", True),
        (Task.MULTICLASS, "roc_auc", "roc_auc", True),
        (Task.REGRESSION, "rmse", "rmse", False),
    ],
)
def test_the_metrics_each_task_is_judged_by(task: Task, gate: str, health: str, higher_is_better: bool) -> None:
    assert gate_metric(task).name == gate
    assert health_metric(task).name == health
    assert gate_metric(task).higher_is_better is higher_is_better
    assert health_metric(task).higher_is_better is higher_is_better


@pytest.mark.parametrize(
    ("candidate", "champion", "tier", "passed"),
    [
        (2000.0, 2000.0, RiskTier.MEDIUM, True),
        (1500.0, 2000.0, RiskTier.MEDIUM, True),  # a lower error is better
        (2020.0, 2000.0, RiskTier.MEDIUM, True),  # the medium tier's margin: 1% of the champion's RMSE
        (2020.5, 2000.0, RiskTier.MEDIUM, False),
        (2040.0, 2000.0, RiskTier.LOW, True),  # 2%
        (2041.0, 2000.0, RiskTier.LOW, False),
        (2000.0, 2000.0, RiskTier.HIGH, True),  # no margin at all
        (2000.1, 2000.0, RiskTier.HIGH, False),
        (0.0101, 0.01, RiskTier.MEDIUM, True),  # the same share on any scale
        (0.0102, 0.01, RiskTier.MEDIUM, False),
    ],
)
def test_a_regression_gate_fails_when_the_error_rises_by_more_than_a_share(
    candidate: float, champion: float, tier: RiskTier, passed: bool
) -> None:
    (gate,) = metric_gates(
        candidate={"rmse": candidate},
        champion={"rmse": champion},
        policy=tier_policy(tier),
        metric=gate_metric(Task.REGRESSION),
    )
    assert gate.passed is passed
    assert (gate.higher_is_better, gate.relative) == (False, True)
    assert gate.margin == {RiskTier.LOW: "2%", RiskTier.MEDIUM: "1%", RiskTier.HIGH: "0%"}[tier]


def test_gate_margins_read_as_shares_only_for_relative_metrics() -> None:
    regression = metric_gates(
        candidate={"rmse": 2500.0},
        champion={"rmse": 2000.0},
        policy=tier_policy(RiskTier.MEDIUM),
        metric=gate_metric(Task.REGRESSION),
    )
    assert [(g.margin, g.passed) for g in regression] == [("1%", False)]
    classification = metric_gates(
        candidate={"roc_auc": 0.7},
        champion={"roc_auc": 0.8},
        policy=tier_policy(RiskTier.MEDIUM),
        metric=gate_metric(Task.MULTICLASS),
    )
    assert [(g.margin, g.relative, g.passed) for g in classification] == [("0.01", False, False)]


@pytest.mark.parametrize(
    ("candidate", "champion", "passed"),
    [(0.80, 0.80, True), (0.795, 0.80, True), (0.78, 0.80, False), (0.95, 0.80, True)],
)
def test_a_multiclass_gate_fails_when_macro_auc_falls(candidate: float, champion: float, passed: bool) -> None:
    (gate,) = metric_gates(
        candidate={"roc_auc": candidate},
        champion={"roc_auc": champion},
        policy=tier_policy(RiskTier.MEDIUM),
        metric=gate_metric(Task.MULTICLASS),
    )
    assert gate.passed is passed


@pytest.mark.parametrize(
    ("realized", "estimated", "reason"),
    [
        (2000.0, None, None),
        (2100.0, None, None),  # 5% above the holdout: the margin itself
        (2101.0, None, "realized RMSE 2101.000 is more than 5% above the holdout's 2000.000"),
        (1500.0, None, None),  # better than the holdout
        (None, 2200.0, "estimated RMSE 2200.000 is more than 5% above the holdout's 2000.000"),
        (1900.0, 2200.0, None),  # a realized value wins over the estimate
    ],
)
def test_regression_retrains_when_the_error_rises_by_more_than_a_share(
    realized: float | None, estimated: float | None, reason: str | None
) -> None:
    batch = BatchHealth("b0", "1", drift_share=0.0, quality_alerts=0, realized=realized, estimated=estimated)
    trigger = retrain_trigger([batch], policy=RetrainPolicy(), metric=health_metric(Task.REGRESSION), baseline=2000.0)
    assert (trigger.reason if trigger else None) == reason
    assert trigger is None or trigger.kind is TriggerKind.PERFORMANCE


@pytest.mark.parametrize(
    ("text", "task"), [("binary", Task.BINARY), (" Multiclass ", Task.MULTICLASS), ("REGRESSION", Task.REGRESSION)]
)
def test_parse_task(text: str, task: Task) -> None:
    assert parse_task(text) is task


def test_parse_task_names_the_choices() -> None:
    with pytest.raises(InputError, match="unknown task 'ranking': expected one of binary, multiclass, regression"):
        parse_task("ranking")
