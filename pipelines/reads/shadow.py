"""Champion vs challenger: what the shadow version would have done on the same rows."""

from __future__ import annotations

from typing import Any

import polars as pl
from scipy.stats import ks_2samp

from governance.promotion import PRODUCTION_ALIAS, SHADOW_ALIAS
from lakehouse.schemas import BATCHES, PERFORMANCE, PREDICTIONS, REALIZED
from pipelines.context import Context

_SAME_ROWS = ["input_table", "input_version", "window_start", "window_end"]


def shadow_comparison(ctx: Context, *, model: str, version: str | None = None) -> list[dict[str, Any]]:
    """Per batch scored by both: how often they decide differently (label or class; none for a
    regression), the K-S distance between their scores (or predicted values), and each one's latest
    realized metrics (once labels arrived).
    `version` limits it to batches where that version was the challenger."""
    batches = ctx.store.scan(BATCHES).filter(pl.col("model") == model).collect()
    champion = batches.filter(pl.col("role") == PRODUCTION_ALIAS)
    challenger = batches.filter(pl.col("role") == SHADOW_ALIAS)
    if version is not None:
        challenger = challenger.filter(pl.col("model_version") == version)
    pairs = champion.join(challenger, on=_SAME_ROWS, how="inner", suffix="_challenger", nulls_equal=True)
    if pairs.height == 0:
        return []
    ids = [*pairs["batch_id"], *pairs["batch_id_challenger"]]
    predictions = (
        ctx.store.scan(PREDICTIONS)
        .filter((pl.col("model") == model) & pl.col("batch_id").is_in(ids))
        .select(
            "batch_id",
            "entity_key",
            # what each version decided (none for a regression) and the number it gave
            pl.coalesce(pl.col("predicted_label").cast(pl.String), pl.col("predicted_class")).alias("decision"),
            pl.coalesce("score", "prediction").alias("score"),
        )
        .collect()
    )
    realized = (
        ctx.store.scan(PERFORMANCE)
        .filter((pl.col("model") == model) & (pl.col("kind") == REALIZED) & pl.col("batch_id").is_in(ids))
        .sort("labelled_rows")
        .collect()
        .unique(["batch_id", "metric"], keep="last")
    )
    comparison = []
    for pair in pairs.sort("scored_at").iter_rows(named=True):
        a = predictions.filter(pl.col("batch_id") == pair["batch_id"])
        b = predictions.filter(pl.col("batch_id") == pair["batch_id_challenger"])
        both = a.join(b, on="entity_key", suffix="_challenger")
        comparison.append(
            {
                "champion_batch": pair["batch_id"],
                "challenger_batch": pair["batch_id_challenger"],
                "champion_version": pair["model_version"],
                "challenger_version": pair["model_version_challenger"],
                "rows": both.height,
                "disagreement_rate": both.select((pl.col("decision") != pl.col("decision_challenger")).mean()).item()
                if both.height and both["decision"].null_count() < both.height
                else None,
                "score_ks": float(ks_2samp(both["score"], both["score_challenger"]).statistic) if both.height else None,
                "champion_realized": _metrics(realized, pair["batch_id"]),
                "challenger_realized": _metrics(realized, pair["batch_id_challenger"]),
            }
        )
    return comparison


def _metrics(realized: pl.DataFrame, batch_id: str) -> dict[str, float]:
    rows = realized.filter(pl.col("batch_id") == batch_id)
    return dict(zip(rows["metric"], rows["value"], strict=True))
