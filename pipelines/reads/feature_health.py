"""Drift and data quality per feature table version, as `mlgov features monitor` computed them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import polars as pl

from governance.drift import FeatureDrift, dataset_drifted, drift_share
from governance.quality import QualityResult
from lakehouse.schemas import FEATURE_TABLE_DRIFT, FEATURE_TABLE_QUALITY
from pipelines.context import Context
from pipelines.reads.monitoring import feature_drifts, quality_results


@dataclass(frozen=True)
class VersionHealth:
    version: int
    rows: int  # the version's new rows
    reference_id: str
    drift: tuple[FeatureDrift, ...]
    drift_share: float
    drifted: bool
    quality: tuple[QualityResult, ...]

    @property
    def quality_alerts(self) -> tuple[QualityResult, ...]:
        return tuple(result for result in self.quality if not result.passed)


def feature_table_health(ctx: Context, table: str) -> tuple[VersionHealth, ...]:
    """Every computed version of `table`, oldest first, from the monitoring tables."""
    drift = ctx.store.scan(FEATURE_TABLE_DRIFT).filter(pl.col("feature_table") == table).collect()
    quality = ctx.store.scan(FEATURE_TABLE_QUALITY).filter(pl.col("feature_table") == table).collect()
    found = []
    for version in sorted(drift["version"].unique().to_list()):
        rows = drift.filter((pl.col("version") == version) & pl.col("feature").is_not_null())
        drifts = feature_drifts(rows)
        share = drift_share(drifts)
        checks = quality.filter(pl.col("version") == version)
        marker = drift.filter(pl.col("version") == version).row(0, named=True)
        found.append(
            VersionHealth(
                version=version,
                rows=int(marker["current_rows"] or 0),
                reference_id=marker["reference_id"] or "",
                drift=drifts,
                drift_share=share,
                drifted=dataset_drifted(share),
                quality=quality_results(checks),
            )
        )
    return tuple(found)


def version_health_document(health: VersionHealth) -> dict[str, Any]:
    return {
        "version": health.version,
        "rows": health.rows,
        "reference_id": health.reference_id,
        "drift": [
            {
                "feature": d.feature,
                "method": d.method,
                "statistic": d.statistic,
                "threshold": d.threshold,
                "drifted": d.drifted,
            }
            for d in health.drift
        ],
        "drift_share": health.drift_share,
        "drifted": health.drifted,
        "quality_alerts": [
            {
                "check": q.check.value,
                "column": q.column,
                "value": q.value,
                "threshold": q.threshold,
                "origin": q.origin,
            }
            for q in health.quality_alerts
        ],
    }


def health_over_versions(ctx: Context, table: str) -> pl.DataFrame:
    """One row per computed version and feature: the drift statistic and verdict, and how many
    quality checks of that feature failed (what the Features page charts)."""
    rows = [
        {
            "version": h.version,
            "feature": d.feature,
            "method": d.method,
            "statistic": d.statistic,
            "threshold": d.threshold,
            "drifted": d.drifted,
            "quality_alerts": sum(1 for q in h.quality_alerts if q.column == d.feature),
            "new_rows": h.rows,
        }
        for h in feature_table_health(ctx, table)
        for d in h.drift
    ]
    schema = {
        "version": pl.Int64,
        "feature": pl.String,
        "method": pl.String,
        "statistic": pl.Float64,
        "threshold": pl.Float64,
        "drifted": pl.Boolean,
        "quality_alerts": pl.Int64,
        "new_rows": pl.Int64,
    }
    return pl.DataFrame(rows, schema=schema)
