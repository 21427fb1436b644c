"""The in-process engine: polars and numpy in this process, as mlgov runs on one machine."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

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
        self._ctx, self._store = ctx, ctx.store

    def _read(self, rows: BatchRows, columns: Sequence[str]) -> pl.DataFrame:
        """`columns` of `rows`, joined with their feature tables as of each row's event time if any."""
        if not rows.feature_tables:
            return read_rows(self._store, rows, columns)
        from pipelines.reads.feature_tables import join_feature_tables

        spine = read_rows(self._store, rows, self._store.scan(rows.table).collect_schema().names())
        joined = join_feature_tables(
            self._ctx, spine, spine_table=rows.table, spine_time=rows.timestamp, refs=rows.feature_tables
        )
        return joined.select(columns)

    def score(
        self, rows: BatchRows, *, predict: Predict, features: Sequence[str], keep: Sequence[str]
    ) -> Iterator[Scored]:
        frame = self._read(rows, list(dict.fromkeys([*keep, *features])))
        yield Scored(rows=frame.select(keep), outputs=predict(frame))  # in one part: the rows are all here

    def drift(self, profile: ReferenceProfile, rows: BatchRows) -> BatchDrift:
        current = self._read(rows, [column.name for column in profile.columns])
        return BatchDrift(drifts=profile_drift(profile, current), rows=current.height)

    def quality(
        self, reference: pl.DataFrame, rows: BatchRows, *, spec: FeatureSpec, key: str, limits: QualityLimits
    ) -> list[QualityResult]:
        current = self._read(rows, list(dict.fromkeys([key, *spec.columns])))
        return batch_quality(reference, current, spec=spec, key=key, thresholds=limits)

    def cpu_seconds(self) -> float:
        return 0.0  # everything runs in this process, whose CPU the run record already counts
