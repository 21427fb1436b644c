"""The SQL console's reads: the lakehouse tables a person may query, their query's rows, and the rows as
CSV. Which tables is decided in `governance.sql_access`; only those are registered for the query, so
any other table is not there to read."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

import polars as pl

from governance.errors import InputError, PermissionDenied, first_line
from governance.roles import Role
from governance.screens import Screen, may_open
from governance.sql_access import query_refusal, queryable_tables
from lakehouse.schemas import SCHEMAS
from lakehouse.sql import ConsoleResult, SqlEngine, UnknownTable, sql_name
from pipelines.context import Context

DEFAULT_ROW_LIMIT = 1_000
MAX_ROW_LIMIT = 10_000
TIMEOUT_SECONDS = 20.0
# Areas whose tables are named by the data they hold rather than declared in lakehouse.schemas.
_DATA_AREAS = ("raw", "features", "serving")


@dataclass(frozen=True)
class ConsoleTable:
    """A table as the console shows it: its lakehouse name, its name in SQL, and its columns."""

    table: str
    sql_name: str
    columns: tuple[str, ...]


def lakehouse_tables(ctx: Context) -> tuple[str, ...]:
    """Every table of the lakehouse: the declared ones (empty until written) and those under data areas."""
    found = {table for area in _DATA_AREAS for table in ctx.store.list_tables(area)}
    return tuple(sorted(set(SCHEMAS) | found))


def console_tables(ctx: Context, *, roles: Iterable[Role]) -> list[ConsoleTable]:
    """The tables a holder of `roles` may query, with their columns."""
    return [
        ConsoleTable(table=table, sql_name=sql_name(table), columns=tuple(_columns(ctx, table)))
        for table in queryable_tables(roles, lakehouse_tables(ctx))
    ]


def _columns(ctx: Context, table: str) -> list[str]:
    if table in SCHEMAS:
        return list(SCHEMAS[table])
    return list(ctx.store.scan(table).collect_schema())


def run_console_query(
    ctx: Context,
    sql: str,
    *,
    roles: Iterable[Role],
    row_limit: int = DEFAULT_ROW_LIMIT,
    timeout_seconds: float = TIMEOUT_SECONDS,
) -> ConsoleResult:
    """Run one SELECT a person typed over the tables their roles may query.

    Refuses roles that may not open the console, a row limit outside 1..MAX_ROW_LIMIT, any statement
    but a SELECT, files, and tables outside the roles' reach (naming why the role may not query one).
    """
    held = frozenset(roles)
    if not may_open(held, Screen.SQL):
        names = ", ".join(sorted(r.value for r in held)) or "no role"
        raise PermissionDenied(f"{names} may not query the lakehouse: needs role auditor or analyst")
    if not 1 <= row_limit <= MAX_ROW_LIMIT:
        raise InputError(f"row limit {row_limit} is not valid: expected 1 to {MAX_ROW_LIMIT:,}")
    every = lakehouse_tables(ctx)
    engine = ctx.remember(("sql-engine",), lambda: SqlEngine(ctx.store))
    try:
        return engine.console(
            sql, tables=queryable_tables(held, every), row_limit=row_limit, timeout_seconds=timeout_seconds
        )
    except UnknownTable as error:
        named = next((t for t in every if sql_name(t) == error.name.strip('"').lower()), None)
        reason = query_refusal(held, named) if named is not None else None
        if reason is not None:
            raise PermissionDenied(f"query refused: {reason}") from None
        raise


def as_csv(rows: pl.DataFrame) -> bytes:
    """`rows` as CSV, nested values (lists, structs) written as JSON."""
    nested = [name for name, dtype in rows.schema.items() if dtype.is_nested()]
    flat = rows.with_columns(
        pl.Series(name, [None if v is None else json.dumps(v, default=str) for v in rows[name].to_list()], pl.String)
        for name in nested
    )
    try:
        return flat.write_csv().encode()
    except pl.exceptions.PolarsError as error:
        raise InputError(f"the rows cannot be written as CSV: {first_line(error)}") from None
