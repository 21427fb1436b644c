"""Feature tables' definitions and fills, to and from `catalog/feature_tables`.

The definition (source, key, timestamp, columns, TTL) lives in its own append-only table rather than in
the feature table's Delta metadata: `features list` reads every table's definition in one scan, the SQL
console and other engines query it like any table, and each fill leaves a row (which source version
made which feature table version, who ran it) next to the definition it followed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

import polars as pl

from governance.errors import NotFoundError
from governance.feature_tables import FeatureTableDefinition
from lakehouse.delta import DeltaStore
from lakehouse.schemas import FEATURE_TABLES, SCHEMAS


@dataclass(frozen=True)
class FeatureTableFill:
    """One `features create` that wrote rows: the feature table version it made from which source version."""

    version: int
    source_version: int
    rows: int
    actor: str
    at: datetime


def fill_frame(definition: FeatureTableDefinition, fill: FeatureTableFill, *, run_id: str) -> pl.DataFrame:
    row = {
        "table": definition.table,
        "version": fill.version,
        "source": definition.source,
        "source_version": fill.source_version,
        "key": definition.key,
        "timestamp": definition.timestamp,
        "columns": json.dumps(list(definition.columns), ensure_ascii=False),
        "ttl_seconds": definition.ttl_seconds,
        "rows": fill.rows,
        "actor": fill.actor,
        "at": fill.at,
        "run_id": run_id,
    }
    return pl.DataFrame([row], schema=SCHEMAS[FEATURE_TABLES])


def feature_table_fills(store: DeltaStore) -> dict[str, tuple[FeatureTableDefinition, list[FeatureTableFill]]]:
    """Every feature table's definition (as its latest fill recorded it) and its fills, oldest first."""
    rows = store.scan(FEATURE_TABLES).sort("at", "version").collect()
    found: dict[str, tuple[FeatureTableDefinition, list[FeatureTableFill]]] = {}
    for row in rows.iter_rows(named=True):
        definition = FeatureTableDefinition(
            table=row["table"],
            source=row["source"],
            key=row["key"],
            timestamp=row["timestamp"],
            columns=tuple(json.loads(row["columns"])),
            ttl_seconds=row["ttl_seconds"],
        )
        fills = found[row["table"]][1] if row["table"] in found else []
        fills.append(
            FeatureTableFill(
                version=row["version"],
                source_version=row["source_version"],
                rows=row["rows"],
                actor=row["actor"],
                at=row["at"],
            )
        )
        found[row["table"]] = (definition, fills)
    return found


def feature_table_definition(store: DeltaStore, table: str) -> FeatureTableDefinition:
    """The definition of feature table `table` (features/<name>), or NotFoundError naming it."""
    rows = store.scan(FEATURE_TABLES).filter(pl.col("table") == table).sort("at", "version").collect()
    if rows.height == 0:
        raise NotFoundError(
            f"feature table {table!r} does not exist (create it: mlgov features create "
            f"{table.removeprefix('features/')} --from TABLE --key COL --timestamp COL)"
        )
    row = rows.row(-1, named=True)
    return FeatureTableDefinition(
        table=table,
        source=row["source"],
        key=row["key"],
        timestamp=row["timestamp"],
        columns=tuple(json.loads(row["columns"])),
        ttl_seconds=row["ttl_seconds"],
    )
