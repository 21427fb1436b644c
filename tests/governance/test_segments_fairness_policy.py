from __future__ import annotations

import pytest

from governance.errors import InputError
from governance.fairness import (
    FairnessMetric,
    FairnessPolicy,
    ProtectedAttribute,
    judge_fairness,
    parse_protected,
    protected_attributes,
    protected_problem,
)
from governance.segments import (
    ColumnSummary,
    SearchPolicy,
    SegmentColumn,
    SegmentTest,
    parse_segment,
    segment_columns,
    segment_problem,
    segment_reported,
)

COLUMNS = ["region", "age", "customer_id"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [("region", SegmentColumn("region")), (" age:4 ", SegmentColumn("age", 4)), ("age:10", SegmentColumn("age", 10))],
)
def test_segments_parse(text: str, expected: SegmentColumn) -> None:
    assert parse_segment(text) == expected


@pytest.mark.parametrize(
    ("text", "needle"),
    [("", "expected COLUMN or COLUMN:BUCKETS"), ("age:x", "not a whole number"), ("age:1", "outside 2..10")],
)
def test_bad_segment_text_is_one_line(text: str, needle: str) -> None:
    with pytest.raises(InputError, match=needle):
        parse_segment(text)


@pytest.mark.parametrize(
    ("segment", "summary", "needle"),
    [
        (SegmentColumn("salary"), None, "unknown column"),
        (
            SegmentColumn("customer_id"),
            ColumnSummary("customer_id", "String", numeric=False, distinct=10_000),
            "has 10,000 distinct values: a segment column has at most 50",
        ),
        (SegmentColumn("age"), ColumnSummary("age", "Int64", numeric=True, distinct=70), "cut it into buckets: age:4"),
        (SegmentColumn("region", 4), ColumnSummary("region", "String", numeric=False, distinct=4), "numeric column"),
        (SegmentColumn("region"), ColumnSummary("region", "String", numeric=False, distinct=1), "a single value"),
    ],
)
def test_segment_problems(segment: SegmentColumn, summary: ColumnSummary | None, needle: str) -> None:
    problem = segment_problem(segment, summary, columns=COLUMNS)
    assert problem is not None
    assert needle in problem


def test_good_segments_and_their_settings_round_trip() -> None:
    age = SegmentColumn("age", 4)
    assert segment_problem(age, ColumnSummary("age", "Int64", numeric=True, distinct=70), columns=COLUMNS) is None
    region = SegmentColumn("region")
    settings = {age.setting: age.value, region.setting: region.value, "risk_tier": "high"}
    assert segment_columns(settings) == (age, region)


@pytest.mark.parametrize(
    ("test", "reported"),
    [
        (SegmentTest(rows=150, gap=0.2, adjusted_p=0.001), True),
        (SegmentTest(rows=99, gap=0.2, adjusted_p=0.001), False),  # too small: noise
        (SegmentTest(rows=150, gap=0.01, adjusted_p=0.001), False),  # too small a gap to matter
        (SegmentTest(rows=150, gap=0.2, adjusted_p=0.05), False),  # not significant after correction
        (SegmentTest(rows=150, gap=-0.2, adjusted_p=0.001), False),  # better than the rest
    ],
)
def test_a_segment_is_reported_when_large_worse_and_significant(test: SegmentTest, reported: bool) -> None:
    assert segment_reported(test, policy=SearchPolicy()) is reported


@pytest.mark.parametrize(
    ("metric", "value", "rows", "passed"),
    [
        (FairnessMetric.DISPARATE_IMPACT, 0.79, 100, False),  # four-fifths rule
        (FairnessMetric.DISPARATE_IMPACT, 0.8, 100, True),
        (FairnessMetric.DISPARATE_IMPACT, 1.3, 100, False),  # the reference is the disfavoured one
        (FairnessMetric.STATISTICAL_PARITY, -0.1, 100, True),
        (FairnessMetric.STATISTICAL_PARITY, -0.11, 100, False),
        (FairnessMetric.EQUAL_OPPORTUNITY, 0.2, 29, None),  # too few positives to judge
        (FairnessMetric.ERROR_PARITY, 1.3, 100, False),
        (FairnessMetric.PREDICTIVE_PARITY, float("nan"), 100, None),
    ],
)
def test_fairness_verdicts(metric: FairnessMetric, value: float, rows: int, passed: bool | None) -> None:
    verdict = judge_fairness(metric, value=value, group_rows=rows, policy=FairnessPolicy())
    assert verdict.passed is passed


def test_the_disparate_impact_rule_names_the_four_fifths_rule() -> None:
    assert "four-fifths" in judge_fairness(FairnessMetric.DISPARATE_IMPACT, value=0.9, group_rows=50).rule


@pytest.mark.parametrize(
    ("attribute", "groups", "needle"),
    [
        (ProtectedAttribute("gender"), None, "unknown column"),
        (ProtectedAttribute("region"), ["west"], "has a single value ('west')"),
        (ProtectedAttribute("customer_id"), [str(i) for i in range(10_000)], "has 10,000 distinct values"),
        (ProtectedAttribute("region", "north"), ["east", "west"], "reference group 'north' does not occur"),
    ],
)
def test_protected_problems(attribute: ProtectedAttribute, groups: list[str] | None, needle: str) -> None:
    problem = protected_problem(attribute, groups, columns=COLUMNS)
    assert problem is not None
    assert needle in problem


def test_protected_attributes_parse_and_round_trip() -> None:
    assert parse_protected("region=west") == ProtectedAttribute("region", "west")
    with pytest.raises(InputError, match="expected COLUMN or COLUMN=REFERENCE_GROUP"):
        parse_protected("region=")
    attribute = ProtectedAttribute("region")
    assert protected_attributes({attribute.setting: attribute.value}) == (attribute,)
    assert protected_problem(attribute, ["east", "west"], columns=COLUMNS) is None
