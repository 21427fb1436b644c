"""Create and refill a feature table (`features/<name>`) from a raw table, checked before anything is written.

A fill reads the source at its current Delta version and appends the (key, timestamp) rows the feature
table does not hold yet: a new feature table version, with lineage source@version -> features@version,
an audit record and a row in catalog/feature_tables. A refill with nothing new writes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from governance.audit.actions import AuditAction
from governance.errors import InputError
from governance.feature_tables import FeatureTableDefinition, definition_change, parse_ttl, ttl_text
from governance.roles import Action
from lakehouse.feature_catalog import FeatureTableFill, feature_table_definition, fill_frame
from lakehouse.records import LineageEdge, TableIdentity, catalog_frame, lineage_frame, require_table_identity
from lakehouse.schemas import CATALOG, FEATURE_TABLES, LINEAGE, feature_table, raw_table
from pipelines.context import Context, job_run
from pipelines.jobs.ingest import parse_timestamps
from pipelines.ml.point_in_time import duplicated_keys


@dataclass(frozen=True)
class FillResult:
    table: str
    version: int
    rows: int  # rows this fill added
    source: str  # raw/<name>@<version>
    created: bool
    already_filled: bool = False  # the source held nothing new: nothing was written


def create_feature_table(
    ctx: Context,
    *,
    name: str,
    source: str,
    key: str,
    timestamp: str,
    columns: Sequence[str] | None,
    ttl: str | None,
    actor: str,
) -> FillResult:
    """Create feature table `name` from raw table `source`, or refill it with the source's new rows."""
    table = feature_table(name)
    source_table = raw_table(source.removeprefix("raw/"))
    with job_run(ctx, job="features", actor=actor) as run:
        run.authorize(Action.INGEST, object_type="feature_table", object_id=table)
        ttl_seconds = parse_ttl(ttl) if ttl is not None else None
        source_identity = require_table_identity(ctx.store, source_table)
        source_version = ctx.store.version(source_table)
        frame = ctx.store.read(source_table, version=source_version)
        definition = FeatureTableDefinition(
            table=table,
            source=source_table,
            key=key,
            timestamp=timestamp,
            columns=_feature_columns(frame, key=key, timestamp=timestamp, requested=columns, source=source_identity),
            ttl_seconds=ttl_seconds,
        )
        rows = _checked_rows(frame, definition)
        exists = ctx.store.exists(table)
        if exists:
            change = definition_change(feature_table_definition(ctx.store, table), definition)
            if change:
                raise InputError(change)
            rows = _new_rows(ctx, table, rows, definition)
            if rows.height == 0:
                return FillResult(
                    table=table,
                    version=ctx.store.version(table),
                    rows=0,
                    source=f"{source_table}@{source_version}",
                    created=False,
                    already_filled=True,
                )
        else:  # registered before the data lands, as ingest does: a table never exists without its identity
            run.append(
                CATALOG,
                catalog_frame(
                    TableIdentity(table=table, key=key, timestamp=timestamp), at=run.now(), run_id=run.run_id
                ),
            )
        written = run.append(table, rows)
        fill = FeatureTableFill(
            version=written.version, source_version=source_version, rows=rows.height, actor=actor, at=run.now()
        )
        run.append(FEATURE_TABLES, fill_frame(definition, fill, run_id=run.run_id))
        edge = LineageEdge(
            "table", f"{source_table}@{source_version}", "derived", "table", f"{table}@{written.version}"
        )
        run.append(LINEAGE, lineage_frame([edge], at=run.now(), run_id=run.run_id))
        run.audit(
            action=AuditAction.FILL_FEATURE_TABLE,
            object_type="feature_table",
            object_id=f"{table}@{written.version}",
            details={
                "source": f"{source_table}@{source_version}",
                "rows": rows.height,
                "created": not exists,
                "key": key,
                "timestamp": timestamp,
                "columns": list(definition.columns),
                "ttl": ttl_text(ttl_seconds),
            },
        )
    return FillResult(
        table=table,
        version=written.version,
        rows=rows.height,
        source=f"{source_table}@{source_version}",
        created=not exists,
    )


def _feature_columns(
    frame: pl.DataFrame, *, key: str, timestamp: str, requested: Sequence[str] | None, source: TableIdentity
) -> tuple[str, ...]:
    """The feature columns: `requested`, or every column of the source but the key, the timestamp and the
    source's own key and timestamp. Each must exist and be a number, boolean or text."""
    for label, column in (("key", key), ("timestamp", timestamp)):
        if column not in frame.columns:
            raise InputError(
                f"{label} column {column!r} is not in table {source.table!r} (columns: {', '.join(frame.columns)})"
            )
    if key == timestamp:
        raise InputError(f"--key and --timestamp are both {key!r}: expected two columns")
    own = {key, timestamp, source.key, source.timestamp}
    names = list(requested) if requested is not None else [c for c in frame.columns if c not in own]
    if not names:
        raise InputError(f"no feature columns: table {source.table!r} holds only the key and timestamp columns")
    for name in names:
        if not name.strip():
            raise InputError(f"--columns has an empty column name in {','.join(names)!r}: expected column names")
        if name not in frame.columns:
            raise InputError(f"column {name!r} is not in table {source.table!r} (columns: {', '.join(frame.columns)})")
        if name in (key, timestamp):
            raise InputError(f"column {name!r} is the key or the timestamp and cannot be a feature")
        dtype = frame.schema[name]
        if not (dtype.is_numeric() or dtype in (pl.Boolean, pl.String, pl.Categorical)):
            raise InputError(f"column {name!r} has type {dtype}: expected a number, boolean or text")
    if len(set(names)) != len(names):
        raise InputError(f"--columns names a column twice: {','.join(names)}")
    return tuple(names)


def _checked_rows(frame: pl.DataFrame, definition: FeatureTableDefinition) -> pl.DataFrame:
    """The feature rows (key, UTC timestamp, columns), refusing missing keys and repeated (key, timestamp)."""
    key, timestamp = definition.key, definition.timestamp
    rows = frame.select(key, timestamp, *definition.columns)
    missing = rows[key].null_count()
    if missing:
        raise InputError(f"key column {key!r} has {missing} missing values in {definition.source!r}")
    rows = parse_timestamps(rows, timestamp, timezone="UTC")
    repeated = duplicated_keys(rows, key=key, timestamp=timestamp)
    if repeated.height:
        first = repeated.row(0, named=True)
        raise InputError(
            f"table {definition.source!r} has {repeated.height} duplicate ({key}, {timestamp}) pairs, e.g. "
            f"({first[key]!r}, {first[timestamp].isoformat()}): a feature table holds one row per key and time"
        )
    return rows


def _new_rows(ctx: Context, table: str, rows: pl.DataFrame, definition: FeatureTableDefinition) -> pl.DataFrame:
    """The rows whose (key, timestamp) the table does not hold yet; a held one with other values is refused
    (a feature value, once recorded for a time, is history and does not change)."""
    on = [definition.key, definition.timestamp]
    held = ctx.store.scan(table).select(*on, *definition.columns).collect()
    rows = rows.with_columns(pl.col(c).cast(held.schema[c], strict=False) for c in on)
    both = rows.join(held, on=on, how="inner", suffix="__held")
    changed = both.filter(pl.any_horizontal(pl.col(c).ne_missing(pl.col(f"{c}__held")) for c in definition.columns))
    if changed.height:
        first = changed.row(0, named=True)
        raise InputError(
            f"feature table {table!r} already holds ({first[definition.key]!r}, "
            f"{first[definition.timestamp].isoformat()}) with other values: recorded feature values do not change"
        )
    return rows.join(held.select(on), on=on, how="anti")
