"""The SQL console's reads: who may run a query, over which tables, and the rows as CSV."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import polars as pl
import pytest

from governance.errors import InputError, PermissionDenied
from governance.roles import Role
from pipelines.reads.sql import MAX_ROW_LIMIT, as_csv, console_tables, run_console_query
from tests.conftest import context_for


@pytest.mark.parametrize("role", [Role.MAKER, Role.REVIEWER, Role.ADMIN])
def test_roles_without_the_console_may_not_run_a_query(empty_home: Path, role: Role) -> None:
    with pytest.raises(
        PermissionDenied, match=f"^{role.value} may not query the lakehouse: needs role auditor or analyst"
    ):
        run_console_query(context_for(empty_home), "SELECT 1", roles={role})


@pytest.mark.parametrize("row_limit", [0, MAX_ROW_LIMIT + 1])
def test_a_row_limit_out_of_range_is_refused(empty_home: Path, row_limit: int) -> None:
    with pytest.raises(InputError, match=f"row limit {row_limit} is not valid: expected 1 to 10,000"):
        run_console_query(context_for(empty_home), "SELECT 1", roles={Role.AUDITOR}, row_limit=row_limit)


def test_a_table_beyond_the_role_is_refused_with_its_reason(empty_home: Path) -> None:
    ctx = context_for(empty_home)
    counted = run_console_query(ctx, "SELECT count(*) AS n FROM ops_runs", roles={Role.ANALYST}).rows["n"].item()
    assert counted == ctx.store.read("ops/runs").height > 0
    with pytest.raises(PermissionDenied) as refused:
        run_console_query(ctx, "SELECT * FROM GOVERNANCE_ACCESS", roles={Role.ANALYST})
    assert (
        str(refused.value) == "query refused: governance/access is a governance table: querying it needs role auditor"
    )


def test_auditors_see_every_table_but_credentials(empty_home: Path) -> None:
    names = [t.table for t in console_tables(context_for(empty_home), roles={Role.AUDITOR})]
    assert "governance/audit" in names
    assert "governance/credentials" not in names
    with pytest.raises(PermissionDenied, match="governance/credentials holds credentials: no role may query it"):
        run_console_query(context_for(empty_home), "SELECT * FROM governance_credentials", roles={Role.AUDITOR})


def test_csv_writes_nested_values_as_json() -> None:
    rows = pl.DataFrame({"batch": ["b1", "b2"], "probabilities": [[0.25, 0.75], None], "meta": [{"k": 1}, {"k": 2}]})
    parsed = list(csv.DictReader(io.StringIO(as_csv(rows).decode())))
    assert parsed == [
        {"batch": "b1", "probabilities": "[0.25, 0.75]", "meta": '{"k": 1}'},
        {"batch": "b2", "probabilities": "", "meta": '{"k": 2}'},
    ]
