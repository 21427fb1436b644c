"""Data-quality checks of a scored batch against its model's training data: what each check
measures and when it raises an alert. Pure: the measured values are passed in."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class QualityCheck(StrEnum):
    SCHEMA = "schema_match"  # 1.0 when the column has the training dtype, else 0.0
    MISSING = "missing_share_increase"  # share missing now minus share missing in training
    OUT_OF_RANGE = "out_of_training_range"  # share of numbers below the training min or above its max
    UNSEEN = "unseen_categories"  # share of values of a category never seen in training
    DUPLICATE_KEYS = "duplicate_keys"  # rows sharing an entity key with another row of the batch


@dataclass(frozen=True)
class QualityThresholds:
    missing_increase: float = 0.10
    out_of_range: float = 0.05
    unseen: float = 0.05
    duplicate_keys: float = 0.0

    def threshold(self, check: QualityCheck) -> float:
        return {
            QualityCheck.SCHEMA: 1.0,
            QualityCheck.MISSING: self.missing_increase,
            QualityCheck.OUT_OF_RANGE: self.out_of_range,
            QualityCheck.UNSEEN: self.unseen,
            QualityCheck.DUPLICATE_KEYS: self.duplicate_keys,
        }[check]


@dataclass(frozen=True)
class QualityResult:
    check: QualityCheck
    column: str
    value: float
    threshold: float
    passed: bool


def judge_quality(check: QualityCheck, *, column: str, value: float, thresholds: QualityThresholds) -> QualityResult:
    """A check passes while its value stays within its threshold (schema: must match exactly)."""
    limit = thresholds.threshold(check)
    passed = value >= limit if check is QualityCheck.SCHEMA else value <= limit
    return QualityResult(check=check, column=column, value=value, threshold=limit, passed=passed)
