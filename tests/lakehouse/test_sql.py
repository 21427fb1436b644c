"""SqlEngine: DuckDB over real Delta tables registered as Arrow datasets."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from governance.errors import InputError, NotFoundError
from lakehouse import schemas
from lakehouse.delta import CommitInfo, DeltaStore
from lakehouse.sql import ConsoleResult, SqlEngine, UnknownTable, sql_name
from lakehouse.storage import Storage

T0 = datetime(2026, 6, 1, tzinfo=UTC)
COMMIT = CommitInfo(run_id="run-sql", job="test", actor="ana")
FEATURES = {"income": 0.30, "age": 0.05, "debt": 0.20}


def drift_rows(batch_id: str, model: str, version: str) -> pl.DataFrame:
    return pl.DataFrame(
        [
            {
                "batch_id": batch_id,
                "model": model,
                "model_version": version,
                "feature": feature,
                "method": "Wasserstein distance (normed)",
                "statistic": statistic,
                "threshold": 0.1,
                "drifted": statistic >= 0.1,
                "reference_id": "raw/loans@0",
                "reference_rows": 1500,
                "current_rows": 400,
                "report_path": "",
                "computed_at": T0,
                "run_id": "run-sql",
            }
            for feature, statistic in FEATURES.items()
        ]
    )


@pytest.fixture
def store(tmp_path: Path) -> DeltaStore:
    store = DeltaStore(Storage(tmp_path / "lakehouse"))
    store.append(schemas.DRIFT, drift_rows("b1", "loan_default", "1"), commit=COMMIT)
    store.append(schemas.DRIFT, drift_rows("b2", "loan_default", "2"), commit=COMMIT)
    store.append(
        "raw/models",
        pl.DataFrame({"model": ["loan_default", "churn"], "owner": ["maya", "raj"]}),
        commit=COMMIT,
    )
    return store


@pytest.fixture
def engine(store: DeltaStore) -> SqlEngine:
    return SqlEngine(store)


JOIN_SQL = """
    SELECT d.batch_id, m.owner, count(*) AS features, sum(CASE WHEN d.drifted THEN 1 ELSE 0 END) AS drifted,
           max(d.statistic) AS worst
    FROM monitoring_drift AS d JOIN raw_models AS m ON d.model = m.model
    GROUP BY d.batch_id, m.owner
    ORDER BY d.batch_id
"""


def test_sql_name_replaces_slashes() -> None:
    assert sql_name("monitoring/drift") == "monitoring_drift"
    assert sql_name("raw/loans") == "raw_loans"


def test_join_and_aggregate_over_two_tables(engine: SqlEngine) -> None:
    result = engine.query(JOIN_SQL, tables=[schemas.DRIFT, "raw/models"])

    expected = pl.DataFrame(
        {
            "batch_id": ["b1", "b2"],
            "owner": ["maya", "maya"],
            "features": [3, 3],
            "drifted": [2, 2],
            "worst": [0.3, 0.3],
        }
    )
    assert_frame_equal(result, expected, check_dtypes=False)
    assert result.schema["worst"] == pl.Float64


def test_query_with_parameters(engine: SqlEngine) -> None:
    result = engine.query(
        "SELECT feature, statistic FROM monitoring_drift WHERE batch_id = ? AND statistic > ? ORDER BY feature",
        tables=[schemas.DRIFT],
        params=["b2", 0.1],
    )
    assert result.to_dict(as_series=False) == {"feature": ["debt", "income"], "statistic": [0.2, 0.3]}


def test_timestamps_come_back_as_utc(engine: SqlEngine) -> None:
    result = engine.query("SELECT DISTINCT computed_at FROM monitoring_drift", tables=[schemas.DRIFT])
    assert result["computed_at"].to_list() == [T0]


def test_query_sees_rows_appended_after_the_engine_was_built(engine: SqlEngine, store: DeltaStore) -> None:
    store.append(schemas.DRIFT, drift_rows("b3", "churn", "1"), commit=COMMIT)
    result = engine.query("SELECT count(DISTINCT batch_id) AS batches FROM monitoring_drift", tables=[schemas.DRIFT])
    assert result["batches"].to_list() == [3]


def test_declared_but_unwritten_table_queries_as_empty(engine: SqlEngine, store: DeltaStore) -> None:
    assert not store.exists(schemas.PERFORMANCE)

    rows = engine.query("SELECT * FROM monitoring_performance", tables=[schemas.PERFORMANCE])
    assert rows.height == 0
    assert rows.columns == list(schemas.SCHEMAS[schemas.PERFORMANCE])

    count = engine.query("SELECT count(*) AS n FROM monitoring_performance", tables=[schemas.PERFORMANCE])
    assert count["n"].to_list() == [0]


def test_join_with_an_unwritten_table_is_empty_not_an_error(engine: SqlEngine) -> None:
    result = engine.query(
        "SELECT d.batch_id FROM monitoring_drift d JOIN monitoring_performance p ON d.batch_id = p.batch_id",
        tables=[schemas.DRIFT, schemas.PERFORMANCE],
    )
    assert result.height == 0


def test_bad_sql_is_an_input_error_of_one_line(engine: SqlEngine) -> None:
    with pytest.raises(InputError) as raised:
        engine.query("SELEC nonsense FROM monitoring_drift", tables=[schemas.DRIFT])
    message = str(raised.value)
    assert message.startswith("query failed:")
    assert "\n" not in message


def test_unknown_column_is_an_input_error_of_one_line(engine: SqlEngine) -> None:
    with pytest.raises(InputError) as raised:
        engine.query("SELECT no_such_column FROM monitoring_drift", tables=[schemas.DRIFT])
    assert "no_such_column" in str(raised.value)
    assert "\n" not in str(raised.value)


def test_table_not_passed_in_tables_is_not_visible(engine: SqlEngine) -> None:
    with pytest.raises(InputError, match="raw_models"):
        engine.query("SELECT * FROM raw_models", tables=[schemas.DRIFT])


def test_unknown_lakehouse_table_is_not_found(engine: SqlEngine) -> None:
    with pytest.raises(NotFoundError, match="raw/nope"):
        engine.query("SELECT 1", tables=["raw/nope"])


def test_engine_is_usable_after_a_failed_query(engine: SqlEngine) -> None:
    with pytest.raises(InputError):
        engine.query("SELECT * FROM", tables=[schemas.DRIFT])
    assert engine.query("SELECT count(*) AS n FROM monitoring_drift", tables=[schemas.DRIFT])["n"].to_list() == [6]


def test_concurrent_queries_from_four_threads_give_correct_results(engine: SqlEngine) -> None:
    def run(i: int) -> tuple[int, pl.DataFrame, pl.DataFrame]:
        batch = f"b{i % 2 + 1}"
        joined = engine.query(JOIN_SQL, tables=[schemas.DRIFT, "raw/models"])
        filtered = engine.query(
            "SELECT count(*) AS n, sum(statistic) AS total FROM monitoring_drift WHERE batch_id = ?",
            tables=[schemas.DRIFT],
            params=[batch],
        )
        return i, joined, filtered

    expected_join = engine.query(JOIN_SQL, tables=[schemas.DRIFT, "raw/models"])
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(run, range(40)))

    assert len(results) == 40
    for _, joined, filtered in results:
        assert_frame_equal(joined, expected_join)
        assert filtered["n"].to_list() == [3]
        assert filtered["total"].to_list() == [pytest.approx(sum(FEATURES.values()))]


# --- the console: one SELECT a person typed, over the tables registered for it -------------------


def console(engine: SqlEngine, sql: str, *, row_limit: int = 100, timeout_seconds: float = 10.0) -> ConsoleResult:
    return engine.console(sql, tables=[schemas.DRIFT], row_limit=row_limit, timeout_seconds=timeout_seconds)


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT batch_id, feature FROM monitoring_drift",
        "WITH worst AS (SELECT max(statistic) AS s FROM monitoring_drift) SELECT * FROM worst",
        "FROM monitoring_drift",
        "DESCRIBE monitoring_drift",
        "SELECT count(*) FROM monitoring_drift;",
    ],
)
def test_console_runs_read_only_queries(engine: SqlEngine, sql: str) -> None:
    result = console(engine, sql)
    assert result.rows.height > 0
    assert not result.truncated


def test_console_returns_at_most_the_row_limit_and_says_it_cut(engine: SqlEngine) -> None:
    result = console(engine, "SELECT * FROM monitoring_drift ORDER BY statistic DESC", row_limit=4)
    assert result.rows.height == 4
    assert result.truncated
    assert result.rows["statistic"].to_list() == [0.3, 0.3, 0.2, 0.2]

    exact = console(engine, "SELECT * FROM monitoring_drift", row_limit=6)
    assert exact.rows.height == 6
    assert not exact.truncated


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("INSERT INTO monitoring_drift SELECT * FROM monitoring_drift", "only SELECT queries may run here, not INSERT"),
        ("WITH x AS (SELECT 1) INSERT INTO t SELECT * FROM x", "only SELECT queries may run here, not INSERT"),
        ("CREATE TABLE copy AS SELECT * FROM monitoring_drift", "only SELECT queries may run here, not CREATE"),
        ("DROP VIEW monitoring_drift", "only SELECT queries may run here, not DROP"),
        ("SET enable_external_access = true", "only SELECT queries may run here, not SET"),
        ("COPY monitoring_drift TO 'out.csv'", "only SELECT queries may run here, not COPY"),
        ("ATTACH 'other.db'", "only SELECT queries may run here, not ATTACH"),
        ("INSTALL httpfs", "only SELECT queries may run here, not LOAD"),
        ("SELECT 1; DROP VIEW monitoring_drift", "one statement at a time: found 2"),
        ("  -- nothing\n", "no query: write one SELECT statement"),
    ],
)
def test_console_refuses_anything_but_one_select(engine: SqlEngine, sql: str, message: str) -> None:
    with pytest.raises(InputError) as raised:
        console(engine, sql)
    assert str(raised.value) == message


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM read_csv('/etc/passwd')",
        "SELECT * FROM read_text('/etc/hostname')",
        "SELECT * FROM glob('/*')",
        "SELECT * FROM read_parquet('{table}/*.parquet')",
        "SELECT * FROM read_parquet('https://example.com/x.parquet')",
    ],
)
def test_console_reads_no_file_by_path(engine: SqlEngine, tmp_path: Path, sql: str) -> None:
    table = tmp_path / "lakehouse" / schemas.DRIFT
    assert list(table.glob("*.parquet"))
    with pytest.raises(InputError, match="query refused: SQL here reads the lakehouse tables listed, never files"):
        console(engine, sql.format(table=table))


def test_console_does_not_read_a_file_named_as_a_table(engine: SqlEngine, tmp_path: Path) -> None:
    parquet = next((tmp_path / "lakehouse" / schemas.DRIFT).glob("*.parquet"))
    for named in ("/etc/passwd", str(parquet), f"{parquet.parent}/*.parquet"):
        with pytest.raises(InputError, match=r"^query (refused|failed: no table)"):
            console(engine, f"SELECT * FROM '{named}'")


def test_console_sees_only_the_tables_registered_for_it(engine: SqlEngine) -> None:
    with pytest.raises(UnknownTable) as raised:
        console(engine, "SELECT * FROM raw_models")
    assert raised.value.name == "raw_models"
    assert str(raised.value) == "query failed: no table raw_models among the tables this query may read"


def test_console_stops_a_query_at_its_time_limit(engine: SqlEngine) -> None:
    slow = "SELECT sum(a.range * b.range) FROM range(1000000) a, range(1000000) b"
    started = time.monotonic()
    with pytest.raises(InputError, match=r"query stopped after 0\.3s, the console's time limit"):
        console(engine, slow, timeout_seconds=0.3)
    assert time.monotonic() - started < 10
    assert console(engine, "SELECT count(*) AS n FROM monitoring_drift").rows["n"].to_list() == [6]


def test_console_errors_are_one_line(engine: SqlEngine) -> None:
    with pytest.raises(InputError) as raised:
        console(engine, "SELECT no_such_column FROM monitoring_drift")
    assert str(raised.value).startswith("query failed: Binder Error")
    assert "\n" not in str(raised.value)
