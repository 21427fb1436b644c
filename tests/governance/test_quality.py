"""Data-quality verdicts: each check just under, at and just over its threshold; thresholds fixed by
policy, derived from reference chunks or the defaults, and where each comes from."""

from __future__ import annotations

import re

import pytest

from governance.errors import InputError
from governance.quality import (
    ChunkStats,
    FixedQualityLimit,
    QualityCheck,
    QualityLimits,
    QualityResult,
    QualityThresholds,
    Threshold,
    ThresholdOrigin,
    derived_threshold,
    fixed_quality_limits,
    judge_quality,
    parse_quality_limit,
)

DEFAULTS = QualityThresholds()
EPS = 1e-9

# check -> (threshold under the defaults, passes just under, at, just over the threshold)
EXPECTED = {
    QualityCheck.SCHEMA: (1.0, (False, True, True)),  # a ratio of matching dtypes: must be exactly 1.0
    QualityCheck.MISSING: (0.10, (True, True, False)),
    QualityCheck.OUT_OF_RANGE: (0.05, (True, True, False)),
    QualityCheck.UNSEEN: (0.0, (True, True, False)),  # any unseen category alerts (was 0.05)
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
    expected = QualityResult(
        check=check,
        column="income",
        value=limit + offset,
        threshold=limit,
        passed=passed,
        origin=DEFAULTS.default(check).note,
    )
    assert result == expected
    assert result.origin.startswith("default: ")


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
        0.0,  # any unseen category alerts by default (was 0.05)
        False,
    )
    assert result.origin == "default: any unseen category"


# ---- thresholds and their origin -----------------------------------------------------------------

SPREAD = ChunkStats(chunks=10, chunk_rows=500, mean=0.02, sd=0.005, baseline=0.02)


def test_one_unseen_value_in_a_hundred_alerts_by_default() -> None:
    assert judge_quality(QualityCheck.UNSEEN, column="purpose", value=0.01, thresholds=DEFAULTS).passed is False
    assert judge_quality(QualityCheck.UNSEEN, column="purpose", value=0.0, thresholds=DEFAULTS).passed is True


@pytest.mark.parametrize(
    ("check", "stats", "limit"),
    [
        # missing share: mean + 3 sd = 0.035, the check measures the increase over training's 0.02
        (QualityCheck.MISSING, SPREAD, 0.015),
        (QualityCheck.OUT_OF_RANGE, ChunkStats(10, 500, 0.001, 0.002), 0.007),
        (QualityCheck.OUT_OF_RANGE, ChunkStats(10, 500, 0.0, 0.0), 0.002),  # never out of range: one row in 500
        (QualityCheck.MISSING, ChunkStats(10, 500, 0.0, 0.0), 0.0),  # never missing: any missing value alerts
        (QualityCheck.OUT_OF_RANGE, ChunkStats(10, 500, 0.6, 0.3), 1.0),  # clipped to the share's range
        (QualityCheck.MISSING, ChunkStats(10, 500, 0.5, 0.0, baseline=0.6), 0.0),  # never below 0
    ],
)
def test_derived_limit_is_mean_plus_three_sd_clipped(check: QualityCheck, stats: ChunkStats, limit: float) -> None:
    threshold = derived_threshold(check, stats)
    assert threshold.limit == pytest.approx(limit)
    assert threshold.origin is ThresholdOrigin.DERIVED
    assert threshold.note.startswith("derived from 10 reference chunks of ~500 rows")


def test_derived_note_states_mean_and_sd() -> None:
    note = derived_threshold(QualityCheck.MISSING, SPREAD).note
    assert "missing share mean 0.02 + 3 sd (0.005) = 0.035" in note
    assert "+0.015 over training's 0.02" in note
    floored = derived_threshold(QualityCheck.OUT_OF_RANGE, ChunkStats(10, 300, 0.0, 0.0)).note
    assert floored.endswith("out-of-range share mean 0 + 3 sd (0) = 0, raised to one row in a chunk (0.00333)")


@pytest.mark.parametrize(("increase", "passed"), [(0.0, True), (0.015, True), (0.016, False), (0.10, False)])
def test_a_derived_limit_decides_the_verdict(increase: float, passed: bool) -> None:
    limits = QualityLimits(derived={(QualityCheck.MISSING, "income"): SPREAD})
    result = judge_quality(QualityCheck.MISSING, column="income", value=increase, thresholds=limits)
    assert (result.passed, result.threshold) == (passed, pytest.approx(0.015))
    assert result.origin.startswith("derived from")


def test_policy_beats_derived_beats_default() -> None:
    limits = QualityLimits(
        derived={(QualityCheck.MISSING, "income"): SPREAD, (QualityCheck.MISSING, "age"): SPREAD},
        fixed={(QualityCheck.MISSING, "income"): 0.2, (QualityCheck.UNSEEN, "purpose"): 0.05},
    )
    assert limits.threshold(QualityCheck.MISSING, "income") == Threshold(
        0.2, ThresholdOrigin.POLICY, "fixed by policy: at most 0.2"
    )
    assert limits.threshold(QualityCheck.MISSING, "age").origin is ThresholdOrigin.DERIVED
    assert limits.threshold(QualityCheck.MISSING, "loan").origin is ThresholdOrigin.DEFAULT  # no chunk statistics
    assert limits.threshold(QualityCheck.UNSEEN, "purpose").limit == 0.05
    assert limits.threshold(QualityCheck.UNSEEN, "home").note == "default: any unseen category"


def test_derived_statistics_never_apply_to_unseen_or_duplicates() -> None:
    limits = QualityLimits(derived={(QualityCheck.UNSEEN, "purpose"): ChunkStats(10, 500, 0.3, 0.1)})
    assert limits.threshold(QualityCheck.UNSEEN, "purpose").origin is ThresholdOrigin.DEFAULT


COLUMNS = frozenset({"income", "purpose"})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("missing_share:income=0.2", FixedQualityLimit(QualityCheck.MISSING, "income", 0.2)),
        ("out_of_range:income=0", FixedQualityLimit(QualityCheck.OUT_OF_RANGE, "income", 0.0)),
        ("unseen:purpose=1", FixedQualityLimit(QualityCheck.UNSEEN, "purpose", 1.0)),
        ("unseen_categories:purpose=0.05", FixedQualityLimit(QualityCheck.UNSEEN, "purpose", 0.05)),
    ],
)
def test_parse_a_fixed_limit(text: str, expected: FixedQualityLimit) -> None:
    assert parse_quality_limit(text, columns=COLUMNS) == expected
    assert fixed_quality_limits({expected.setting: str(expected.limit), "risk_tier": "high"}) == {
        (expected.check, expected.column): expected.limit
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("missing_share:income", "expected CHECK:COLUMN=MAX"),
        ("income=0.2", "expected CHECK:COLUMN=MAX"),
        ("nulls:income=0.2", "unknown check 'nulls'"),
        ("schema_match:income=0.2", "unknown check 'schema_match'"),
        ("missing_share:salary=0.2", "unknown column 'salary'"),
        ("missing_share:income=1.5", "MAX 1.5 is outside 0..1"),
        ("missing_share:income=-0.1", "MAX -0.1 is outside 0..1"),
        ("missing_share:income=lots", "MAX 'lots' is not a number"),
    ],
)
def test_bad_fixed_limits_are_one_line(text: str, message: str) -> None:
    with pytest.raises(InputError, match=re.escape(message)) as raised:
        parse_quality_limit(text, columns=COLUMNS)
    assert "\n" not in str(raised.value)
