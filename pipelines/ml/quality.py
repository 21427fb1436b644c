"""Data quality of a scored batch against the training data of the version that scored it, and the
statistics of the training data's own chunks its derived thresholds come from."""

from __future__ import annotations

import polars as pl

from governance.features import FeatureSpec
from governance.quality import (
    ChunkStats,
    QualityCheck,
    QualityLimits,
    QualityResult,
    QualityThresholds,
    judge_quality,
)

# The reference is cut into 10 chunks in event-time order (NannyML's default chunker also makes 10);
# with fewer than 50 rows a chunk the spread says little, and the defaults apply instead.
REFERENCE_CHUNKS = 10
MIN_CHUNK_ROWS = 50


def batch_quality(
    reference: pl.DataFrame,
    current: pl.DataFrame,
    *,
    spec: FeatureSpec,
    key: str,
    thresholds: QualityThresholds | QualityLimits,
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


def _ranged(frame: pl.DataFrame, spec: FeatureSpec) -> list[str]:
    """The numeric features that have a range: not booleans."""
    return [c for c in spec.numeric if c in frame.columns and frame.schema[c].is_numeric()]


def reference_chunk_stats(
    reference: pl.DataFrame, *, spec: FeatureSpec, time_column: str | None, chunks: int = REFERENCE_CHUNKS
) -> dict[tuple[QualityCheck, str], ChunkStats]:
    """Missing share and out-of-range share of every feature over the reference's chunks (event-time
    order when the table has an event time, else row order), in vectorized passes over chunk ids.

    A chunk's out-of-range share is measured against the range of the other chunks (leave one chunk
    out): against the whole reference's range it would be 0 by construction. Empty when the reference
    is too small for `chunks` chunks of MIN_CHUNK_ROWS rows."""
    size = reference.height // chunks  # the last chunk takes the remainder
    if size < MIN_CHUNK_ROWS:
        return {}
    columns = [c for c in spec.columns if c in reference.columns]
    ranged = _ranged(reference, spec)
    ordered = reference.sort(time_column) if time_column in reference.columns else reference
    rows = ordered.select(columns).with_columns(
        (pl.int_range(pl.len()) // size).clip(upper_bound=chunks - 1).alias("_chunk")
    )
    per_chunk = rows.group_by("_chunk").agg(
        pl.len().alias("_rows"),
        *(pl.col(c).null_count().alias(f"missing:{c}") for c in columns),
        *(pl.col(c).min().alias(f"min:{c}") for c in ranged),
        *(pl.col(c).max().alias(f"max:{c}") for c in ranged),
    )
    others = (
        per_chunk.select("_chunk")
        .join(per_chunk.select(pl.col("_chunk").alias("_other"), pl.selectors.starts_with("min:", "max:")), how="cross")
        .filter(pl.col("_chunk") != pl.col("_other"))
        .group_by("_chunk")
        .agg(
            *(pl.col(f"min:{c}").min().alias(f"low:{c}") for c in ranged),
            *(pl.col(f"max:{c}").max().alias(f"high:{c}") for c in ranged),
        )
    )
    outside = (
        rows.join(others, on="_chunk", how="left")
        .group_by("_chunk")
        .agg(
            *(
                ((pl.col(c) < pl.col(f"low:{c}")) | (pl.col(c) > pl.col(f"high:{c}"))).sum().alias(f"out:{c}")
                for c in ranged
            ),
            *(pl.col(c).count().alias(f"present:{c}") for c in ranged),
        )
    )
    shares = per_chunk.join(outside, on="_chunk", how="left").select(
        *(pl.col(f"missing:{c}") / pl.col("_rows") for c in columns),
        *(pl.col(f"out:{c}") / pl.max_horizontal(pl.col(f"present:{c}"), 1) for c in ranged),
    )
    summary = pl.concat(
        [
            shares.mean().with_columns(pl.lit("mean").alias("_stat")),
            shares.std().with_columns(pl.lit("sd").alias("_stat")),
        ]
    )
    mean, sd = (summary.filter(pl.col("_stat") == s).row(0, named=True) for s in ("mean", "sd"))
    count, total = per_chunk.height, reference.height

    def stats(name: str, baseline: float = 0.0) -> ChunkStats:
        return ChunkStats(count, size, float(mean[name] or 0.0), float(sd[name] or 0.0), baseline)

    found = {(QualityCheck.MISSING, c): stats(f"missing:{c}", reference[c].null_count() / total) for c in columns}
    return found | {(QualityCheck.OUT_OF_RANGE, c): stats(f"out:{c}") for c in ranged}
