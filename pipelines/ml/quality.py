"""Data quality of a scored batch against the training data of the version that scored it."""

from __future__ import annotations

import polars as pl

from governance.features import FeatureSpec
from governance.quality import QualityCheck, QualityResult, QualityThresholds, judge_quality


def batch_quality(
    reference: pl.DataFrame,
    current: pl.DataFrame,
    *,
    spec: FeatureSpec,
    key: str,
    thresholds: QualityThresholds,
) -> list[QualityResult]:
    """Every check on every feature (and the key), judged by governance.quality."""
    results: list[QualityResult] = []

    def judge(check: QualityCheck, column: str, value: float) -> None:
        results.append(judge_quality(check, column=column, value=value, thresholds=thresholds))

    rows = max(current.height, 1)
    for column in spec.columns:
        if column not in current.columns:
            judge(QualityCheck.SCHEMA, column, 0.0)
            continue
        judge(QualityCheck.SCHEMA, column, float(current.schema[column] == reference.schema[column]))
        missing_now = current[column].null_count() / rows
        missing_then = reference[column].null_count() / max(reference.height, 1)
        judge(QualityCheck.MISSING, column, max(0.0, missing_now - missing_then))
        if column in spec.numeric and reference.schema[column] != pl.Boolean and current.schema[column].is_numeric():
            low, high = reference[column].min(), reference[column].max()
            values = current[column].drop_nulls()
            outside = values.filter((values < low) | (values > high)).len() if low is not None else 0
            judge(QualityCheck.OUT_OF_RANGE, column, outside / max(values.len(), 1))
        elif column in spec.categorical:
            seen = reference[column].drop_nulls().cast(pl.String).unique()
            values = current[column].drop_nulls().cast(pl.String)
            unseen = values.filter(~values.is_in(seen)).len()
            judge(QualityCheck.UNSEEN, column, unseen / max(values.len(), 1))
    duplicated = current[key].is_duplicated().sum() if key in current.columns else 0
    judge(QualityCheck.DUPLICATE_KEYS, key, float(duplicated))
    return results
