"""Which lakehouse tables each role may query in the SQL console.

Tables are classed by what they hold; a role may query a class or not. The console registers only the
tables this decides, so a query that names any other table finds no such table. Credentials are never
queryable, whoever asks.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum

from governance.roles import Role


class TableClass(StrEnum):
    MONITORING = "monitoring"  # per-batch drift, quality and performance, and the batches scored
    OPERATIONS = "operations"  # job runs and the table catalog: what ran, when, what it cost
    PREDICTIONS = "predictions"  # predictions and labels: one row per scored entity
    DATA = "data"  # ingested data and features: the business's own records
    GOVERNANCE = "governance"  # audit trail, promotions, lineage, access grants, policies
    CREDENTIALS = "credentials"  # password hashes: no one queries them


_CREDENTIAL_TABLES = frozenset({"governance/credentials"})
_EXACT: Mapping[str, TableClass] = {
    "scoring/batches": TableClass.MONITORING,
    "predictions": TableClass.PREDICTIONS,
    "labels": TableClass.PREDICTIONS,
}
_BY_PREFIX: Mapping[str, TableClass] = {
    "monitoring": TableClass.MONITORING,
    "ops": TableClass.OPERATIONS,
    "catalog": TableClass.OPERATIONS,
    "serving": TableClass.PREDICTIONS,
    "raw": TableClass.DATA,
    "features": TableClass.DATA,
    "governance": TableClass.GOVERNANCE,
}

# Auditors read everything (but credentials); analysts read the monitoring record and what the jobs cost,
# not the business's records or the governance trail. The other roles have no console.
QUERY_CLASSES: Mapping[Role, frozenset[TableClass]] = {
    Role.AUDITOR: frozenset(TableClass) - {TableClass.CREDENTIALS},
    Role.ANALYST: frozenset({TableClass.MONITORING, TableClass.OPERATIONS}),
    Role.MAKER: frozenset(),
    Role.REVIEWER: frozenset(),
    Role.ADMIN: frozenset(),
}


def table_class(table: str) -> TableClass:
    """The class of lakehouse table `table` (e.g. 'monitoring/drift'); a table of an unknown area is
    data, queryable only by those who read everything."""
    if table in _CREDENTIAL_TABLES:
        return TableClass.CREDENTIALS
    if table in _EXACT:
        return _EXACT[table]
    area = table.split("/", 1)[0]
    return _BY_PREFIX.get(area, TableClass.DATA)


def may_query(roles: Iterable[Role], table: str) -> bool:
    kind = table_class(table)
    return any(kind in QUERY_CLASSES[role] for role in roles)


def queryable_tables(roles: Iterable[Role], tables: Iterable[str]) -> tuple[str, ...]:
    """The tables among `tables` that a holder of `roles` may query, sorted."""
    held = frozenset(roles)
    return tuple(sorted(t for t in set(tables) if may_query(held, t)))


def query_refusal(roles: Iterable[Role], table: str) -> str | None:
    """Why a holder of `roles` may not query `table`, or None when they may."""
    held = frozenset(roles)
    if may_query(held, table):
        return None
    kind = table_class(table)
    if kind is TableClass.CREDENTIALS:
        return f"{table} holds credentials: no role may query it"
    needed = ", ".join(sorted(r.value for r, classes in QUERY_CLASSES.items() if kind in classes))
    return f"{table} is a {kind.value} table: querying it needs role {needed}"
