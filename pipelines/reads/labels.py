"""Ground truth as it stands: the labels table keeps every load (corrections included); what counts
is the latest label of each entity key."""

from __future__ import annotations

import polars as pl

from lakehouse.schemas import LABELS
from pipelines.context import Context

# revised: an earlier load gave the key another label
LATEST_LABELS_SCHEMA = pl.Schema({"entity_key": pl.String(), "label": pl.Int64(), "revised": pl.Boolean()})


def latest_labels(ctx: Context, model: str) -> pl.DataFrame:
    """The latest label of every entity key of `model` (columns: LATEST_LABELS_SCHEMA): the last to
    arrive; between loads stamped the same instant (a fixed clock), the one committed last."""
    history = (
        ctx.store.scan(LABELS)
        .filter(pl.col("model") == model)
        .select("entity_key", "label", "arrived_at", "run_id")
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
        .agg(pl.col("label").last(), revised=pl.col("label").n_unique() > 1)
        .select(LATEST_LABELS_SCHEMA.names())
        .cast(LATEST_LABELS_SCHEMA)
    )
