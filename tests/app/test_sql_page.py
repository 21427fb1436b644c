"""The SQL console: a read-only SELECT over the tables the role may query, with a row limit and CSV."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app.auth import SESSION_KEY
from governance.identity import SignedIn
from governance.roles import Role
from tests.app.conftest import MAIN, open_app
from tests.conftest import ADMIN, ANALYST, AUDITOR, MAKER, REVIEWER_A, REVIEWER_B, Seeded

PAGE = "views/sql.py"


def run_query(at: AppTest, sql: str, *, row_limit: int | None = None) -> AppTest:
    at.text_area(key="sql.text").input(sql)
    if row_limit is not None:
        at.number_input(key="sql.limit").set_value(row_limit)
    return next(b for b in at.button if b.label == "Run query").click().run()


@pytest.fixture
def auditor_console(seeded: Seeded, serve_home: Callable[[Path], None]) -> AppTest:
    serve_home(seeded.home)
    at = open_app(AUDITOR, Role.AUDITOR, page=PAGE)
    assert not at.exception
    assert not at.error
    return at


def test_an_auditor_queries_the_audit_trail_and_is_offered_csv(auditor_console: AppTest) -> None:
    at = auditor_console
    assert at.title[0].value == "SQL console"
    listed = at.dataframe[0].value
    assert "governance_audit" in set(listed["SQL name"])
    assert "governance_credentials" not in set(listed["SQL name"])

    at = run_query(at, "SELECT actor, action FROM governance_audit ORDER BY seq")

    assert not at.exception
    assert not at.error
    rows = at.dataframe[1].value
    assert list(rows.columns) == ["actor", "action"]
    assert len(rows) > 5
    assert {ADMIN, MAKER} <= set(rows["actor"])
    assert [b.label for b in at.download_button] == [f"Download {len(rows):,} rows (CSV)"]


def test_the_row_limit_cuts_the_rows_and_says_so(auditor_console: AppTest, seeded: Seeded) -> None:
    at = run_query(auditor_console, "SELECT batch_id, entity_key FROM predictions", row_limit=3)

    assert not at.error
    assert len(at.dataframe[1].value) == 3
    assert "showing the first 3" in at.warning[0].value
    assert at.download_button[0].label == "Download 3 rows (CSV)"


@pytest.mark.parametrize(
    ("sql", "error"),
    [
        ("DELETE FROM governance_audit", "only SELECT queries may run here, not DELETE"),
        ("SELECT 1; SELECT 2", "one statement at a time: found 2"),
        ("SELECT * FROM read_csv('/etc/passwd')", "query refused: SQL here reads the lakehouse tables listed"),
        ("SELECT * FROM governance_credentials", "governance/credentials holds credentials: no role may query it"),
        ("SELECT * FROM no_such_table", "no table no_such_table among the tables this query may read"),
    ],
)
def test_what_the_console_refuses_is_one_error_line(auditor_console: AppTest, sql: str, error: str) -> None:
    at = run_query(auditor_console, "SELECT 1 AS one")
    assert at.download_button  # a result from before ...

    at = run_query(at, sql)

    assert not at.exception
    assert len(at.error) == 1
    assert error in at.error[0].value.replace("\\", "")
    assert not at.download_button  # ... is not left standing under the refusal


def test_an_analyst_queries_monitoring_but_not_the_audit_trail(
    seeded: Seeded, serve_home: Callable[[Path], None]
) -> None:
    serve_home(seeded.home)
    at = open_app(ANALYST, Role.ANALYST, page=PAGE)
    assert set(at.dataframe[0].value["SQL name"]) == {
        "catalog_tables",
        "catalog_feature_tables",
        "monitoring_drift",
        "monitoring_fairness",
        "monitoring_feature_skew",
        "monitoring_feature_table_drift",
        "monitoring_feature_table_quality",
        "monitoring_output_drift",
        "monitoring_performance",
        "monitoring_quality",
        "monitoring_segments",
        "ops_runs",
        "scoring_batches",
    }

    at = run_query(at, "SELECT count(*) AS n FROM monitoring_drift")
    assert not at.error
    assert at.dataframe[1].value["n"].item() > 0

    at = run_query(at, "SELECT * FROM governance_audit")
    assert [e.value.replace("\\", "") for e in at.error] == [
        "query refused: governance/audit is a governance table: querying it needs role auditor"
    ]


@pytest.mark.parametrize(("user", "role"), [(MAKER, Role.MAKER), (REVIEWER_A, Role.REVIEWER), (ADMIN, Role.ADMIN)])
def test_other_roles_may_not_open_the_console(
    seeded: Seeded, serve_home: Callable[[Path], None], user: str, role: Role
) -> None:
    serve_home(seeded.home)
    at = open_app(user, role)
    at.switch_page(PAGE).run()  # a link to it: the page is found, and refuses
    assert [e.value.replace("\\", "") for e in at.error] == [
        f"You may not open SQL console: it needs one of the roles analyst, auditor, and you hold {role.value}."
    ]

    page = AppTest.from_file(str(MAIN.parent / PAGE), default_timeout=60)
    page.session_state[SESSION_KEY] = SignedIn(user=user, roles=frozenset({role}))
    page.run()

    assert [e.value.replace("\\", "") for e in page.error] == [
        f"You may not open SQL console: it needs one of the roles analyst, auditor, and you hold {role.value}."
    ]
    assert not page.text_area
    assert not page.button


def test_the_readme_example_runs_for_an_auditor(auditor_console: AppTest) -> None:
    readme = (MAIN.parents[1] / "README.md").read_text()
    example = readme.split("```sql\n", 1)[1].split("```", 1)[0]

    at = run_query(auditor_console, example)

    assert [e.value for e in at.error] == []
    approvals = at.dataframe[1].value
    assert list(approvals.columns) == ["at", "actor", "action", "object_id", "reason"]
    assert set(approvals["actor"]) == {REVIEWER_A, REVIEWER_B}
    assert set(approvals["reason"]) == {"holdout AUC fine", "agree"}
