"""Which tables each role may query in the SQL console."""

from __future__ import annotations

import pytest

from governance.roles import Role
from governance.screens import SCREEN_ROLES, Screen
from governance.sql_access import TableClass, may_query, query_refusal, queryable_tables, table_class

LAKEHOUSE = (
    "catalog/tables",
    "features/loans",
    "governance/access",
    "governance/audit",
    "governance/credentials",
    "governance/promotions",
    "labels",
    "monitoring/drift",
    "monitoring/performance",
    "ops/runs",
    "predictions",
    "raw/loans",
    "scoring/batches",
    "serving/requests",
)


@pytest.mark.parametrize(
    ("table", "kind"),
    [
        ("monitoring/drift", TableClass.MONITORING),
        ("monitoring/output_drift", TableClass.MONITORING),
        ("scoring/batches", TableClass.MONITORING),
        ("ops/runs", TableClass.OPERATIONS),
        ("catalog/tables", TableClass.OPERATIONS),
        ("predictions", TableClass.PREDICTIONS),
        ("labels", TableClass.PREDICTIONS),
        ("serving/requests", TableClass.PREDICTIONS),
        ("raw/loans", TableClass.DATA),
        ("features/loans", TableClass.DATA),
        ("governance/audit", TableClass.GOVERNANCE),
        ("governance/access", TableClass.GOVERNANCE),
        ("governance/credentials", TableClass.CREDENTIALS),
        ("elsewhere/new_table", TableClass.DATA),
        ("unheard_of", TableClass.DATA),
    ],
)
def test_table_class(table: str, kind: TableClass) -> None:
    assert table_class(table) is kind


@pytest.mark.parametrize(
    ("roles", "expected"),
    [
        ({Role.AUDITOR}, tuple(t for t in LAKEHOUSE if t != "governance/credentials")),
        (
            {Role.ANALYST},
            ("catalog/tables", "monitoring/drift", "monitoring/performance", "ops/runs", "scoring/batches"),
        ),
        ({Role.MAKER}, ()),
        ({Role.REVIEWER}, ()),
        ({Role.ADMIN}, ()),
        (
            {Role.ADMIN, Role.ANALYST},
            ("catalog/tables", "monitoring/drift", "monitoring/performance", "ops/runs", "scoring/batches"),
        ),
        (set(Role), tuple(t for t in LAKEHOUSE if t != "governance/credentials")),
        (set(), ()),
    ],
)
def test_queryable_tables(roles: set[Role], expected: tuple[str, ...]) -> None:
    assert queryable_tables(roles, reversed(LAKEHOUSE)) == expected


def test_no_role_may_query_credentials() -> None:
    assert not may_query(set(Role), "governance/credentials")
    assert (
        query_refusal(set(Role), "governance/credentials")
        == "governance/credentials holds credentials: no role may query it"
    )


@pytest.mark.parametrize(
    ("roles", "table", "refusal"),
    [
        ({Role.ANALYST}, "governance/audit", "governance/audit is a governance table: querying it needs role auditor"),
        ({Role.ANALYST}, "raw/loans", "raw/loans is a data table: querying it needs role auditor"),
        ({Role.ANALYST}, "predictions", "predictions is a predictions table: querying it needs role auditor"),
        (
            {Role.MAKER},
            "monitoring/drift",
            "monitoring/drift is a monitoring table: querying it needs role analyst, auditor",
        ),
        ({Role.ANALYST}, "monitoring/drift", None),
        ({Role.AUDITOR}, "governance/audit", None),
    ],
)
def test_query_refusal_names_the_table_and_the_role_needed(roles: set[Role], table: str, refusal: str | None) -> None:
    assert query_refusal(roles, table) == refusal
    assert may_query(roles, table) is (refusal is None)


def test_the_console_opens_for_the_roles_that_may_query_some_table() -> None:
    assert SCREEN_ROLES[Screen.SQL] == {Role.AUDITOR, Role.ANALYST}
