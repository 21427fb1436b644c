"""Spark reads every lakehouse table, as the README says: a Delta snapshot's files with
`spark.read.parquet(*DeltaTable(t).file_uris())` (`basePath` for the partitioned ones), and gets the
Delta table's contents. Every table stays at a Delta protocol Databricks (and plain Parquet readers
of a snapshot) can read."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
from deltalake import DeltaTable

from tests.conftest import Seeded

# What a reader of the snapshot's Parquet files needs: no feature that changes what the files mean
# (deletion vectors hide rows, column mapping renames columns). Databricks reads every protocol up to
# reader 3 / writer 7.
MAX_READER, MAX_WRITER = 3, 7
FILE_CHANGING_FEATURES = {"deletionVectors", "columnMapping"}


def _tables(root: Path) -> list[Path]:
    return sorted(log.parent for log in root.rglob("_delta_log"))


def test_every_table_keeps_a_protocol_databricks_reads(seeded_template: Seeded) -> None:
    tables = _tables(seeded_template.home / "lakehouse")
    assert len(tables) >= 10
    for table in tables:
        protocol = DeltaTable(str(table)).protocol()
        assert protocol.min_reader_version <= MAX_READER, table
        assert protocol.min_writer_version <= MAX_WRITER, table
        features = {*(protocol.reader_features or ()), *(protocol.writer_features or ())}
        assert not features & FILE_CHANGING_FEATURES, (table, features)


@pytest.fixture(scope="module")
def spark() -> Iterator[object]:
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[1]")
        .appName("mlgov-spark-read")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", "1")
        .getOrCreate()
    )
    yield session
    session.stop()


def _sorted(frame: pl.DataFrame) -> pl.DataFrame:
    flat = [name for name, dtype in frame.schema.items() if not dtype.is_nested()]
    return frame.sort(flat, nulls_last=True)


@pytest.mark.slow
def test_spark_reads_every_table_as_delta_has_it(seeded_template: Seeded, spark: object) -> None:
    read_any = 0
    for table in _tables(seeded_template.home / "lakehouse"):
        delta = DeltaTable(str(table))
        uris = delta.file_uris()
        if not uris:
            continue  # a table with no rows yet has no file for Spark to read
        reader = spark.read  # type: ignore[attr-defined]
        if delta.metadata().partition_columns:
            reader = reader.option("basePath", str(table))  # without it, partition columns vanish
        got = pl.from_arrow(reader.parquet(*uris).toArrow())
        expected = pl.from_arrow(delta.to_pyarrow_table())
        assert isinstance(got, pl.DataFrame)
        assert isinstance(expected, pl.DataFrame)
        assert sorted(got.columns) == sorted(expected.columns), table
        got = got.select(expected.columns).cast(expected.schema)  # type: ignore[arg-type]
        assert _sorted(got).equals(_sorted(expected)), table
        read_any += 1
    assert read_any >= 10
