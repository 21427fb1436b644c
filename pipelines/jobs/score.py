"""Batch scoring with the champion: one batch per (model version, table version, window), idempotent."""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import partial

import polars as pl

from governance.audit.canonical import utc_text
from governance.errors import InputError, NotFoundError
from governance.feature_tables import FeatureTableRef
from governance.promotion import PRODUCTION_ALIAS, SHADOW_ALIAS
from governance.roles import Action
from lakehouse.feature_catalog import feature_table_definition
from lakehouse.records import require_table_identity
from lakehouse.schemas import BATCHES, FEATURE_SKEW, PREDICTIONS, check_model_name, raw_table
from pipelines.context import Context, JobRun, job_run
from pipelines.jobs.engines import BatchRows, Engine, open_engine
from pipelines.jobs.registry import served_version
from pipelines.jobs.scored_batches import (
    UTC_TIMESTAMP,
    ScoredBatch,
    finish_scored_batch,
    holds,
    prediction_rows,
    same_batch,
)
from pipelines.ml.point_in_time import latest_values, skew_shares
from pipelines.ml.tasks import prediction_frame
from pipelines.reads.batches import select_window
from pipelines.reads.feature_tables import current_versions
from pipelines.reads.versions import kind_for, version_model, version_recipe


@dataclass(frozen=True)
class ScoreResult:
    batch_id: str
    rows: int
    model_version: str
    already_scored: bool
    challenger_batch_id: str | None = None
    challenger_version: str | None = None
    # the champion batch's joined features: the share of rows whose as-of value differs from the latest
    feature_skew: dict[str, float] = field(default_factory=dict)


def batch_identity(
    *,
    model: str,
    version: str,
    table: str,
    table_version: int,
    start: datetime | None,
    end: datetime | None,
    feature_tables: Sequence[FeatureTableRef] = (),
) -> str:
    """The same model version over the same rows of the same table version (joined with the same
    feature table versions) is the same batch."""
    window = f"{utc_text(start) if start else '-'}|{utc_text(end) if end else '-'}"
    text = f"{model}|{version}|{table}|{table_version}|{window}"
    text += "".join(f"|{ref.table}@{ref.version}" for ref in feature_tables)
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
        joins = {
            role: current_versions(ctx, version_recipe(ctx, model, version).feature_tables)
            for role, version in roles.items()
        }
        batch_ids = {
            role: batch_identity(
                model=model,
                version=version,
                table=name,
                table_version=table_version,
                start=start,
                end=end,
                feature_tables=joins[role],
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
                feature_tables=joins[role],
            )
            for role, version in todo.items()
        }
    champion_batch = batch_ids[PRODUCTION_ALIAS]
    return ScoreResult(
        batch_id=champion_batch,
        rows=int(done_rows[champion_batch]) if champion_batch in done_rows else scored[PRODUCTION_ALIAS][0],
        model_version=champion,
        already_scored=PRODUCTION_ALIAS not in todo,
        challenger_batch_id=batch_ids.get(SHADOW_ALIAS),
        challenger_version=roles.get(SHADOW_ALIAS),
        feature_skew=scored[PRODUCTION_ALIAS][1] if PRODUCTION_ALIAS in scored else {},
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
    feature_tables: Sequence[FeatureTableRef],
) -> tuple[int, dict[str, float]]:
    """Score `source`'s rows with one version, streaming its predictions into one commit, then its
    joined features' skew and the rest of the batch (`finish_scored_batch`), whose batch record comes
    last. Each is written once: a run killed at any point is completed by rerunning it. The version's
    feature tables are joined as of each row's event time. Returns the rows scored and the joined
    features' skew (see `_record_skew`)."""
    ctx = run.ctx
    name, table_version, timestamp = source.table, source.version, source.timestamp
    recipe = version_recipe(ctx, model, version)
    estimator = version_model(ctx, model, version, recipe)
    kind = kind_for(recipe)
    predict = partial(kind.outputs, estimator, spec=recipe.spec, chunk_rows=ctx.settings.score_chunk_rows)
    definitions = {ref.table: feature_table_definition(ctx.store, ref.table) for ref in feature_tables}
    available = ctx.store.scan(name, version=table_version).collect_schema().names()
    available += [column for definition in definitions.values() for column in definition.columns]
    missing = [c for c in recipe.spec.columns if c not in available]
    if missing:
        raise InputError(f"table {name!r} lacks feature column {missing[0]!r} that {model} v{version} needs")
    own = [key, *([timestamp] if timestamp else [])]
    # the joined features (and their keys) come back too, for the skew
    keep = list(dict.fromkeys([*own, *(c for d in definitions.values() for c in (d.key, *d.columns))]))
    latest = {
        ref.table: latest_values(
            ctx.store.scan(ref.table, version=ref.version), definition=definitions[ref.table]
        ).collect()
        for ref in feature_tables
    }
    joined = replace(source, feature_tables=tuple(feature_tables))
    scored_at = run.now()
    batch = ScoredBatch(
        batch_id=batch_id,
        model=model,
        version=version,
        role=role,
        table=name,
        table_version=table_version,
        start=source.start,
        end=source.end,
        feature_tables=feature_tables,
    )
    tally = _Tally(rows=0, skew={})

    def parts() -> Iterator[pl.DataFrame]:
        """The batch's predictions as the engine scores them, counted (and their skew) on the way."""
        tally.rows, tally.skew = 0, {}
        for part in engine.score(joined, predict=predict, features=recipe.spec.columns, keep=keep):
            if part.rows.height == 0:
                continue
            tally.rows += part.rows.height
            for ref in feature_tables:
                definition = definitions[ref.table]
                shares = skew_shares(part.rows, latest[ref.table], key=definition.key, columns=definition.columns)
                for feature, (differing, total) in shares.items():
                    before = tally.skew.get((ref, feature), (0, 0))
                    tally.skew[(ref, feature)] = (before[0] + differing, before[1] + total)
            keys = part.rows.select(
                pl.col(key).alias("entity_key"),
                (pl.col(timestamp) if timestamp else pl.lit(None, dtype=UTC_TIMESTAMP)).alias("event_ts"),
            )
            outputs = prediction_frame(kind.prediction_columns(part.outputs), rows=part.rows.height)
            yield prediction_rows(run, batch, keys=keys, outputs=outputs, scored_at=scored_at)

    started = parts()
    first = next(started, None)
    if first is None:
        raise InputError(f"no rows of table {name!r} fall in the selected window: nothing to score")
    pending = [itertools.chain([first], started)]
    # written part by part as the engine scores, in one commit (see DeltaStore.append_stream_once)
    run.append_stream_once(
        PREDICTIONS,
        lambda: pending.pop() if pending else parts(),
        present=lambda table: holds(table, same_batch(batch)),
    )
    for _ in started:  # already written (a rerun): the rows are still counted, every one
        pass
    rows = tally.rows
    skew = _record_skew(run, tally.skew, batch=(batch_id, model, version), at=scored_at)
    finish_scored_batch(
        run,
        batch,
        rows=rows,
        scored_at=scored_at,
        details={
            "rows": rows,
            **({"feature_tables": [f"{ref.table}@{ref.version}" for ref in feature_tables]} if feature_tables else {}),
        },
    )
    return rows, skew


@dataclass
class _Tally:
    """What a batch's parts add up to: its rows, and per (feature table, feature) the rows whose as-of
    value differs from the key's latest value, and the rows."""

    rows: int
    skew: dict[tuple[FeatureTableRef, str], tuple[int, int]]


def _record_skew(
    run: JobRun,
    counts: dict[tuple[FeatureTableRef, str], tuple[int, int]],
    *,
    batch: tuple[str, str, str],
    at: datetime,
) -> dict[str, float]:
    """Training/serving skew of the batch's joined features: per feature, the share of rows whose as-of
    value (what training-style joins see) differs from the key's latest value in the same table version
    (what a real-time lookup by key serves). Written to monitoring/feature_skew once per batch."""
    if not counts:
        return {}
    batch_id, model, version = batch
    found, shares = [], {}
    for (ref, feature), (differing, total) in counts.items():
        shares[feature] = differing / total if total else 0.0
        found.append(
            {
                "batch_id": batch_id,
                "model": model,
                "model_version": version,
                "feature_table": f"{ref.table}@{ref.version}",
                "feature": feature,
                "rows": total,
                "differing_rows": differing,
                "share": shares[feature],
                "computed_at": at,
                "run_id": run.run_id,
            }
        )
    run.append_once(
        FEATURE_SKEW, pl.DataFrame(found), present=lambda table: holds(table, pl.col("batch_id") == batch_id)
    )
    return shares
