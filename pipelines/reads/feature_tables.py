"""Feature tables read back: their definitions, versions and freshness, the models that use them, and
the point-in-time joins that training, scoring and monitoring build their rows with.

A spine (the rows a model trains on or scores) joins each feature table as of its own rows' event
time (`pipelines.ml.point_in_time`). A model version records the feature tables it was trained with,
pinned at their versions with their TTLs; a scored batch records the versions it joined, so every
read of its rows later (drift, quality, estimates) sees the values it was scored with.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import polars as pl

from governance.errors import InputError
from governance.feature_tables import (
    FeatureTableDefinition,
    FeatureTableRef,
    check_join_names,
    freshness,
    ttl_text,
)
from governance.versions import VersionRecipe
from lakehouse.feature_catalog import feature_table_definition, feature_table_fills
from lakehouse.records import registered_versions, require_table_identity
from lakehouse.schemas import FEATURE_SKEW, feature_table
from pipelines.context import Context
from pipelines.ml.point_in_time import FeatureRows, as_of_join, check_overlap, latest_values


def feature_table_names(text: str | None) -> list[str] | None:
    """The feature tables `--feature-tables a,b` names (as features/<name>); None when not given."""
    if text is None:
        return None
    names = [name.strip() for name in text.split(",")]
    if not all(names):
        raise InputError(
            f"--feature-tables has an empty name in {text!r}: expected comma-separated feature table names"
        )
    return [feature_table(name.removeprefix("features/")) for name in names]


def pin_feature_tables(ctx: Context, tables: Sequence[str]) -> tuple[FeatureTableRef, ...]:
    """Each feature table at its current version, with its TTL: what a new version is trained with."""
    refs = []
    for table in tables:
        definition = feature_table_definition(ctx.store, table)
        refs.append(FeatureTableRef(table=table, version=ctx.store.version(table), ttl_seconds=definition.ttl_seconds))
    return tuple(refs)


def spine_excluded(ctx: Context, refs: Sequence[FeatureTableRef]) -> list[str]:
    """The spine's join keys: identifiers of the entities the features describe, not features themselves."""
    return [feature_table_definition(ctx.store, ref.table).key for ref in refs]


def joined_columns(ctx: Context, refs: Sequence[FeatureTableRef]) -> list[str]:
    """The feature columns the tables in `refs` bring to a spine."""
    return [column for ref in refs for column in feature_table_definition(ctx.store, ref.table).columns]


def current_versions(ctx: Context, refs: Sequence[FeatureTableRef]) -> tuple[FeatureTableRef, ...]:
    """The same tables with the same TTLs, at their current versions: what a batch is scored with."""
    return tuple(
        FeatureTableRef(table=ref.table, version=ctx.store.version(ref.table), ttl_seconds=ref.ttl_seconds)
        for ref in refs
    )


def join_feature_tables(
    ctx: Context, spine: pl.DataFrame, *, spine_table: str, spine_time: str | None, refs: Sequence[FeatureTableRef]
) -> pl.DataFrame:
    """`spine` with the feature columns of every table in `refs` joined as of each row's `spine_time`
    (checked first: names, keys, overlap in time)."""
    if not refs:
        return spine
    definitions = [feature_table_definition(ctx.store, ref.table) for ref in refs]
    check_join_names(spine_table, spine.columns, definitions, spine_time=spine_time)
    assert spine_time is not None  # check_join_names refuses a spine without one
    span = (spine[spine_time].min(), spine[spine_time].max()) if spine.height else (None, None)
    rows = []
    for ref, definition in zip(refs, definitions, strict=True):
        columns = [definition.key, definition.timestamp, *definition.columns]
        loaded = ctx.store.read(ref.table, version=ref.version, columns=columns)
        first = loaded[definition.timestamp].min() if loaded.height else None
        check_overlap(spine_table=spine_table, spine_span=span, table=ref.table, first_feature_time=first)
        rows.append(FeatureRows(definition=definition, rows=loaded, ttl_seconds=ref.ttl_seconds))
    return as_of_join(spine, spine_time=spine_time, tables=rows)


def training_frame(ctx: Context, recipe: VersionRecipe, *, columns: Sequence[str] | None = None) -> pl.DataFrame:
    """The rows a version was trained on: its table at the trained version, with its feature tables
    joined as they were (`columns` of them, or all)."""
    if not recipe.feature_tables:
        return ctx.store.read(recipe.table, version=recipe.table_version, columns=columns)
    identity = require_table_identity(ctx.store, recipe.table)
    spine = ctx.store.read(recipe.table, version=recipe.table_version)
    joined = join_feature_tables(
        ctx, spine, spine_table=recipe.table, spine_time=identity.timestamp, refs=recipe.feature_tables
    )
    return joined.select(columns) if columns is not None else joined


def reference_id(recipe: VersionRecipe) -> str:
    """The training data a version's drift and evidence name: its table and feature tables, pinned."""
    joined = "".join(f"+{ref.table}@{ref.version}" for ref in recipe.feature_tables)
    return f"{recipe.table}@{recipe.table_version}{joined}"


@dataclass(frozen=True)
class FeatureTableSummary:
    table: str
    definition: FeatureTableDefinition
    version: int
    rows: int
    keys: int
    newest: datetime | None
    freshness: str
    age_seconds: float | None
    cadence_seconds: float | None
    fills: int
    models: tuple[str, ...]  # "model/version" of every version trained with it


def _cadence(frame: pl.DataFrame, *, key: str, timestamp: str) -> float | None:
    """The table's usual cadence: the median interval between consecutive rows of the same key, in
    seconds (None when no key has two rows). Per key, so a table of many keys updated at scattered
    times is not judged by the tiny gaps between different keys' rows."""
    gaps = (
        frame.lazy()
        .sort(key, timestamp)
        .select(pl.col(timestamp).diff().over(key).dt.total_seconds().alias("gap"))
        .drop_nulls()
        .select(pl.col("gap").median())
        .collect()
        .item()
    )
    return float(gaps) if gaps is not None else None


def _users(ctx: Context) -> dict[str, list[str]]:
    users: dict[str, list[str]] = {}
    for (model, version), registered in sorted(registered_versions(ctx.ledger).items()):
        for ref in registered.recipe.feature_tables:
            users.setdefault(ref.table, []).append(f"{model}/{version}")
    return users


def feature_table_summaries(ctx: Context) -> list[FeatureTableSummary]:
    """Every feature table: definition, version, rows, freshness and the model versions using it."""
    users = _users(ctx)
    now = ctx.clock()
    summaries = []
    for table, (definition, fills) in sorted(feature_table_fills(ctx.store).items()):
        frame = ctx.store.read(table, columns=[definition.key, definition.timestamp])
        times = frame[definition.timestamp]
        newest = times.max() if frame.height else None
        cadence = _cadence(frame, key=definition.key, timestamp=definition.timestamp)
        verdict = freshness(newest=newest, cadence_seconds=cadence, now=now)  # type: ignore[arg-type]
        summaries.append(
            FeatureTableSummary(
                table=table,
                definition=definition,
                version=ctx.store.version(table),
                rows=frame.height,
                keys=frame[definition.key].n_unique(),
                newest=newest,  # type: ignore[arg-type]
                freshness=verdict.state.value,
                age_seconds=verdict.age_seconds,
                cadence_seconds=verdict.cadence_seconds,
                fills=len(fills),
                models=tuple(users.get(table, ())),
            )
        )
    return summaries


def summary_document(summary: FeatureTableSummary) -> dict[str, Any]:
    definition = summary.definition
    return {
        "table": summary.table,
        "name": summary.table.removeprefix("features/"),
        "source": definition.source,
        "key": definition.key,
        "timestamp": definition.timestamp,
        "columns": list(definition.columns),
        "ttl": ttl_text(definition.ttl_seconds) if definition.ttl_seconds is not None else None,
        "ttl_seconds": definition.ttl_seconds,
        "version": summary.version,
        "rows": summary.rows,
        "keys": summary.keys,
        "newest": summary.newest.isoformat() if summary.newest else None,
        "freshness": summary.freshness,
        "age_seconds": summary.age_seconds,
        "cadence_seconds": summary.cadence_seconds,
        "models": list(summary.models),
    }


def feature_table_document(ctx: Context, *, name: str) -> dict[str, Any]:
    """One feature table: its summary, every fill (source version -> table version) and its lineage."""
    table = feature_table(name.removeprefix("features/"))
    feature_table_definition(ctx.store, table)  # NotFoundError naming it
    summary = next(s for s in feature_table_summaries(ctx) if s.table == table)
    _, fills = feature_table_fills(ctx.store)[table]
    return summary_document(summary) | {
        "versions": [
            {
                "version": fill.version,
                "source": f"{summary.definition.source}@{fill.source_version}",
                "rows_added": fill.rows,
                "actor": fill.actor,
                "at": fill.at.isoformat(),
            }
            for fill in fills
        ],
    }


@dataclass(frozen=True)
class LookedUp:
    """Features looked up for request rows: one row per request row (the feature columns of every
    table), the table versions they came from, and the rows whose key a table does not hold."""

    features: pl.DataFrame
    versions: Mapping[str, int]  # features/<name> -> the version the values were read at
    unknown: tuple[tuple[int, str, object], ...]  # (row, table, key value) of keys a table never held


class FeatureLookup:
    """The latest feature values by key, kept in memory for real-time serving, refreshed when a
    feature table gets a new version.

    Built from a version's recipe (`FeatureLookup(ctx, recipe.feature_tables)`); `lookup(keys, at=)`
    returns one row per key with each table's newest values, null where its newest value is older than
    the table's TTL at `at` (as Feast serves an expired value, and as the training join leaves it), and
    names the keys a table does not hold. `refresh()` reloads a table only when its version moved: a
    server calls it on its refresh interval, never on the request path. Thread-safe."""

    def __init__(self, ctx: Context, refs: Sequence[FeatureTableRef]) -> None:
        self._ctx = ctx
        self._refs = tuple(refs)
        self._lock = threading.Lock()
        self._loaded: dict[str, tuple[int, FeatureTableDefinition, pl.DataFrame]] = {}

    @property
    def keys(self) -> tuple[str, ...]:
        """The key columns a request row must carry, one per distinct key of the tables."""
        if len(self._loaded) < len(self._refs):
            self.refresh()
        return tuple(dict.fromkeys(self._loaded[ref.table][1].key for ref in self._refs))

    def refresh(self) -> bool:
        """Reload the tables that have a new version since they were last loaded; whether any did."""
        changed = False
        for ref in self._refs:
            current = self._ctx.store.version(ref.table)
            held = self._loaded.get(ref.table)
            if held is not None and held[0] == current:
                continue
            definition = feature_table_definition(self._ctx.store, ref.table)
            latest = (
                latest_values(self._ctx.store.scan(ref.table, version=current), definition=definition)
                .sort(definition.key)
                .collect()
            )
            with self._lock:  # swapped whole: a request reads one version of each table or the next
                self._loaded[ref.table] = (current, definition, latest)
            changed = True
        return changed

    def features(self, keys: Mapping[str, Sequence[object]], *, at: datetime) -> pl.DataFrame:
        """The feature columns of `lookup` (unknown keys give nulls)."""
        return self.lookup(keys, at=at).features

    def lookup(self, keys: Mapping[str, Sequence[object]], *, at: datetime) -> LookedUp:
        """For rows identified by `keys` (each feature table's key column -> one value per row), their
        features as of `at` from the latest values (columns: the feature columns of every table)."""
        with self._lock:
            loaded = dict(self._loaded)
        if len(loaded) < len(self._refs):
            self.refresh()
            with self._lock:
                loaded = dict(self._loaded)
        unknown: list[tuple[int, str, object]] = []
        versions, parts = {}, []
        for ref in self._refs:
            version, definition, latest = loaded[ref.table]
            versions[ref.table] = version
            if definition.key not in keys:
                raise InputError(f"no value for {definition.key!r}, the key of feature table {ref.table!r}")
            sent = pl.Series(definition.key, list(keys[definition.key]))
            held = latest[definition.key]
            wanted = sent.cast(held.dtype, strict=False)  # a key of another type matches nothing
            # the latest values are sorted by key: a binary search per row, never a pass over the table
            at_row = held.search_sorted(wanted).clip(upper_bound=max(held.len() - 1, 0))
            rows = latest[at_row] if held.len() else latest.clear(n=sent.len())
            hit = (rows[definition.key] == wanted).fill_null(False)
            valid = hit
            if ref.ttl_seconds is not None:  # expired: served as missing, as the training join leaves it
                valid = valid & (rows[definition.timestamp] >= at - timedelta(seconds=ref.ttl_seconds))
            parts.append(rows.select(pl.when(valid).then(pl.col(c)).alias(c) for c in definition.columns))
            unknown.extend((row, ref.table, sent[row]) for row in (~hit).arg_true().to_list())
        features = pl.concat(parts, how="horizontal") if parts else pl.DataFrame()
        return LookedUp(features=features, versions=versions, unknown=tuple(sorted(unknown, key=lambda u: u[0])))


def feature_skew(ctx: Context, *, table: str) -> pl.DataFrame:
    """Training/serving skew measured per scored batch for the features of `table` (any version), newest first."""
    return (
        ctx.store.scan(FEATURE_SKEW)
        .filter(pl.col("feature_table").str.starts_with(f"{table}@"))
        .select("computed_at", "model", "model_version", "batch_id", "feature_table", "feature", "rows", "share")
        .sort("computed_at", "feature", descending=[True, False])
        .collect()
    )


def duration_text(seconds: float | None) -> str:
    """A duration in its largest unit and the next one ("3d 4h", "12h", "45m 10s"); "-" when unknown."""
    if seconds is None:
        return "-"
    whole = int(seconds)
    units = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))
    for index, (unit, size) in enumerate(units):
        if whole >= size or unit == "s":
            text = f"{whole // size}{unit}"
            if index + 1 < len(units):
                next_unit, next_size = units[index + 1]
                if whole % size >= next_size:
                    text += f" {whole % size // next_size}{next_unit}"
            return text
    return "-"  # pragma: no cover - the loop returns at "s" at the latest
