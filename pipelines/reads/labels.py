"""Ground truth as it stands: the labels table keeps every load (corrections included); what counts
is the latest label of each entity key."""

from __future__ import annotations

import polars as pl

from lakehouse.schemas import LABELS, SCHEMAS
from pipelines.context import Context


def latest_labels(ctx: Context, model: str, *, column: str = "label") -> pl.DataFrame:
    """The latest label of every entity key of `model`, from the labels table's `column` (the task's:
    label, label_class or label_value): the last to arrive; between loads stamped the same instant (a
    fixed clock), the one committed last. Columns: entity_key, `column`, and `revised` (an earlier
    load gave the key another label)."""
    history = (
        ctx.store.scan(LABELS)
        .filter((pl.col("model") == model) & pl.col(column).is_not_null())
        .select("entity_key", column, "arrived_at", "run_id")
        .collect()
    )
    loads = history.select("arrived_at", "run_id").unique()
    if loads.height > loads["arrived_at"].n_unique():
        # Only then is the log read: its length grows with every load. A load whose commit the log
        # no longer holds (expired) counts as older than every load it still holds.
        versions = ctx.store.commit_versions(LABELS)
        order = pl.col("run_id").replace_strict(versions, default=None, return_dtype=pl.Int64)
    else:
        order = pl.lit(None, dtype=pl.Int64)
    return (
        history.with_columns(load=order)
        .sort("arrived_at", "load", nulls_last=False, maintain_order=True)
        .group_by("entity_key", maintain_order=True)
        .agg(pl.col(column).last(), revised=pl.col(column).n_unique() > 1)
        .select("entity_key", column, "revised")
        .cast({"entity_key": pl.String, column: SCHEMAS[LABELS][column], "revised": pl.Boolean})
    )
