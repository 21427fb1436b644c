"""Recording a scored batch: the one way batch scoring (`mlgov score`) and served windows
(`mlgov serve-batch`) write a batch's predictions, lineage, audit record and batch record (scoring
streams its predictions itself, then calls `finish_scored_batch`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import polars as pl

from governance.audit.actions import AuditAction
from governance.feature_tables import FeatureTableRef
from lakehouse.records import LineageEdge, feature_tables_json, lineage_frame
from lakehouse.schemas import BATCHES, LINEAGE, PREDICTIONS
from pipelines.context import JobRun

UTC_TIMESTAMP = pl.Datetime("us", "UTC")


@dataclass(frozen=True)
class ScoredBatch:
    """What one batch is: a model version in a role over a table version's rows in a window, joined
    with `feature_tables`."""

    batch_id: str
    model: str
    version: str
    role: str
    table: str
    table_version: int
    start: datetime | None
    end: datetime | None
    feature_tables: Sequence[FeatureTableRef] = ()


def record_scored_batch(
    run: JobRun,
    batch: ScoredBatch,
    *,
    keys: pl.DataFrame,
    outputs: pl.DataFrame,
    scored_at: datetime,
    details: Mapping[str, object],
) -> None:
    """Write `batch`'s predictions (`keys`: `entity_key` and `event_ts` per row; `outputs`: the
    prediction columns, row for row), then the rest of the batch (`finish_scored_batch`)."""
    predictions = prediction_rows(run, batch, keys=keys, outputs=outputs, scored_at=scored_at)
    run.append_once(PREDICTIONS, predictions, present=lambda table: holds(table, same_batch(batch)))
    finish_scored_batch(run, batch, rows=keys.height, scored_at=scored_at, details=details)


def prediction_rows(
    run: JobRun, batch: ScoredBatch, *, keys: pl.DataFrame, outputs: pl.DataFrame, scored_at: datetime
) -> pl.DataFrame:
    """The predictions table's rows for `keys` (`entity_key`, `event_ts`) and their `outputs`."""
    return pl.concat(
        [
            keys.select(
                pl.lit(batch.model).alias("model"),
                pl.lit(batch.version).alias("model_version"),
                pl.lit(batch.role).alias("role"),
                pl.lit(batch.batch_id).alias("batch_id"),
                pl.lit(scored_at).alias("scored_at"),
                pl.col("entity_key").cast(pl.String),
                pl.col("event_ts"),
                pl.lit(batch.table).alias("input_table"),
                pl.lit(batch.table_version, dtype=pl.Int64).alias("input_version"),
                pl.lit(run.run_id).alias("run_id"),
            ),
            outputs,
        ],
        how="horizontal",
    )


def same_batch(batch: ScoredBatch) -> pl.Expr:
    """The predictions of `batch`."""
    return (pl.col("model") == batch.model) & (pl.col("batch_id") == batch.batch_id)


def finish_scored_batch(
    run: JobRun, batch: ScoredBatch, *, rows: int, scored_at: datetime, details: Mapping[str, object]
) -> None:
    """After its predictions, write `batch`'s lineage, audit record (with `details` after the batch's
    own) and, last, its batch record, the mark of a finished batch. Each is written once: a run killed
    at any point is completed by rerunning it, and two writers of the same batch write it once."""
    table = f"{batch.table}@{batch.table_version}"
    edges = [
        LineageEdge("model_version", f"{batch.model}/{batch.version}", "scored", "batch", batch.batch_id),
        LineageEdge("table", table, "scored_in", "batch", batch.batch_id),
        *(
            LineageEdge("table", f"{ref.table}@{ref.version}", "joined_in", "batch", batch.batch_id)
            for ref in batch.feature_tables
        ),
    ]
    run.append_once(
        LINEAGE,
        lineage_frame(edges, at=scored_at, run_id=run.run_id),
        present=lambda table: holds(table, (pl.col("dst_type") == "batch") & (pl.col("dst_id") == batch.batch_id)),
    )
    run.audit_once(
        action=AuditAction.SCORE,
        object_type="batch",
        object_id=batch.batch_id,
        details={"model": batch.model, "version": batch.version, "role": batch.role, "table": table, **details},
    )
    record = {
        "batch_id": batch.batch_id,
        "model": batch.model,
        "model_version": batch.version,
        "role": batch.role,
        "input_table": batch.table,
        "input_version": batch.table_version,
        "window_start": batch.start,
        "window_end": batch.end,
        "rows": rows,
        "scored_at": scored_at,
        "actor": run.actor,
        "run_id": run.run_id,
        "feature_tables": feature_tables_json(batch.feature_tables),
    }
    run.append_once(
        BATCHES,
        pl.DataFrame([record], schema_overrides={"window_start": UTC_TIMESTAMP, "window_end": UTC_TIMESTAMP}),
        present=lambda table: holds(table, pl.col("batch_id") == batch.batch_id),
    )


def holds(table: pl.LazyFrame, rows: pl.Expr) -> bool:
    """Whether `table` has any of `rows`: the test of an append written once."""
    return bool(table.filter(rows).select(pl.len()).collect().item())
