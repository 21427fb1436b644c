"""The in-process engine: polars and numpy in this process, as mlgov runs on one machine."""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from governance.features import FeatureSpec
from governance.quality import QualityLimits, QualityResult
from lakehouse.delta import DeltaStore
from pipelines.context import Context
from pipelines.jobs.engines import BatchDrift, BatchRows, Predict, Scored
from pipelines.ml.drift import ReferenceProfile, profile_drift
from pipelines.ml.quality import batch_quality
from pipelines.reads.batches import select_window


def read_rows(store: DeltaStore, rows: BatchRows, columns: Sequence[str]) -> pl.DataFrame:
    """`columns` of `rows`, read from the table at its version (the one reader both engines share)."""
    window = select_window(
        store.scan(rows.table, version=rows.version), timestamp=rows.timestamp, start=rows.start, end=rows.end
    )
    return window.select(columns).collect()


class LocalEngine:
    name = "local"

    def __init__(self, ctx: Context) -> None:
        self._store = ctx.store

    def score(self, rows: BatchRows, *, predict: Predict, features: Sequence[str], keep: Sequence[str]) -> Scored:
        frame = read_rows(self._store, rows, list(dict.fromkeys([*keep, *features])))
        return Scored(rows=frame.select(keep), outputs=predict(frame))

    def drift(self, profile: ReferenceProfile, rows: BatchRows) -> BatchDrift:
        current = read_rows(self._store, rows, [column.name for column in profile.columns])
        return BatchDrift(drifts=profile_drift(profile, current), rows=current.height)

    def quality(
        self, reference: pl.DataFrame, rows: BatchRows, *, spec: FeatureSpec, key: str, limits: QualityLimits
    ) -> list[QualityResult]:
        current = read_rows(self._store, rows, list(dict.fromkeys([key, *spec.columns])))
        return batch_quality(reference, current, spec=spec, key=key, thresholds=limits)

    def cpu_seconds(self) -> float:
        return 0.0  # everything runs in this process, whose CPU the run record already counts
