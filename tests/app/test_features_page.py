"""The Features page: feature tables with their freshness, versions, users and lineage, for every role."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from governance.roles import GrantChange, Role
from tests.app.conftest import open_app
from tests.cli_harness import Cli
from tests.conftest import ADMIN, ANALYST, MAKER, context_for

PAGE = "views/features.py"


@pytest.fixture(scope="module")
def feature_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two feature tables: `daily` refilled once, its newest row 12 hours old, and `stale`, a week behind
    its daily cadence (by the wall clock, which the app judges freshness by)."""
    from pipelines.jobs.access import change_role, init_lakehouse

    home = tmp_path_factory.mktemp("features-page") / "home"
    ctx = context_for(home)
    init_lakehouse(ctx, admin=ADMIN)
    change_role(ctx, user=MAKER, role="maker", change=GrantChange.GRANT, actor=ADMIN)
    cli = Cli(home)
    end = datetime.now(UTC)
    for name, last in (("daily", end - timedelta(hours=12)), ("stale", end - timedelta(days=7))):
        days = 20
        frame = pl.DataFrame(
            {
                "row_id": [f"{name}{i}" for i in range(days)],
                "customer_id": ["c1"] * days,
                "as_of": [last - timedelta(days=days - 1 - i) for i in range(days)],
                f"{name}_value": [float(i) for i in range(days)],
            }
        )
        path = home.parent / f"{name}.parquet"
        frame.head(days - 2).write_parquet(path)
        cli("ingest", name, str(path), "--key", "row_id", "--timestamp", "as_of", "--actor", MAKER)
        create = ["features", "create", name, "--from", name, "--key", "customer_id", "--timestamp", "as_of"]
        cli(*create, "--ttl", "30d", "--actor", MAKER)
        frame.tail(2).write_parquet(path)
        cli("ingest", name, str(path), "--key", "row_id", "--timestamp", "as_of", "--actor", MAKER)
        cli(*create, "--ttl", "30d", "--actor", MAKER)
    cli("features", "monitor", "daily")
    return home


@pytest.mark.parametrize(("user", "role"), [(MAKER, Role.MAKER), (ANALYST, Role.ANALYST)])
def test_tables_freshness_versions_and_lineage(
    feature_home: Path, serve_home: Callable[[Path], None], user: str, role: Role
) -> None:
    serve_home(feature_home)
    at = open_app(user, role, page=PAGE)
    assert not at.exception
    assert not at.error
    assert at.title[0].value == "Features"
    tables = pl.from_pandas(at.dataframe[0].value)
    assert tables["table"].to_list() == ["features/daily", "features/stale"]
    assert tables["freshness"].to_list() == ["fresh", "late"]
    assert tables["TTL"].to_list() == ["30d", "30d"]
    assert tables["usual interval"].to_list() == ["1d", "1d"]
    assert [age.split()[0] for age in tables["age"]] == ["12h", "7d"]
    assert any("features/stale" in w.value for w in at.warning)

    versions = pl.from_pandas(at.dataframe[1].value)
    assert versions.select("version", "source", "rows_added").rows() == [(0, "raw/daily@0", 18), (1, "raw/daily@1", 2)]
    lineage = pl.from_pandas(at.dataframe[2].value)  # no skew table: nothing was scored
    assert ("upstream", "raw/daily@1", "derived", "features/daily@1") in lineage.select(
        "direction", "from_id", "relation", "to_id"
    ).rows()

    health = pl.from_pandas(at.dataframe[3].value)
    assert health.select("version", "feature", "new_rows").rows() == [(1, "daily_value", 2)]
    assert health["drifted"].to_list() == [True]  # two values above every one before them
    assert any(w.value.startswith("Drifted from the reference") and "daily" in w.value for w in at.warning)

    at.selectbox(key="features.table").set_value("features/stale").run()
    assert not at.exception
    assert at.subheader[0].value == "features/stale"
    assert any("mlgov features monitor stale" in c.value for c in at.caption)


def test_an_empty_lakehouse_says_how_to_create_one(tmp_path: Path, serve_home: Callable[[Path], None]) -> None:
    from pipelines.jobs.access import init_lakehouse

    home = tmp_path / "home"
    init_lakehouse(context_for(home), admin=ADMIN)
    serve_home(home)
    at = open_app(ADMIN, Role.ADMIN, page=PAGE)
    assert not at.exception
    assert "mlgov features create" in at.info[0].value
