"""A window of served traffic made into scoring batches, so monitoring, labels, shadow comparison and
lineage treat served predictions exactly as batch-scored ones.

The window's inputs become rows of the ingested table `raw/served_<model>` (key `served_key` =
`<request_id>:<row>`, timestamp `served_at`, one typed column per feature); each version and role that
answered in the window becomes one batch whose predictions are the answers the server gave (not a
re-scoring), with the usual batch record, lineage and audit record. Labels arrive for `served_key`s.
Making the same window again adds nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime

import polars as pl

from governance.audit.actions import AuditAction
from governance.errors import InputError
from governance.roles import Action
from lakehouse.feature_catalog import feature_table_definition
from lakehouse.records import TableIdentity, catalog_frame, table_identity
from lakehouse.schemas import BATCHES, CATALOG, FEATURE_SKEW, SCHEMAS, SERVING_REQUESTS, check_model_name, raw_table
from pipelines.context import Context, JobRun, job_run
from pipelines.jobs.score import batch_identity
from pipelines.jobs.scored_batches import ScoredBatch, holds, record_scored_batch
from pipelines.ml.point_in_time import FeatureRows, as_of_join
from pipelines.ml.tasks import PREDICTION_SCHEMA
from pipelines.reads.feature_tables import current_versions
from pipelines.reads.versions import VersionRecipe, version_recipe
from pipelines.serving.champion import version_contract
from pipelines.serving.contract import Limits

SERVED_KEY = "served_key"
SERVED_AT = "served_at"


@dataclass(frozen=True)
class ServedBatch:
    batch_id: str
    model_version: str
    role: str
    rows: int
    # a version with feature tables: per feature, the share of rows whose served value differs from the
    # value a point-in-time join gives at the request's time (training/serving skew)
    feature_skew: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class ServedWindow:
    model: str
    table: str
    table_version: int
    start: datetime
    end: datetime
    batches: tuple[ServedBatch, ...]


def served_table(model: str) -> str:
    """The ingested table that holds `model`'s served inputs."""
    return raw_table("served_" + check_model_name(model).lower().replace("-", "_"))


def batch_served_window(ctx: Context, *, model: str, start: datetime, end: datetime, actor: str) -> ServedWindow:
    """Make the requests `model` answered with start <= received_at < end into scoring batches."""
    if start >= end:
        raise InputError(f"--from {start.isoformat()} is not before --to {end.isoformat()}")
    table = served_table(model)
    with job_run(ctx, job="serve_batch", actor=actor, model=model) as run:
        run.authorize(Action.SCORE, object_type="model", object_id=model)
        ctx.registry.require_model(model)
        served = (
            ctx.store.scan(SERVING_REQUESTS)
            .filter((pl.col("model") == model) & (pl.col("received_at") >= start) & (pl.col("received_at") < end))
            .collect()
            if ctx.store.exists(SERVING_REQUESTS)
            else pl.DataFrame()
        )
        if served.height == 0:
            raise InputError(f"{model} answered no request from {start.isoformat()} to {end.isoformat()}")
        served = served.with_columns((pl.col("request_id") + ":" + pl.col("row").cast(pl.String)).alias(SERVED_KEY))
        table_version = _ingest_inputs(run, model=model, table=table, served=served, window=(start, end))
        batches = []
        for answers in served.partition_by(["model_version", "role"], maintain_order=True):
            batch = _write_batch(run, model=model, table=(table, table_version), window=(start, end), answers=answers)
            batches.append(replace(batch, feature_skew=_served_skew(run, model=model, batch=batch, answers=answers)))
    return ServedWindow(model, table, table_version, start, end, tuple(batches))


def _ingest_inputs(
    run: JobRun, *, model: str, table: str, served: pl.DataFrame, window: tuple[datetime, datetime]
) -> int:
    """Append the window's input rows the table lacks; the table version its batches read them at."""
    ctx = run.ctx
    dtypes: dict[str, pl.DataType] = {}
    looked_up: dict[str, pl.DataType] = {}  # the values a version with feature tables looked up by key
    for version in served["model_version"].unique().sort().to_list():
        contract = version_contract(ctx, version_recipe(ctx, model, version), limits=Limits())
        dtypes = {**contract.dtypes, **dtypes}
        looked_up = {**_joined_dtypes(ctx, version_recipe(ctx, model, version)), **looked_up}
    rows = served.unique(SERVED_KEY, keep="first", maintain_order=True).select(
        SERVED_KEY,
        pl.col("received_at").alias(SERVED_AT),
        pl.col("inputs").str.json_decode(pl.Struct(dtypes)).alias("__sent"),
        *([pl.col("features").str.json_decode(pl.Struct(looked_up)).alias("__looked_up")] if looked_up else []),
    )
    rows = rows.unnest("__sent", *(["__looked_up"] if looked_up else []))
    if ctx.store.exists(table):
        known = ctx.store.scan(table).select(SERVED_KEY).filter(pl.col(SERVED_KEY).is_in(rows[SERVED_KEY].to_list()))
        rows = rows.join(known.collect(), on=SERVED_KEY, how="anti")
    elif table_identity(ctx.store, table) is None:
        identity = TableIdentity(table=table, key=SERVED_KEY, timestamp=SERVED_AT)
        run.append(CATALOG, catalog_frame(identity, at=run.now(), run_id=run.run_id))
    if rows.height == 0:  # the window was made into batches before: theirs
        made = (
            ctx.store.scan(BATCHES)
            .filter(
                (pl.col("model") == model)
                & (pl.col("input_table") == table)
                & (pl.col("window_start") == window[0])
                & (pl.col("window_end") == window[1])
            )
            .select(pl.col("input_version").max())
            .collect()
            .item()
        )
        return int(made) if made is not None else ctx.store.version(table)
    result = run.append(table, rows)
    run.audit(
        action=AuditAction.INGEST,
        object_type="table",
        object_id=f"{table}@{result.version}",
        details={"rows": rows.height, "mode": "append", "source": SERVING_REQUESTS},
    )
    return result.version


def _write_batch(
    run: JobRun, *, model: str, table: tuple[str, int], window: tuple[datetime, datetime], answers: pl.DataFrame
) -> ServedBatch:
    """One version's answers in the window recorded as a batch (`record_scored_batch`)."""
    name, table_version = table
    version, role = answers["model_version"][0], answers["role"][0]
    # served traffic can see one version answer as challenger, then as champion, in the same window
    batch_id = batch_identity(
        model=model,
        version=f"{version}:{role}",
        table=name,
        table_version=table_version,
        start=window[0],
        end=window[1],
    )
    record_scored_batch(
        run,
        ScoredBatch(
            batch_id=batch_id,
            model=model,
            version=version,
            role=role,
            table=name,
            table_version=table_version,
            start=window[0],
            end=window[1],
            # served rows hold what was sent and what was looked up for it: nothing is joined again
            feature_tables=(),
        ),
        keys=answers.select(pl.col(SERVED_KEY).alias("entity_key"), pl.col("received_at").alias("event_ts")),
        outputs=answers.select(*PREDICTION_SCHEMA),
        scored_at=run.now(),
        details={"served": True},
    )
    return ServedBatch(batch_id=batch_id, model_version=version, role=role, rows=answers.height)


def _joined_dtypes(ctx: Context, recipe: VersionRecipe) -> dict[str, pl.DataType]:
    """The feature columns a version's feature tables bring, with their types."""
    dtypes: dict[str, pl.DataType] = {}
    for ref in recipe.feature_tables:
        schema = ctx.store.scan(ref.table).collect_schema()
        dtypes |= {c: schema[c] for c in feature_table_definition(ctx.store, ref.table).columns}
    return dtypes


def _served_skew(run: JobRun, *, model: str, batch: ServedBatch, answers: pl.DataFrame) -> dict[str, float]:
    """Training/serving skew of a served batch: per looked-up feature, the share of rows whose served
    value differs from the value a point-in-time join of the table's current version gives at the
    request's time (a late-arriving row, or a server that had not refreshed yet). Written to
    monitoring/feature_skew once per batch."""
    ctx = run.ctx
    recipe = version_recipe(ctx, model, batch.model_version)
    if not recipe.feature_tables:
        return {}
    contract = version_contract(ctx, recipe, limits=Limits())
    at = run.now()
    found, shares = [], {}
    for ref in current_versions(ctx, recipe.feature_tables):
        definition = feature_table_definition(ctx.store, ref.table)
        schema = ctx.store.scan(ref.table, version=ref.version).collect_schema()
        columns = definition.columns
        spine = answers.select(
            pl.col("received_at").alias(SERVED_AT),
            pl.col("inputs")
            .str.json_decode(pl.Struct({definition.key: contract.dtypes[definition.key]}))
            .struct.field(definition.key),
            pl.col("features")
            .str.json_decode(pl.Struct({c: schema[c] for c in columns}))
            .struct.rename_fields([f"{c}{_SERVED}" for c in columns])
            .alias("__served"),
        ).unnest("__served")
        rows = ctx.store.read(
            ref.table, version=ref.version, columns=[definition.key, definition.timestamp, *definition.columns]
        )
        joined = as_of_join(
            spine,
            spine_time=SERVED_AT,
            tables=[FeatureRows(definition=definition, rows=rows, ttl_seconds=ref.ttl_seconds)],
        )
        for feature in columns:
            differing = int(joined.select(pl.col(feature).ne_missing(pl.col(f"{feature}{_SERVED}")).sum()).item())
            shares[feature] = differing / joined.height if joined.height else 0.0
            found.append(
                {
                    "batch_id": batch.batch_id,
                    "model": model,
                    "model_version": batch.model_version,
                    "feature_table": f"{ref.table}@{ref.version}",
                    "feature": feature,
                    "rows": joined.height,
                    "differing_rows": differing,
                    "share": shares[feature],
                    "computed_at": at,
                    "run_id": run.run_id,
                }
            )
    run.append_once(
        FEATURE_SKEW,
        pl.DataFrame(found, schema=SCHEMAS[FEATURE_SKEW]),
        present=lambda t: holds(t, pl.col("batch_id") == batch.batch_id),
    )
    return shares


_SERVED = "__served"
