"""Feature tables end to end on real Delta tables and a real MLflow: created and refilled from raw
tables, joined point-in-time into a training set (no later value ever leaks in, TTLs expire values),
scored with the same joins, skew measured per batch; and every bad input refused in one line with
nothing written."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from governance.roles import GrantChange
from lakehouse.schemas import AUDIT, BATCHES, FEATURE_SKEW, FEATURE_TABLES, LINEAGE, PREDICTIONS, VERSIONS
from pipelines.reads.feature_tables import FeatureLookup, training_frame
from pipelines.reads.versions import kind_for, version_model, version_recipe
from tests.cli_harness import Cli
from tests.conftest import ADMIN, MAKER, REVIEWER_A, REVIEWER_B, context_for

T0 = datetime(2026, 3, 2, tzinfo=UTC)
CUSTOMERS = 300
NEW_CUSTOMERS = 80
SCORE_FROM = T0 + timedelta(days=20)


def _history(rng: np.random.Generator) -> dict[str, pl.DataFrame]:
    """Loans, one per customer; `spend` holds noise before each application and, a day after it, a value
    that gives the label away (the leak a point-in-time join must never let in); `risk` is honestly
    predictive, a day before the application, except every tenth customer's, five days before (past a
    3-day TTL)."""
    ids = [f"c{i:04d}" for i in range(CUSTOMERS)]
    applied = [T0 + timedelta(hours=i) for i in range(CUSTOMERS)]
    risk = rng.normal(0, 1, CUSTOMERS)
    label = (rng.random(CUSTOMERS) < 1 / (1 + np.exp(-2.5 * risk))).astype(np.int64)
    noise = rng.normal(0, 1, CUSTOMERS)
    loans = pl.DataFrame(
        {
            "loan_id": [f"L{i:04d}" for i in range(CUSTOMERS)],
            "customer_id": ids,
            "applied_at": applied,
            "amount": rng.normal(1000, 100, CUSTOMERS),
            "defaulted": label,
        }
    )
    spend = pl.DataFrame(
        {
            "row_id": [f"s{i}" for i in range(2 * CUSTOMERS)],
            "customer_id": ids + ids,
            "as_of": [a - timedelta(days=2) for a in applied] + [a + timedelta(days=1) for a in applied],
            "spend_30d": np.concatenate([noise, label * 10.0]),
        }
    )
    risk_rows = pl.DataFrame(
        {
            "row_id": [f"r{i}" for i in range(CUSTOMERS)],
            "customer_id": ids,
            "as_of": [a - timedelta(days=5 if i % 10 == 0 else 1) for i, a in enumerate(applied)],
            "risk_score": risk + rng.normal(0, 0.2, CUSTOMERS),
        }
    )
    return {"loans": loans, "spend": spend, "risk": risk_rows}


def _new_rows(rng: np.random.Generator) -> dict[str, pl.DataFrame]:
    """Applications to score after the history, with their customers' features; half of them also get a
    spend value after their application (the latest value differs from the as-of one: skew)."""
    ids = [f"n{i:04d}" for i in range(NEW_CUSTOMERS)]
    applied = [SCORE_FROM + timedelta(hours=i) for i in range(NEW_CUSTOMERS)]
    later = [i for i in range(NEW_CUSTOMERS) if i % 2 == 0]
    return {
        "applications": pl.DataFrame(
            {
                "loan_id": [f"A{i:04d}" for i in range(NEW_CUSTOMERS)],
                "customer_id": ids,
                "applied_at": applied,
                "amount": rng.normal(1000, 100, NEW_CUSTOMERS),
            }
        ),
        "spend": pl.DataFrame(
            {
                "row_id": [f"ns{i}" for i in range(NEW_CUSTOMERS)] + [f"nl{i}" for i in later],
                "customer_id": ids + [ids[i] for i in later],
                "as_of": [a - timedelta(hours=6) for a in applied] + [applied[i] + timedelta(days=1) for i in later],
                "spend_30d": np.concatenate([rng.normal(0, 1, NEW_CUSTOMERS), np.full(len(later), 99.0)]),
            }
        ),
        "risk": pl.DataFrame(
            {
                "row_id": [f"nr{i}" for i in range(NEW_CUSTOMERS)],
                "customer_id": ids,
                "as_of": [a - timedelta(hours=12) for a in applied],
                "risk_score": rng.normal(0, 1, NEW_CUSTOMERS),
            }
        ),
    }


def _ingest(cli: Cli, folder: Path, table: str, frame: pl.DataFrame, *, key: str, timestamp: str | None) -> None:
    path = folder / f"{table}-{frame.height}.parquet"
    frame.write_parquet(path)
    args = ["ingest", table, str(path), "--key", key, "--actor", MAKER]
    cli(*args, *(["--timestamp", timestamp] if timestamp else []))


def _create(
    cli: Cli, name: str, source: str, *extra: str, key: str = "customer_id", timestamp: str = "as_of"
) -> dict[str, Any]:
    args = ["features", "create", name, "--from", source, "--key", key, "--timestamp", timestamp, *extra]
    return cli.json(*args, "--actor", MAKER)


def _train(cli: Cli, *args: str) -> dict[str, Any]:
    return cli.json("train", "credit", *args, "--algorithm", "logreg", "--actor", MAKER)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, object]]:
    """A home with the history ingested, two feature tables, a model trained on both and promoted, and a
    later batch scored after both tables were refilled."""
    from pipelines.jobs.access import change_role, init_lakehouse
    from pipelines.jobs.promote import approve, request_promotion

    home = tmp_path_factory.mktemp("features") / "home"
    folder = home.parent / "files"
    folder.mkdir()
    ctx = context_for(home)
    init_lakehouse(ctx, admin=ADMIN)
    for user, role in ((MAKER, "maker"), (REVIEWER_A, "reviewer"), (REVIEWER_B, "reviewer")):
        change_role(ctx, user=user, role=role, change=GrantChange.GRANT, actor=ADMIN)
    cli = Cli(home)
    rng = np.random.default_rng(7)
    history = _history(rng)
    _ingest(cli, folder, "loans", history["loans"], key="loan_id", timestamp="applied_at")
    _ingest(cli, folder, "spend", history["spend"], key="row_id", timestamp="as_of")
    _ingest(cli, folder, "risk", history["risk"], key="row_id", timestamp="as_of")
    created = {
        "spend": _create(cli, "spend", "spend"),
        "risk": _create(cli, "risk", "risk", "--columns", "risk_score", "--ttl", "3d"),
    }
    trained = _train(cli, "--table", "loans", "--target", "defaulted", "--feature-tables", "spend,risk")
    request = request_promotion(ctx, model="credit", version=trained["version"], reason="first", actor=MAKER)
    approve(ctx, request_id=request.request_id, reason="fine", actor=REVIEWER_A)
    approve(ctx, request_id=request.request_id, reason="agree", actor=REVIEWER_B)
    new = _new_rows(rng)
    _ingest(cli, folder, "applications", new["applications"], key="loan_id", timestamp="applied_at")
    _ingest(cli, folder, "spend", new["spend"], key="row_id", timestamp="as_of")
    _ingest(cli, folder, "risk", new["risk"], key="row_id", timestamp="as_of")
    refilled = _create(cli, "spend", "spend")
    _create(cli, "risk", "risk", "--columns", "risk_score", "--ttl", "3d")
    scored = cli.json("score", "credit", "--table", "applications", "--actor", MAKER)
    return home, {"created": created, "trained": trained, "refilled": refilled, "scored": scored, "new": new}


def test_create_records_definition_versions_lineage_and_audit(built: tuple[Path, dict[str, object]]) -> None:
    home, facts = built
    created = facts["created"]
    assert created["spend"] == {  # type: ignore[index]
        "table": "features/spend",
        "version": 0,
        "rows": 2 * CUSTOMERS,
        "source": "raw/spend@0",
        "created": True,
        "already_filled": False,
    }
    assert facts["refilled"] == {
        "table": "features/spend",
        "version": 1,
        "rows": NEW_CUSTOMERS + NEW_CUSTOMERS // 2,
        "source": "raw/spend@1",
        "created": False,
        "already_filled": False,
    }
    ctx = context_for(home)
    fills = ctx.store.read(FEATURE_TABLES).filter(pl.col("table") == "features/risk")
    assert fills["ttl_seconds"].to_list() == [3 * 86400, 3 * 86400]
    assert json.loads(fills["columns"][0]) == ["risk_score"]
    edges = ctx.store.read(LINEAGE).filter(pl.col("dst_id").str.starts_with("features/spend@"))
    assert sorted(zip(edges["src_id"], edges["dst_id"], strict=True)) == [
        ("raw/spend@0", "features/spend@0"),
        ("raw/spend@1", "features/spend@1"),
    ]
    audited = ctx.store.read(AUDIT).filter(pl.col("action") == "fill_feature_table")["object_id"].to_list()
    assert sorted(audited) == ["features/risk@0", "features/risk@1", "features/spend@0", "features/spend@1"]


def test_refill_with_nothing_new_writes_nothing(built: tuple[Path, dict[str, object]], tmp_path: Path) -> None:
    home = tmp_path / "home"
    shutil.copytree(built[0], home)
    again = _create(Cli(home), "spend", "spend")
    assert again["already_filled"] is True
    assert context_for(home).store.version("features/spend") == 1


def test_training_set_is_point_in_time_correct(built: tuple[Path, dict[str, object]]) -> None:
    """Every row gets the customer's value from before its application, never the later one that gives
    the label away; the model, trained on it, cannot have seen the leak."""
    home, facts = built
    ctx = context_for(home)
    trained = facts["trained"]
    recipe = version_recipe(ctx, "credit", trained["version"])  # type: ignore[index]
    assert [(r.table, r.version, r.ttl_seconds) for r in recipe.feature_tables] == [
        ("features/spend", 0, None),
        ("features/risk", 0, 3 * 86400),
    ]
    assert set(recipe.spec.columns) == {"amount", "spend_30d", "risk_score"}  # the join key is not a feature
    frame = training_frame(ctx, recipe).sort("customer_id")
    history = ctx.store.read("raw/spend", version=0)
    honest = history.filter(pl.col("row_id").str.slice(1).cast(pl.Int64) < CUSTOMERS).sort("customer_id")
    assert frame["spend_30d"].to_list() == honest["spend_30d"].to_list()
    leaked = frame.filter(pl.col("spend_30d") % 10 == 0).height
    assert leaked < 5  # only noise values that happen to be whole tens, and those are none in practice
    assert trained["metrics"]["roc_auc"] < 0.97  # type: ignore[index]  # with the leak it would be 1.0


def test_ttl_expires_old_values(built: tuple[Path, dict[str, object]]) -> None:
    home, facts = built
    ctx = context_for(home)
    recipe = version_recipe(ctx, "credit", facts["trained"]["version"])  # type: ignore[index]
    frame = training_frame(ctx, recipe).sort("customer_id")
    expired = frame.filter(pl.col("risk_score").is_null())["customer_id"].to_list()
    assert expired == [f"c{i:04d}" for i in range(0, CUSTOMERS, 10)]


def test_scoring_joins_the_same_feature_tables_as_of_each_row(built: tuple[Path, dict[str, object]]) -> None:
    home, facts = built
    ctx = context_for(home)
    scored = facts["scored"]
    batch = ctx.store.read(BATCHES).filter(pl.col("batch_id") == scored["batch_id"])  # type: ignore[index]
    assert json.loads(batch["feature_tables"][0]) == [
        {"table": "features/spend", "version": 1, "ttl_seconds": None},
        {"table": "features/risk", "version": 1, "ttl_seconds": 3 * 86400},
    ]
    version = scored["model_version"]  # type: ignore[index]
    recipe = version_recipe(ctx, "credit", version)
    # the same rows joined by hand: polars join_asof, backward, by customer, risk within 3 days
    applications = ctx.store.read("raw/applications").sort("applied_at")
    spend = ctx.store.read("features/spend").select("customer_id", pl.col("as_of").alias("applied_at"), "spend_30d")
    risk = ctx.store.read("features/risk").select("customer_id", pl.col("as_of").alias("applied_at"), "risk_score")
    expected = applications.join_asof(spend.sort("applied_at"), on="applied_at", by="customer_id").join_asof(
        risk.sort("applied_at"), on="applied_at", by="customer_id", tolerance=timedelta(days=3)
    )
    assert expected.filter(pl.col("spend_30d") == 99.0).height == 0  # no later value in the expectation either
    estimator = version_model(ctx, "credit", version, recipe)
    outputs = kind_for(recipe).outputs(estimator, expected, recipe.spec, chunk_rows=1000)
    want = dict(zip(expected["loan_id"].to_list(), outputs.tolist(), strict=True))
    predictions = ctx.store.read(PREDICTIONS).filter(pl.col("batch_id") == scored["batch_id"])  # type: ignore[index]
    assert predictions.height == NEW_CUSTOMERS
    for key, score in zip(predictions["entity_key"], predictions["score"], strict=True):
        assert score == pytest.approx(want[key])
    edges = ctx.store.read(LINEAGE).filter(pl.col("dst_id") == scored["batch_id"])  # type: ignore[index]
    assert {"features/spend@1", "features/risk@1"} <= set(edges["src_id"].to_list())


def test_skew_is_the_share_of_rows_whose_latest_value_differs(built: tuple[Path, dict[str, object]]) -> None:
    home, facts = built
    scored = facts["scored"]
    assert scored["feature_skew"] == {"spend_30d": 0.5, "risk_score": 0.0}  # type: ignore[index]
    skew = context_for(home).store.read(FEATURE_SKEW).sort("feature")
    assert skew.select("feature", "rows", "differing_rows").rows() == [
        ("risk_score", NEW_CUSTOMERS, 0),
        ("spend_30d", NEW_CUSTOMERS, NEW_CUSTOMERS // 2),
    ]


def test_monitoring_reads_the_batch_with_its_joined_features(
    built: tuple[Path, dict[str, object]], tmp_path: Path
) -> None:
    from lakehouse.schemas import DRIFT
    from pipelines.jobs.monitor import monitor

    home = tmp_path / "home"
    shutil.copytree(built[0], home)
    ctx = context_for(home)
    monitor(ctx, model="credit")
    drift = ctx.store.read(DRIFT)
    assert set(drift["feature"].to_list()) == {"amount", "spend_30d", "risk_score"}
    assert drift["reference_id"][0].startswith("raw/loans@0+features/spend@0+features/risk@0#")


def test_feature_table_monitoring_finds_the_planted_shift_against_the_trained_version(
    built: tuple[Path, dict[str, object]], tmp_path: Path
) -> None:
    """The refill of features/spend planted 40 values of 99.0 (far above anything the model was trained
    with): its version drifts and leaves the training range; features/risk's refill is the same
    distribution and does not drift. Computed once: a second run computes nothing."""
    from lakehouse.schemas import FEATURE_TABLE_DRIFT, FEATURE_TABLE_QUALITY

    home = tmp_path / "home"
    shutil.copytree(built[0], home)
    cli = Cli(home)
    spend = cli.json("features", "monitor", "spend")
    trained = built[1]["trained"]["version"]  # type: ignore[index]
    assert (spend["reference"], spend["computed_versions"]) == ("features/spend@0", 1)
    assert spend["reference_origin"] == f"the version credit/{trained} was trained with"
    [version] = spend["versions"]
    assert (version["version"], version["rows"]) == (1, NEW_CUSTOMERS + NEW_CUSTOMERS // 2)
    assert [(d["feature"], d["method"], d["drifted"]) for d in version["drift"]] == [("spend_30d", "K-S p_value", True)]
    alerts = {(q["check"], q["column"]): q["value"] for q in version["quality_alerts"]}
    assert alerts[("out_of_training_range", "spend_30d")] == pytest.approx((NEW_CUSTOMERS // 2) / version["rows"])
    risk = cli.json("features", "monitor", "risk")
    assert [d["drifted"] for d in risk["versions"][0]["drift"]] == [False]
    assert risk["versions"][0]["quality_alerts"] == []
    again = cli.json("features", "monitor", "spend")
    assert again["computed_versions"] == 0
    assert again["versions"] == spend["versions"]
    ctx = context_for(home)
    assert ctx.store.read(FEATURE_TABLE_DRIFT).height == 2
    quality = ctx.store.read(FEATURE_TABLE_QUALITY).filter(pl.col("check") == "duplicate_keys")
    assert quality["column"].to_list() == ["(customer_id, as_of)", "(customer_id, as_of)"]
    assert "features/spend: reference features/spend@0" in cli("features", "monitor", "spend").stdout
    cli.refused("features", "monitor", "nosuch", needle="feature table 'features/nosuch' does not exist")
    cli.refused("features", "monitor", "../x", needle="feature table name '../x' is not valid")
    assert ctx.store.read(FEATURE_TABLE_DRIFT).height == 2


def test_list_and_show(built: tuple[Path, dict[str, object]]) -> None:
    home, facts = built
    cli = Cli(home)
    listed = cli.json("features", "list")["feature_tables"]
    assert [t["table"] for t in listed] == ["features/risk", "features/spend"]
    risk = listed[0]
    assert (risk["key"], risk["timestamp"], risk["ttl"], risk["version"], risk["columns"]) == (
        "customer_id",
        "as_of",
        "3d",
        1,
        ["risk_score"],
    )
    assert risk["models"] == [f"credit/{facts['trained']['version']}"]  # type: ignore[index]
    shown = cli.json("features", "show", "spend")
    assert [(v["version"], v["source"]) for v in shown["versions"]] == [(0, "raw/spend@0"), (1, "raw/spend@1")]
    assert shown["rows"] == 2 * CUSTOMERS + NEW_CUSTOMERS + NEW_CUSTOMERS // 2
    assert shown["freshness"] in {"fresh", "late"}
    assert "features/spend" in cli("features", "show", "spend").stdout


def test_lookup_serves_the_latest_values_within_ttl(built: tuple[Path, dict[str, object]]) -> None:
    home, facts = built
    ctx = context_for(home)
    recipe = version_recipe(ctx, "credit", facts["scored"]["model_version"])  # type: ignore[index]
    lookup = FeatureLookup(ctx, recipe.feature_tables)
    latest_risk_time = SCORE_FROM + timedelta(hours=NEW_CUSTOMERS)
    served = lookup.features({"customer_id": ["n0000", "n0001", "nobody"]}, at=latest_risk_time)
    assert served.columns == ["spend_30d", "risk_score"]
    assert served["spend_30d"][0] == 99.0  # n0000 has a later value: the latest is served
    assert served.row(2) == (None, None)
    much_later = lookup.features({"customer_id": ["n0001"]}, at=latest_risk_time + timedelta(days=30))
    assert much_later["risk_score"][0] is None  # past the TTL
    assert much_later["spend_30d"][0] is not None  # no TTL


@pytest.fixture
def home_copy(built: tuple[Path, dict[str, object]], tmp_path: Path) -> Path:
    home = tmp_path / "home"
    shutil.copytree(built[0], home)
    return home


def _snapshot(home: Path) -> tuple[int, int, int]:
    ctx = context_for(home)
    return ctx.store.version(AUDIT), ctx.store.version(VERSIONS), ctx.store.version(FEATURE_TABLES)


CREATE = ["features", "create"]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["x", "--from", "spend", "--key", "nope", "--timestamp", "as_of"], "key column 'nope' is not in table"),
        (["x", "--from", "spend", "--key", "customer_id", "--timestamp", "when"], "timestamp column 'when'"),
        (
            ["x", "--from", "spend", "--key", "customer_id", "--timestamp", "as_of", "--ttl", "30 days"],
            "not a duration",
        ),
        (["x", "--from", "spend", "--key", "customer_id", "--timestamp", "as_of", "--ttl", "0d"], "not a duration"),
        (["x", "--from", "loans", "--key", "amount", "--timestamp", "applied_at", "--columns", ""], "empty column"),
        (["x", "--from", "spend", "--key", "customer_id", "--timestamp", "as_of", "--columns", "nah"], "'nah'"),
        (["spend", "--from", "spend", "--key", "customer_id", "--timestamp", "as_of", "--ttl", "1d"], "create another"),
        (["Bad/Name", "--from", "spend", "--key", "customer_id", "--timestamp", "as_of"], "not valid"),
    ],
)
def test_bad_create_is_refused_and_writes_nothing(home_copy: Path, args: list[str], needle: str) -> None:
    before = _snapshot(home_copy)
    Cli(home_copy).refused(*CREATE, *args, "--actor", MAKER, needle=needle)
    assert _snapshot(home_copy)[1:] == before[1:]
    assert not context_for(home_copy).store.exists("features/x")


def test_duplicate_key_and_time_in_a_feature_table_is_refused(home_copy: Path) -> None:
    cli = Cli(home_copy)
    twice = pl.DataFrame(
        {
            "row_id": ["d1", "d2"],
            "customer_id": ["c0001", "c0001"],
            "as_of": [T0, T0],
            "visits": [1, 2],
        }
    )
    _ingest(cli, home_copy.parent, "visits", twice, key="row_id", timestamp="as_of")
    args = ["visits", "--from", "visits", "--key", "customer_id", "--timestamp", "as_of", "--actor", MAKER]
    cli.refused(*CREATE, *args, needle="1 duplicate (customer_id, as_of) pairs")
    assert not context_for(home_copy).store.exists("features/visits")


LOANS = ("--table", "loans", "--target", "defaulted")


def _refused_training(home: Path, *args: str, needle: str) -> None:
    before = _snapshot(home)
    Cli(home).refused("train", "credit", *args, "--algorithm", "logreg", "--actor", MAKER, needle=needle)
    assert _snapshot(home)[1] == before[1]  # no version registered


def test_bad_joins_are_refused_before_training(home_copy: Path) -> None:
    cli = Cli(home_copy)
    folder = home_copy.parent
    # a spine without the feature table's key
    other = pl.DataFrame({"id": ["o1", "o2"], "at": [T0, T0 + timedelta(days=1)], "y": [0, 1], "v": [1.0, 2.0]})
    _ingest(cli, folder, "other", other, key="id", timestamp="at")
    lacks = "table 'raw/other' lacks column 'customer_id', the key of feature table 'features/spend'"
    _refused_training(home_copy, "--table", "other", "--target", "y", "--feature-tables", "spend", needle=lacks)
    # a spine without an event time
    _ingest(
        cli, folder, "untimed", other.drop("at").with_columns(customer_id=pl.lit("c0001")), key="id", timestamp=None
    )
    _refused_training(
        home_copy, "--table", "untimed", "--target", "y", "--feature-tables", "spend", needle="has no event timestamp"
    )
    # one feature from two tables
    _create(cli, "spend_copy", "spend")
    twice = "feature 'spend_30d' is defined in both 'features/spend' and 'features/spend_copy'"
    _refused_training(home_copy, *LOANS, "--feature-tables", "spend,spend_copy", needle=twice)
    # a feature that is already a column of the spine
    _create(cli, "amounts", "loans", "--columns", "amount", timestamp="applied_at")
    clash = "feature 'amount' is defined in both 'raw/loans' and 'features/amounts'"
    _refused_training(home_copy, *LOANS, "--feature-tables", "amounts", needle=clash)
    # a feature table that starts after the spine's last row
    future = pl.DataFrame(
        {"row_id": ["f1"], "customer_id": ["c0001"], "as_of": [T0 + timedelta(days=400)], "late": [1.0]}
    )
    _ingest(cli, folder, "future", future, key="row_id", timestamp="as_of")
    _create(cli, "future", "future")
    _refused_training(home_copy, *LOANS, "--feature-tables", "future", needle="nothing to join")
    # a feature table that does not exist, and an empty name
    _refused_training(home_copy, *LOANS, "--feature-tables", "nope", needle="does not exist")
    _refused_training(home_copy, *LOANS, "--feature-tables", "spend,", needle="empty name")


def test_register_joins_feature_tables_like_train(home_copy: Path, tmp_path: Path) -> None:
    """A model fitted outside mlgov on the same point-in-time join is registered with the tables it was
    trained with: judged on their as-of join, recorded in its recipe and lineage."""
    import mlflow
    from mlflow.models import infer_signature
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    ctx = context_for(home_copy)
    loans = ctx.store.read("raw/loans").sort("applied_at")
    spend = ctx.store.read("features/spend", version=0).rename({"as_of": "applied_at"})
    risk = ctx.store.read("features/risk", version=0).rename({"as_of": "applied_at"})
    joined = loans.join_asof(spend.sort("applied_at"), on="applied_at", by="customer_id").join_asof(
        risk.sort("applied_at"), on="applied_at", by="customer_id", tolerance=timedelta(days=3)
    )
    inputs = joined.select("amount", "spend_30d", "risk_score").to_pandas()
    fitted = make_pipeline(SimpleImputer(), LogisticRegression()).fit(inputs, joined["defaulted"].to_numpy())
    path = tmp_path / "outside"
    signature = infer_signature(inputs, fitted.predict_proba(inputs))
    mlflow.sklearn.save_model(fitted, path, signature=signature, serialization_format="cloudpickle")
    # raw/spend and raw/risk have moved on since: the feature tables are pinned at their current versions
    args = ["register", "outside", "--model-uri", str(path), "--table", "loans", "--target", "defaulted"]
    registered = Cli(home_copy).json(*args, "--feature-tables", "spend,risk", "--actor", MAKER)
    assert registered["feature_tables"] == ["features/spend@1", "features/risk@1"]
    assert registered["features"] == ["amount", "spend_30d", "risk_score"]
    recipe = version_recipe(context_for(home_copy), "outside", registered["version"])
    assert [(r.table, r.version) for r in recipe.feature_tables] == [("features/spend", 1), ("features/risk", 1)]
    edges = context_for(home_copy).store.read(LINEAGE).filter(pl.col("dst_id") == registered["run_id"])
    assert {"features/spend@1", "features/risk@1", "raw/loans@0"} <= set(edges["src_id"].to_list())


def test_scoring_the_same_rows_with_the_same_feature_versions_again_adds_nothing(home_copy: Path) -> None:
    again = Cli(home_copy).json("score", "credit", "--table", "applications", "--actor", MAKER)
    assert again["already_scored"] is True
    assert context_for(home_copy).store.read(FEATURE_SKEW).height == 2  # one row per feature, written once


@pytest.mark.slow
def test_serving_looks_features_up_by_key_refreshes_them_and_serve_batch_measures_skew(
    built: tuple[Path, dict[str, object]], tmp_path: Path
) -> None:
    """`credit` is served to callers who send the customer and the amount: its spend and risk come from
    the feature tables' latest values. A spend value that lands after a request, dated before it, is
    served to the next request without a restart, and serve-batch counts the first request as skewed
    (served one value, the point-in-time join now gives another)."""
    import threading
    import time

    import httpx
    import uvicorn

    from lakehouse.schemas import SERVING_REQUESTS
    from pipelines.serving.app import ServeOptions, Serving, build_app
    from tests.servers import free_port

    home = tmp_path / "home"
    shutil.copytree(built[0], home)
    cli = Cli(home)
    version = built[1]["scored"]["model_version"]  # type: ignore[index]
    serving = Serving(context_for(home), ServeOptions(model="credit", refresh_seconds=0.2, flush_seconds=0.2))
    serving.open()
    assert set(serving.watch.champion.contract.fields) == {"customer_id", "amount"}  # type: ignore[union-attr]
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(build_app(serving), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    predict = "/v1/models/credit/predict"
    late_value_time = datetime.now(UTC)
    try:
        while not server.started:
            assert thread.is_alive()
            time.sleep(0.02)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            first = client.post(predict, json={"inputs": [{"customer_id": "n0001", "amount": 1000.0}]})
            assert first.status_code == 200, first.text
            unknown = client.post(predict, json={"inputs": [{"customer_id": "nobody", "amount": 1.0}]})
            assert unknown.status_code == 422
            assert unknown.json() == {"error": "row 0: features/spend (version 1) holds no row for key 'nobody'"}
            nameless = client.post(predict, json={"inputs": [{"customer_id": None, "amount": 1.0}]})
            assert nameless.status_code == 422
            assert nameless.json()["error"].startswith("row 0: field 'customer_id' is null")
            joined = client.post(predict, json={"inputs": [{"customer_id": "n0001", "amount": 1.0, "spend_30d": 5}]})
            assert joined.status_code == 422
            assert "spend_30d" in joined.json()["error"]  # looked up, never sent
            late = pl.DataFrame(
                {"row_id": ["late1"], "customer_id": ["n0001"], "as_of": [late_value_time], "spend_30d": [123.0]}
            )
            _ingest(cli, tmp_path, "spend", late, key="row_id", timestamp="as_of")
            assert _create(cli, "spend", "spend")["version"] == 2
            deadline = time.monotonic() + 30
            while (
                serving.watch.champion.lookup.lookup(  # type: ignore[union-attr]
                    {"customer_id": ["n0001"]}, at=datetime.now(UTC)
                ).versions["features/spend"]
                != 2
            ):
                assert time.monotonic() < deadline, "the new feature table version was not picked up"
                time.sleep(0.05)
            second = client.post(predict, json={"inputs": [{"customer_id": "n0001", "amount": 1000.0}]})
            assert second.status_code == 200
            assert second.json()["predictions"] != first.json()["predictions"]
    finally:
        server.should_exit = True
        thread.join(timeout=60)
    ctx = context_for(home)
    logged = ctx.store.read(SERVING_REQUESTS).sort("received_at")
    served = [json.loads(f) for f in logged["features"]]
    before = ctx.store.read("features/spend", version=1).filter(pl.col("customer_id") == "n0001")
    assert [f["spend_30d"] for f in served] == [before.sort("as_of")["spend_30d"][-1], 123.0]
    assert [f["risk_score"] for f in served] == [None, None]  # older than the 3-day TTL: null, as Feast serves it
    assert [json.loads(t)["features/spend"] for t in logged["feature_tables"]] == [1, 2]
    window = ("--from", (late_value_time - timedelta(minutes=5)).isoformat(), "--to", datetime.now(UTC).isoformat())
    made = cli.json("serve-batch", "credit", *window, "--actor", MAKER)
    [batch] = made["batches"]
    assert (batch["model_version"], batch["rows"]) == (version, 2)
    assert batch["feature_skew"] == {"spend_30d": 0.5, "risk_score": 0.0}
    skew = ctx.store.read(FEATURE_SKEW).filter(pl.col("batch_id") == batch["batch_id"]).sort("feature")
    assert skew.select("feature_table", "feature", "rows", "differing_rows").rows() == [
        ("features/risk@1", "risk_score", 2, 0),
        ("features/spend@2", "spend_30d", 2, 1),
    ]
    served_table = ctx.store.read("raw/served_credit")
    assert {"customer_id", "amount", "spend_30d", "risk_score"} <= set(served_table.columns)


def test_a_shadowed_request_is_looked_up_again_by_the_challenger(built: tuple[Path, dict[str, object]]) -> None:
    """The challenger gets the champion's completed rows: its own lookup replaces the values in them."""
    from pipelines.serving.champion import load_version
    from pipelines.serving.contract import Limits

    home, facts = built
    version = facts["scored"]["model_version"]  # type: ignore[index]
    served = load_version(context_for(home), model="credit", version=version, role="challenger", limits=Limits())
    _, sent = served.contract.parse(b'{"inputs": [{"customer_id": "n0000", "amount": 900.0}]}')
    at = SCORE_FROM + timedelta(hours=NEW_CUSTOMERS)
    completed, found = served.complete(sent, at=at)
    assert found is not None
    assert completed.columns == ["customer_id", "amount", "spend_30d", "risk_score"]
    assert completed["spend_30d"][0] == 99.0  # n0000's latest value
    shadowed, _ = served.complete(completed.with_columns(pl.lit(-1.0).alias("spend_30d")), at=at)
    assert shadowed.rows() == completed.rows()
