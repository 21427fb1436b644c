"""SQL over lakehouse tables with DuckDB, reading Delta through Arrow datasets.

DuckDB's delta extension downloads itself at run time, which is not possible offline, so each table
is registered as an Arrow dataset under a SQL-friendly name ('monitoring/drift' -> monitoring_drift).
A connection is not thread-safe: every query gets its own cursor, and sees only the tables registered
on that cursor.

The connection is locked down when it is made, before any table is registered: no file, URL or
extension is reachable from SQL (`enable_external_access = false`), Python variables are not tables
(`python_enable_replacements = false`), and `lock_configuration` keeps a query from undoing either.
Registering an Arrow dataset from Python still works; its files are read by Arrow, not by SQL.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

import duckdb
import polars as pl
import pyarrow as pa

from governance.errors import InputError, first_line
from lakehouse.delta import DeltaStore

_LOCKED_DOWN = {
    "enable_external_access": False,
    "python_enable_replacements": False,
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
}
_MISSING_TABLE = re.compile(r"Table with name (\S+) does not exist")


def sql_name(table: str) -> str:
    return table.replace("/", "_")


@dataclass(frozen=True)
class ConsoleResult:
    """The rows a console query returned, at most the row limit; `truncated` when it had more."""

    rows: pl.DataFrame
    truncated: bool
    seconds: float


class UnknownTable(InputError):
    """A query named a table that is not registered for it."""

    def __init__(self, name: str) -> None:
        super().__init__(f"query failed: no table {name} among the tables this query may read")
        self.name = name


class SqlEngine:
    def __init__(self, store: DeltaStore, *, threads: int = 2, memory_limit: str = "1GB") -> None:
        self._store = store
        config: dict[str, str | bool | int | float | list[str]] = {
            **_LOCKED_DOWN,
            "threads": threads,
            "memory_limit": memory_limit,
            "lock_configuration": True,
        }
        self._connection = duckdb.connect(":memory:", config=config)
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
            raise _translated(error) from None
        finally:
            cursor.close()

    def console(self, sql: str, *, tables: Sequence[str], row_limit: int, timeout_seconds: float) -> ConsoleResult:
        """Run one read-only statement a person typed, over `tables` only.

        Refuses (InputError) anything but a single SELECT (`WITH ... SELECT`, `FROM t`, `DESCRIBE t` and
        `SHOW TABLES` included), a query still running after `timeout_seconds`, and any query that
        reads a file or names a table not in `tables` (UnknownTable). Returns at most `row_limit` rows.
        """
        if row_limit < 1 or timeout_seconds <= 0:
            raise InputError(f"row limit {row_limit} and timeout {timeout_seconds}s must be positive")
        statement = self._single_select(sql)
        with self._lock:
            cursor = self._connection.cursor()
        # DuckDB has no per-query timeout: a watchdog interrupts the cursor when the time is up.
        watchdog = threading.Timer(timeout_seconds, cursor.interrupt)
        started = time.monotonic()
        try:
            for table in tables:
                cursor.register(sql_name(table), self._store.arrow_source(table))
            watchdog.start()
            rows = cursor.sql(statement).limit(row_limit + 1).pl()
        except duckdb.InterruptException:
            raise InputError(f"query stopped after {timeout_seconds:g}s, the console's time limit") from None
        except duckdb.Error as error:
            raise _translated(error) from None
        except (pa.ArrowException, pl.exceptions.PolarsError) as error:
            raise InputError(f"query result cannot be shown: {first_line(error)}") from None
        finally:
            watchdog.cancel()
            cursor.close()
        return ConsoleResult(
            rows=rows.head(row_limit), truncated=rows.height > row_limit, seconds=time.monotonic() - started
        )

    def _single_select(self, sql: str) -> str:
        try:
            with self._lock:
                statements = self._connection.extract_statements(sql)
        except duckdb.Error as error:
            raise _translated(error) from None
        if not statements:
            raise InputError("no query: write one SELECT statement")
        if len(statements) > 1:
            raise InputError(f"one statement at a time: found {len(statements)}")
        kind = statements[0].type
        if kind is not duckdb.StatementType.SELECT:
            raise InputError(f"only SELECT queries may run here, not {kind.name}")
        return str(statements[0].query).rstrip().rstrip(";")


def _translated(error: duckdb.Error) -> InputError:
    if isinstance(error, duckdb.PermissionException):
        return InputError("query refused: SQL here reads the lakehouse tables listed, never files, URLs or extensions")
    missing = _MISSING_TABLE.search(str(error))
    if isinstance(error, duckdb.CatalogException) and missing:
        return UnknownTable(missing.group(1))
    return InputError(f"query failed: {first_line(error)}")
