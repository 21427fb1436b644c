"""A batch's feature-table joins where an engine computes, in parts.

An as-of join looks up, for each row of the spine on its own, the latest feature row of its key at or
before its time: rows do not depend on each other, so any part of a batch joins on its own against the
whole feature table, with the same values as the batch joined at once (`pipelines.ml.point_in_time`).
The checks that look at the batch as a whole (names, the feature table starting before the batch's last
row) run once, on the driver, from the table's schema and one aggregate.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from governance.feature_tables import FeatureTableDefinition, FeatureTableRef, check_join_names
from lakehouse.delta import DeltaStore
from lakehouse.feature_catalog import feature_table_definition
from pipelines.jobs.engines import BatchRows
from pipelines.ml.point_in_time import FeatureRows, as_of_join, check_overlap
from pipelines.reads.batches import select_window

_ROW = "__mlgov_row"


def definitions(store: DeltaStore, rows: BatchRows) -> list[FeatureTableDefinition]:
    return [feature_table_definition(store, ref.table) for ref in rows.feature_tables]


def check_join(store: DeltaStore, rows: BatchRows) -> None:
    """Refuse what `pipelines.reads.feature_tables.join_feature_tables` refuses, without reading the rows."""
    found = definitions(store, rows)
    scan = store.scan(rows.table, version=rows.version)
    check_join_names(rows.table, scan.collect_schema().names(), found, spine_time=rows.timestamp)
    assert rows.timestamp is not None  # check_join_names refuses a spine without one
    window = select_window(scan, timestamp=rows.timestamp, start=rows.start, end=rows.end)
    last = window.select(pl.col(rows.timestamp).max()).collect().item()
    for ref, definition in zip(rows.feature_tables, found, strict=True):
        first = store.scan(ref.table, version=ref.version).select(pl.col(definition.timestamp).min()).collect().item()
        check_overlap(spine_table=rows.table, spine_span=(None, last), table=ref.table, first_feature_time=first)


def spine_columns(rows: BatchRows, columns: Sequence[str], found: Sequence[FeatureTableDefinition]) -> list[str]:
    """The table's own columns a join giving `columns` reads: the spine's, each feature table's key, the time."""
    joined = {column for definition in found for column in definition.columns}
    needed = [column for column in columns if column not in joined]
    needed += [definition.key for definition in found if set(definition.columns) & set(columns)]
    return list(dict.fromkeys([*needed, *([rows.timestamp] if rows.timestamp and found else [])]))


def load_features(store: DeltaStore, ref: FeatureTableRef, definition: FeatureTableDefinition) -> FeatureRows:
    columns = [definition.key, definition.timestamp, *definition.columns]
    return FeatureRows(
        definition=definition,
        rows=store.read(ref.table, version=ref.version, columns=columns),
        ttl_seconds=ref.ttl_seconds,
    )


def join_part(spine: pl.DataFrame, *, spine_time: str, tables: Sequence[FeatureRows]) -> pl.DataFrame:
    """`spine` (any part of a batch) with the feature columns of `tables` joined, its rows in their order."""
    if not tables:
        return spine
    numbered = spine.with_row_index(_ROW)
    return as_of_join(numbered, spine_time=spine_time, tables=tables).sort(_ROW).drop(_ROW)


def needed_tables(
    rows: BatchRows, columns: Sequence[str], found: Sequence[FeatureTableDefinition]
) -> list[tuple[FeatureTableRef, FeatureTableDefinition]]:
    """The feature tables that bring one of `columns`."""
    return [
        (ref, definition)
        for ref, definition in zip(rows.feature_tables, found, strict=True)
        if set(definition.columns) & set(columns)
    ]


def read_joined(store: DeltaStore, rows: BatchRows, columns: Sequence[str]) -> pl.DataFrame:
    """`columns` of `rows`, joining only the feature tables that bring one of them, ordered as the
    in-process engine orders a joined batch (by event time)."""
    from pipelines.jobs.engines.local import read_rows

    tables = needed_tables(rows, columns, definitions(store, rows)) if rows.feature_tables else []
    if not tables:
        return read_rows(store, rows, columns)
    assert rows.timestamp is not None  # a joined batch has one: the join was checked when it was scored
    spine = read_rows(store, rows, spine_columns(rows, columns, [definition for _, definition in tables]))
    features = [load_features(store, ref, definition) for ref, definition in tables]
    return as_of_join(spine, spine_time=rows.timestamp, tables=features).select(columns)
