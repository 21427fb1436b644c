"""Data-quality verdicts: each check just under, at and just over its threshold."""

from __future__ import annotations

import pytest

from governance.quality import QualityCheck, QualityResult, QualityThresholds, judge_quality

DEFAULTS = QualityThresholds()
EPS = 1e-9

# check -> (threshold under the defaults, passes just under, at, just over the threshold)
EXPECTED = {
    QualityCheck.SCHEMA: (1.0, (False, True, True)),  # a ratio of matching dtypes: must be exactly 1.0
    QualityCheck.MISSING: (0.10, (True, True, False)),
    QualityCheck.OUT_OF_RANGE: (0.05, (True, True, False)),
    QualityCheck.UNSEEN: (0.05, (True, True, False)),
    QualityCheck.DUPLICATE_KEYS: (0.0, (True, True, False)),
}


def test_every_check_has_an_expectation() -> None:
    assert set(EXPECTED) == set(QualityCheck)


@pytest.mark.parametrize("check", list(QualityCheck), ids=[c.value for c in QualityCheck])
def test_default_threshold_of_each_check(check: QualityCheck) -> None:
    assert DEFAULTS.threshold(check) == EXPECTED[check][0]


CASES = [
    (check, offset, expected)
    for check, (_, verdicts) in EXPECTED.items()
    for offset, expected in zip((-EPS, 0.0, EPS), verdicts, strict=True)
]


@pytest.mark.parametrize(
    ("check", "offset", "passed"),
    CASES,
    ids=[f"{c.value}-{['under', 'at', 'over'][i % 3]}" for i, (c, _, _) in enumerate(CASES)],
)
def test_verdict_around_the_threshold(check: QualityCheck, offset: float, passed: bool) -> None:
    limit = DEFAULTS.threshold(check)
    result = judge_quality(check, column="income", value=limit + offset, thresholds=DEFAULTS)
    assert result == QualityResult(check=check, column="income", value=limit + offset, threshold=limit, passed=passed)


@pytest.mark.parametrize(
    ("value", "passed"),
    [(1.0, True), (0.0, False), (0.5, False), (0.999_999, False)],
)
def test_schema_passes_only_on_an_exact_match(value: float, passed: bool) -> None:
    result = judge_quality(QualityCheck.SCHEMA, column="purpose", value=value, thresholds=DEFAULTS)
    assert result.passed is passed
    assert result.threshold == 1.0


@pytest.mark.parametrize(
    ("check", "value", "passed"),
    [
        (QualityCheck.DUPLICATE_KEYS, 0.0, True),
        (QualityCheck.DUPLICATE_KEYS, 1.0, False),  # a count: one duplicated key is already too many
        (QualityCheck.DUPLICATE_KEYS, 2.0, False),
        (QualityCheck.MISSING, 0.0, True),
        (QualityCheck.MISSING, 1.0, False),
        (QualityCheck.OUT_OF_RANGE, 0.0, True),
        (QualityCheck.OUT_OF_RANGE, 1.0, False),
        (QualityCheck.UNSEEN, 0.0, True),
        (QualityCheck.UNSEEN, 1.0, False),
    ],
)
def test_clean_and_fully_broken_columns(check: QualityCheck, value: float, passed: bool) -> None:
    assert judge_quality(check, column="c", value=value, thresholds=DEFAULTS).passed is passed


@pytest.mark.parametrize(
    ("check", "value", "passed"),
    [
        (QualityCheck.MISSING, 0.25, True),
        (QualityCheck.MISSING, 0.26, False),
        (QualityCheck.OUT_OF_RANGE, 0.0, True),
        (QualityCheck.OUT_OF_RANGE, 0.01, False),
        (QualityCheck.UNSEEN, 0.5, True),
        (QualityCheck.UNSEEN, 0.51, False),
        (QualityCheck.DUPLICATE_KEYS, 3.0, True),
        (QualityCheck.DUPLICATE_KEYS, 4.0, False),
        (QualityCheck.SCHEMA, 1.0, True),  # not configurable
        (QualityCheck.SCHEMA, 0.0, False),
    ],
)
def test_custom_thresholds_are_used(check: QualityCheck, value: float, passed: bool) -> None:
    custom = QualityThresholds(missing_increase=0.25, out_of_range=0.0, unseen=0.5, duplicate_keys=3.0)
    result = judge_quality(check, column="c", value=value, thresholds=custom)
    assert result.passed is passed
    assert result.threshold == custom.threshold(check)


def test_the_result_names_the_column_and_keeps_the_measured_value() -> None:
    result = judge_quality(QualityCheck.UNSEEN, column="purpose", value=0.8, thresholds=DEFAULTS)
    assert (result.check, result.column, result.value, result.threshold, result.passed) == (
        QualityCheck.UNSEEN,
        "purpose",
        0.8,
        0.05,
        False,
    )
