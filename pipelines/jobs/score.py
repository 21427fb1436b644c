"""Batch scoring with the champion: one batch per (model version, table version, window), idempotent."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from functools import partial

import polars as pl

from governance.audit.actions import AuditAction
from governance.audit.canonical import utc_text
from governance.errors import InputError, NotFoundError
from governance.promotion import PRODUCTION_ALIAS, SHADOW_ALIAS
from governance.roles import Action
from lakehouse.records import LineageEdge, lineage_frame, require_table_identity
from lakehouse.schemas import BATCHES, LINEAGE, PREDICTIONS, check_model_name, raw_table
from pipelines.context import Context, JobRun, job_run
from pipelines.jobs.engines import BatchRows, Engine, open_engine
from pipelines.jobs.registry import served_version
from pipelines.ml.tasks import prediction_frame
from pipelines.reads.batches import select_window
from pipelines.reads.versions import kind_for, version_model, version_recipe


@dataclass(frozen=True)
class ScoreResult:
    batch_id: str
    rows: int
    model_version: str
    already_scored: bool
    challenger_batch_id: str | None = None
    challenger_version: str | None = None


def batch_identity(
    *, model: str, version: str, table: str, table_version: int, start: datetime | None, end: datetime | None
) -> str:
    """The same model version over the same rows of the same table version is the same batch."""
    window = f"{utc_text(start) if start else '-'}|{utc_text(end) if end else '-'}"
    text = f"{model}|{version}|{table}|{table_version}|{window}"
    return "b-" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def score(
    ctx: Context,
    *,
    model: str,
    table: str,
    start: datetime | None,
    end: datetime | None,
    actor: str,
    engine: Engine | None = None,
) -> ScoreResult:
    """Score the selected rows with the champion (served) and, if one is in shadow, the challenger, on
    `engine` (default: the one the settings name)."""
    check_model_name(model)
    name = raw_table(table)
    engine = engine or open_engine(ctx)
    with job_run(ctx, job="score", actor=actor, model=model, workers=engine) as run:
        run.authorize(Action.SCORE, object_type="model", object_id=model)
        ctx.registry.require_model(model)
        champion = served_version(run, model, PRODUCTION_ALIAS)
        if champion is None:
            raise NotFoundError(f"model {model!r} has no {PRODUCTION_ALIAS} version yet: promote one first")
        challenger = served_version(run, model, SHADOW_ALIAS)
        roles = {PRODUCTION_ALIAS: champion}
        if challenger is not None and challenger != champion:
            roles[SHADOW_ALIAS] = challenger
        identity = require_table_identity(ctx.store, name)
        table_version = ctx.store.version(name)
        batch_ids = {
            role: batch_identity(
                model=model, version=version, table=name, table_version=table_version, start=start, end=end
            )
            for role, version in roles.items()
        }
        done = ctx.store.scan(BATCHES).filter(pl.col("batch_id").is_in(list(batch_ids.values()))).collect()
        done_rows = dict(zip(done["batch_id"], done["rows"], strict=True))
        todo = {role: version for role, version in roles.items() if batch_ids[role] not in done_rows}
        # a window the table cannot be cut by is refused here, before any engine starts work
        select_window(ctx.store.scan(name, version=table_version), timestamp=identity.timestamp, start=start, end=end)
        source = BatchRows(table=name, version=table_version, timestamp=identity.timestamp, start=start, end=end)
        scored = {
            role: _score_batch(
                run,
                engine,
                model=model,
                version=version,
                role=role,
                batch_id=batch_ids[role],
                source=source,
                key=identity.key,
            )
            for role, version in todo.items()
        }
    champion_batch = batch_ids[PRODUCTION_ALIAS]
    return ScoreResult(
        batch_id=champion_batch,
        rows=int(done_rows[champion_batch]) if champion_batch in done_rows else scored[PRODUCTION_ALIAS],
        model_version=champion,
        already_scored=PRODUCTION_ALIAS not in todo,
        challenger_batch_id=batch_ids.get(SHADOW_ALIAS),
        challenger_version=roles.get(SHADOW_ALIAS),
    )


def _score_batch(
    run: JobRun,
    engine: Engine,
    *,
    model: str,
    version: str,
    role: str,
    batch_id: str,
    source: BatchRows,
    key: str,
) -> int:
    """Score `source`'s rows with one version and write its predictions, lineage, audit record and,
    last, its batch record, the mark of a finished batch. Each is written once: a run killed at any
    point is completed by rerunning it, and two scorers of the same batch write it once. Returns the
    rows scored."""
    ctx = run.ctx
    name, table_version, timestamp = source.table, source.version, source.timestamp
    recipe = version_recipe(ctx, model, version)
    columns = ctx.store.scan(name, version=table_version).collect_schema().names()
    missing = [c for c in recipe.spec.columns if c not in columns]
    if missing:
        raise InputError(f"table {name!r} lacks feature column {missing[0]!r} that {model} v{version} needs")
    estimator = version_model(ctx, model, version, recipe)
    kind = kind_for(recipe)
    scored = engine.score(
        source,
        predict=partial(kind.outputs, estimator, spec=recipe.spec, chunk_rows=ctx.settings.score_chunk_rows),
        features=recipe.spec.columns,
        keep=list(dict.fromkeys([key, *([timestamp] if timestamp else [])])),
    )
    rows, outputs = scored.rows, scored.outputs
    if rows.height == 0:
        raise InputError(f"no rows of table {name!r} fall in the selected window: nothing to score")
    scored_at = run.now()
    predictions = pl.concat(
        [
            pl.DataFrame(
                {
                    "model": model,
                    "model_version": version,
                    "role": role,
                    "batch_id": batch_id,
                    "scored_at": scored_at,
                    "entity_key": rows[key].cast(pl.String),
                    "event_ts": rows[timestamp]
                    if timestamp
                    else pl.repeat(None, rows.height, dtype=pl.Datetime("us", "UTC"), eager=True),
                    "input_table": name,
                    "input_version": table_version,
                    "run_id": run.run_id,
                }
            ),
            prediction_frame(kind.prediction_columns(outputs), rows=rows.height),
        ],
        how="horizontal",
    )
    same_batch = (pl.col("model") == model) & (pl.col("batch_id") == batch_id)
    run.append_once(PREDICTIONS, predictions, present=lambda table: _holds(table, same_batch))
    edges = [
        LineageEdge("model_version", f"{model}/{version}", "scored", "batch", batch_id),
        LineageEdge("table", f"{name}@{table_version}", "scored_in", "batch", batch_id),
    ]
    run.append_once(
        LINEAGE,
        lineage_frame(edges, at=scored_at, run_id=run.run_id),
        present=lambda table: _holds(table, (pl.col("dst_type") == "batch") & (pl.col("dst_id") == batch_id)),
    )
    run.audit_once(
        action=AuditAction.SCORE,
        object_type="batch",
        object_id=batch_id,
        details={
            "model": model,
            "version": version,
            "role": role,
            "table": f"{name}@{table_version}",
            "rows": rows.height,
        },
    )
    batch = {
        "batch_id": batch_id,
        "model": model,
        "model_version": version,
        "role": role,
        "input_table": name,
        "input_version": table_version,
        "window_start": source.start,
        "window_end": source.end,
        "rows": rows.height,
        "scored_at": scored_at,
        "actor": run.actor,
        "run_id": run.run_id,
    }
    utc = pl.Datetime("us", "UTC")
    run.append_once(
        BATCHES,
        pl.DataFrame([batch], schema_overrides={"window_start": utc, "window_end": utc}),
        present=lambda table: _holds(table, pl.col("batch_id") == batch_id),
    )
    return rows.height


def _holds(table: pl.LazyFrame, rows: pl.Expr) -> bool:
    return bool(table.filter(rows).select(pl.len()).collect().item())
