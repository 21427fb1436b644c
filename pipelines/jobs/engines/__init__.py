"""Where the heavy part of scoring and monitoring computes: the engine seam.

A job reads top to bottom as always (read, compute, decide, write) but hands the compute over the
rows of a batch to an engine: `local` runs it in this process with polars, `ray` runs it on Daft
over a Ray cluster. Both read the same Delta tables through the lakehouse's `Storage`, both return
the same numbers, and the job commits the results through delta-rs either way. A new engine is one
new module here and a line in `open_engine`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import numpy as np
import polars as pl

from governance.drift import FeatureDrift
from governance.feature_tables import FeatureTableRef
from governance.features import FeatureSpec
from governance.quality import QualityLimits, QualityResult
from lakehouse.records import feature_tables_from_json, require_table_identity
from pipelines.context import Context
from pipelines.ml.drift import ReferenceProfile

# The model's outputs for some rows (a binary model's scores, a multiclass model's probabilities...).
Predict = Callable[[pl.DataFrame], np.ndarray]


@dataclass(frozen=True)
class BatchRows:
    """The rows of one batch, by description: a table at a version, in a time window (open bounds
    allowed). Engines read them where they compute, so rows cross no process boundary they need not."""

    table: str
    version: int
    timestamp: str | None
    start: datetime | None
    end: datetime | None
    # feature tables joined as of each row's event time, by the engine where it computes
    feature_tables: tuple[FeatureTableRef, ...] = ()

    @classmethod
    def of_batch(cls, ctx: Context, batch: Mapping[str, Any]) -> BatchRows:
        """The rows a scored batch scored (`batch` is a row of scoring/batches)."""
        table = str(batch["input_table"])
        return cls(
            table=table,
            version=int(batch["input_version"]),
            timestamp=require_table_identity(ctx.store, table).timestamp,
            start=batch["window_start"],
            end=batch["window_end"],
            feature_tables=tuple(feature_tables_from_json(batch.get("feature_tables"))),
        )


@dataclass(frozen=True)
class Scored:
    """Some scored rows of a batch: the columns kept from them, in the order of `outputs`."""

    rows: pl.DataFrame
    outputs: np.ndarray


@dataclass(frozen=True)
class BatchDrift:
    drifts: list[FeatureDrift]
    rows: int  # the batch's rows, whatever each column left after dropping nulls


class Engine(Protocol):
    """Computes over a batch's rows. Results must not depend on the engine: the same outputs bit for
    bit, the same drift statistics and quality results."""

    name: str

    def score(
        self, rows: BatchRows, *, predict: Predict, features: Sequence[str], keep: Sequence[str]
    ) -> Iterator[Scored]:
        """`predict` over the `features` of `rows`, keeping the `keep` columns of each row (joined
        feature columns included): every row once, in parts of bounded size as the engine computes
        them, so the caller can write them as they come."""
        ...

    def drift(self, profile: ReferenceProfile, rows: BatchRows) -> BatchDrift:
        """The drift of the profiled columns of `rows` (see `pipelines.ml.drift.profile_drift`)."""
        ...

    def quality(
        self, reference: pl.DataFrame, rows: BatchRows, *, spec: FeatureSpec, key: str, limits: QualityLimits
    ) -> list[QualityResult]:
        """The quality checks of `rows` against `reference` (see `pipelines.ml.quality.batch_quality`)."""
        ...

    def cpu_seconds(self) -> float:
        """CPU seconds its workers spent so far, outside this process (0 for an in-process engine)."""
        ...


def open_engine(ctx: Context, name: str | None = None) -> Engine:
    """The engine `name` (default: the MLGOV_ENGINE setting) over `ctx`'s lakehouse."""
    from lakehouse.settings import engine_choice

    chosen = engine_choice(name, source="--engine") if name else ctx.settings.engine
    if chosen == "ray":
        from pipelines.jobs.engines.daft_ray import RayEngine

        return RayEngine(ctx.store.storage, address=ctx.settings.ray_address, batch_rows=ctx.settings.score_chunk_rows)
    from pipelines.jobs.engines.local import LocalEngine

    return LocalEngine(ctx)
