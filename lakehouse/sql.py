"""SQL over lakehouse tables with DuckDB, reading Delta through Arrow datasets.

DuckDB's delta extension downloads itself at run time, which is not possible offline, so each table
is registered as an Arrow dataset under a SQL-friendly name ('monitoring/drift' -> monitoring_drift).
A connection is not thread-safe: every query gets its own cursor.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import duckdb
import polars as pl

from governance.errors import InputError
from lakehouse.delta import DeltaStore


def sql_name(table: str) -> str:
    return table.replace("/", "_")


class SqlEngine:
    def __init__(self, store: DeltaStore) -> None:
        self._store = store
        self._connection = duckdb.connect(":memory:")
        self._lock = threading.Lock()

    def query(self, sql: str, *, tables: Sequence[str], params: Sequence[object] = ()) -> pl.DataFrame:
        """Run `sql` with each of `tables` visible under its SQL name; returns a polars frame."""
        with self._lock:
            cursor = self._connection.cursor()
        try:
            for table in tables:
                cursor.register(sql_name(table), self._store.arrow_source(table))
            return cursor.sql(sql, params=list(params)).pl()
        except duckdb.Error as error:
            raise InputError(f"query failed: {str(error).splitlines()[0]}") from None
        finally:
            cursor.close()
