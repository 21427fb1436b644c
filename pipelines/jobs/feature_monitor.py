"""Drift and data quality per feature table, as monitoring does per model: each version's new rows (what
its fill appended) against the table's reference, with the same drift engine and quality checks.

The reference is the table as the first model trained with it saw it (its pinned version), or the
table's first version while no model uses it: what "normal" looked like when the features were
trusted. Versions are computed once (the reference they were judged against is recorded with them);
`mlgov features monitor` computes the versions still missing, then reports every one.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from itertools import pairwise

import polars as pl

from governance.audit.actions import AuditAction
from governance.feature_tables import FeatureTableDefinition
from governance.features import FeatureSpec
from governance.quality import QualityLimits
from governance.roles import Action
from lakehouse.feature_catalog import feature_table_definition, feature_table_fills
from lakehouse.records import registered_versions
from lakehouse.schemas import FEATURE_TABLE_DRIFT, FEATURE_TABLE_QUALITY, SCHEMAS, feature_table
from pipelines.context import Context, JobRun, job_run
from pipelines.ml.drift import ReferenceProfile, profile_drift, profile_reference
from pipelines.ml.quality import batch_quality, reference_chunk_stats
from pipelines.reads.feature_health import VersionHealth, feature_table_health

SYSTEM_ACTOR = "mlgov-monitor"


@dataclass(frozen=True)
class FeatureTableReference:
    table: str
    version: int
    origin: str  # why this version: the first model trained with it, or the table's first version

    @property
    def name(self) -> str:
        return f"{self.table}@{self.version}"


@dataclass(frozen=True)
class FeatureTableHealth:
    table: str
    reference: FeatureTableReference
    computed_versions: int  # versions this run computed
    versions: tuple[VersionHealth, ...]  # every version after the reference, oldest first


def feature_spec(definition: FeatureTableDefinition, schema: pl.Schema) -> FeatureSpec:
    """The feature columns as drift sees them: numbers numerical, booleans and text categorical."""
    numeric = tuple(c for c in definition.columns if schema[c].is_numeric())
    return FeatureSpec(numeric=numeric, categorical=tuple(c for c in definition.columns if c not in numeric))


def reference_of(ctx: Context, table: str) -> FeatureTableReference:
    """The version drift is measured against: the one the first registered model version was trained
    with, else the table's first version."""
    registered = sorted(registered_versions(ctx.ledger).values(), key=lambda r: r.at)
    for version in registered:
        for ref in version.recipe.feature_tables:
            if ref.table == table:
                return FeatureTableReference(
                    table, ref.version, f"the version {version.model}/{version.version} was trained with"
                )
    _, fills = feature_table_fills(ctx.store)[table]
    return FeatureTableReference(table, fills[0].version, "the table's first version (no model trained with it yet)")


def monitor_feature_table(ctx: Context, *, name: str, actor: str | None = None) -> FeatureTableHealth:
    """Compute drift and quality for the versions of feature table `name` that lack them, then report
    every version after the reference."""
    table = feature_table(name.removeprefix("features/"))
    definition = feature_table_definition(ctx.store, table)  # NotFoundError naming it
    with job_run(ctx, job="feature_monitor", actor=actor or SYSTEM_ACTOR) as run:
        if actor is not None:
            run.authorize(Action.MONITOR, object_type="feature_table", object_id=table)
        reference = reference_of(ctx, table)
        _, fills = feature_table_fills(ctx.store)[table]
        versions = [fill.version for fill in fills if fill.version > reference.version]
        done = set(
            ctx.store.scan(FEATURE_TABLE_DRIFT)
            .filter(pl.col("feature_table") == table)
            .select("version")
            .unique()
            .collect()["version"]
            .to_list()
        )
        previous = {fill.version: prior.version for prior, fill in pairwise(fills)}
        todo = [version for version in versions if version not in done]
        for version in todo:
            _compute_version(run, definition, reference, version=version, previous=previous[version])
        if todo:
            run.audit(
                action=AuditAction.MONITOR,
                object_type="feature_table",
                object_id=table,
                details={"versions": todo, "reference": reference.name},
            )
    return FeatureTableHealth(
        table=table, reference=reference, computed_versions=len(todo), versions=feature_table_health(ctx, table)
    )


def _compute_version(
    run: JobRun, definition: FeatureTableDefinition, reference: FeatureTableReference, *, version: int, previous: int
) -> None:
    ctx = run.ctx
    table, key, timestamp = definition.table, definition.key, definition.timestamp
    columns = [key, timestamp, *definition.columns]
    baseline, spec, profile, limits = ctx.remember(
        ("feature_table_reference", reference.name), partial(_reference, ctx, definition, reference)
    )
    held = ctx.store.scan(table, version=previous).select(key, timestamp)
    new = ctx.store.scan(table, version=version).select(columns).join(held, on=[key, timestamp], how="anti").collect()
    reference_id = f"{reference.name}#{profile.id}"
    stamp = {"computed_at": run.now(), "run_id": run.run_id}
    drift_rows = [
        {
            "feature_table": table,
            "version": version,
            "feature": drift.feature,
            "method": drift.method,
            "statistic": drift.statistic,
            "threshold": drift.threshold,
            "drifted": drift.drifted,
            "reference_id": reference_id,
            "reference_rows": profile.rows,
            "current_rows": new.height,
            **stamp,
        }
        for drift in profile_drift(profile, new)
    ]
    # a feature table repeats a key over time: its identity, and so its duplicates, is (key, timestamp)
    pair = f"({key}, {timestamp})"
    quality = batch_quality(
        baseline,
        new.with_columns(pl.struct(key, timestamp).alias(pair)),
        spec=spec,
        key=pair,
        thresholds=limits,
    )
    quality_rows = [
        {
            "feature_table": table,
            "version": version,
            "check": result.check.value,
            "column": result.column,
            "value": result.value,
            "threshold": result.threshold,
            "passed": result.passed,
            "threshold_origin": result.origin,
            "reference_id": reference_id,
            "current_rows": new.height,
            **stamp,
        }
        for result in quality
    ]
    # quality first: a version counts as computed once its drift rows are in
    run.append(FEATURE_TABLE_QUALITY, pl.DataFrame(quality_rows, schema=SCHEMAS[FEATURE_TABLE_QUALITY]))
    if not drift_rows:  # no column could be tested (all empty): still mark the version as computed
        drift_rows = [{"feature_table": table, "version": version, "current_rows": new.height, **stamp}]
    run.append(FEATURE_TABLE_DRIFT, pl.DataFrame(drift_rows, schema=SCHEMAS[FEATURE_TABLE_DRIFT]))


def _reference(
    ctx: Context, definition: FeatureTableDefinition, reference: FeatureTableReference
) -> tuple[pl.DataFrame, FeatureSpec, ReferenceProfile, QualityLimits]:
    frame = ctx.store.read(
        definition.table, version=reference.version, columns=[definition.key, definition.timestamp, *definition.columns]
    )
    spec = feature_spec(definition, frame.schema)
    derived = reference_chunk_stats(frame, spec=spec, time_column=definition.timestamp)
    return frame, spec, profile_reference(frame, spec), QualityLimits(derived=derived)
