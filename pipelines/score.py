"""Batch scoring with the champion: one batch per (model version, table version, window), idempotent."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import polars as pl

from governance.audit import utc_text
from governance.errors import InputError, NotFoundError
from governance.promotion import PRODUCTION_ALIAS
from governance.roles import Action
from lakehouse.records import LineageEdge, lineage_frame, require_table_identity
from lakehouse.schemas import BATCHES, LINEAGE, PREDICTIONS, check_model_name, raw_table
from pipelines.context import Context, job_run
from pipelines.modeling import DECISION_THRESHOLD, model_frame, positive_scores
from pipelines.train import version_recipe


@dataclass(frozen=True)
class ScoreResult:
    batch_id: str
    rows: int
    model_version: str
    already_scored: bool


def batch_identity(
    *, model: str, version: str, table: str, table_version: int, start: datetime | None, end: datetime | None
) -> str:
    """The same model version over the same rows of the same table version is the same batch."""
    window = f"{utc_text(start) if start else '-'}|{utc_text(end) if end else '-'}"
    text = f"{model}|{version}|{table}|{table_version}|{window}"
    return "b-" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def select_window(
    frame: pl.LazyFrame, *, timestamp: str | None, start: datetime | None, end: datetime | None
) -> pl.LazyFrame:
    """Rows with start <= timestamp < end (either bound may be open)."""
    if start is None and end is None:
        return frame
    if timestamp is None:
        raise InputError("--from/--to need a timestamp column, and this table was ingested without --timestamp")
    if start is not None and end is not None and start >= end:
        raise InputError(f"--from {utc_text(start)} is not before --to {utc_text(end)}")
    if start is not None:
        frame = frame.filter(pl.col(timestamp) >= start)
    if end is not None:
        frame = frame.filter(pl.col(timestamp) < end)
    return frame


def score(
    ctx: Context, *, model: str, table: str, start: datetime | None, end: datetime | None, actor: str
) -> ScoreResult:
    check_model_name(model)
    name = raw_table(table)
    with job_run(ctx, job="score", actor=actor, model=model) as run:
        run.authorize(Action.SCORE, object_type="model", object_id=model)
        ctx.registry.require_model(model)
        version = ctx.registry.alias_version(model, PRODUCTION_ALIAS)
        if version is None:
            raise NotFoundError(f"model {model!r} has no {PRODUCTION_ALIAS} version yet: promote one first")
        identity = require_table_identity(ctx.store, name)
        key, timestamp = identity.key, identity.timestamp
        table_version = ctx.store.version(name)
        batch_id = batch_identity(
            model=model, version=version, table=name, table_version=table_version, start=start, end=end
        )
        done = ctx.store.scan(BATCHES).filter(pl.col("batch_id") == batch_id).select("rows").collect()
        if done.height:
            return ScoreResult(batch_id=batch_id, rows=int(done["rows"][0]), model_version=version, already_scored=True)
        recipe = version_recipe(ctx.registry.version(model, version))
        schema = ctx.store.schema(name)
        missing = [c for c in recipe.spec.columns if c not in schema]
        if missing:
            raise InputError(f"table {name!r} lacks feature column {missing[0]!r} that {model} v{version} needs")
        selected = select_window(ctx.store.scan(name, version=table_version), timestamp=timestamp, start=start, end=end)
        rows = selected.collect()
        if rows.height == 0:
            raise InputError(f"no rows of table {name!r} fall in the selected window: nothing to score")
        estimator = ctx.registry.load_estimator(model, version)
        scores = np.concatenate(
            [
                positive_scores(estimator, model_frame(chunk, recipe.spec))
                for chunk in rows.iter_slices(ctx.settings.score_chunk_rows)
            ]
        )
        scored_at = run.now()
        predictions = pl.DataFrame(
            {
                "model": model,
                "model_version": version,
                "role": PRODUCTION_ALIAS,
                "batch_id": batch_id,
                "scored_at": scored_at,
                "entity_key": rows[key].cast(pl.String),
                "event_ts": rows[timestamp]
                if timestamp
                else pl.repeat(None, rows.height, dtype=pl.Datetime("us", "UTC"), eager=True),
                "score": scores,
                "predicted_label": (scores >= DECISION_THRESHOLD).astype(np.int64),
                "input_table": name,
                "input_version": table_version,
                "run_id": run.run_id,
            }
        )
        run.append(PREDICTIONS, predictions)
        batch = {
            "batch_id": batch_id,
            "model": model,
            "model_version": version,
            "role": PRODUCTION_ALIAS,
            "input_table": name,
            "input_version": table_version,
            "window_start": start,
            "window_end": end,
            "rows": rows.height,
            "scored_at": scored_at,
            "actor": actor,
            "run_id": run.run_id,
        }
        run.append(
            BATCHES,
            pl.DataFrame(
                [batch],
                schema_overrides={"window_start": pl.Datetime("us", "UTC"), "window_end": pl.Datetime("us", "UTC")},
            ),
        )
        edges = [
            LineageEdge("model_version", f"{model}/{version}", "scored", "batch", batch_id),
            LineageEdge("table", f"{name}@{table_version}", "scored_in", "batch", batch_id),
        ]
        run.append(LINEAGE, lineage_frame(edges, at=scored_at, run_id=run.run_id))
        run.audit(
            action="score",
            object_type="batch",
            object_id=batch_id,
            details={"model": model, "version": version, "table": f"{name}@{table_version}", "rows": rows.height},
        )
    return ScoreResult(batch_id=batch_id, rows=rows.height, model_version=version, already_scored=False)
