"""`mlgov register`: models a notebook fitted and logged with plain MLflow, in its own process (LightGBM
on another tracking server, a scikit-learn pipeline on mlgov's, a LightGBM regressor in a local
directory), governed like the ones mlgov trains: judged on the training table's holdout, reviewed,
scored by their own flavor, monitored. Bad models are refused with one line and leave nothing behind."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import polars as pl
import pytest
from sklearn.metrics import roc_auc_score

from lakehouse.mlflow_models import pointed_at
from lakehouse.schemas import PREDICTIONS
from pipelines.reads.lineage import graph as lineage_graph
from tests.cli_harness import Cli
from tests.conftest import MAKER, REVIEWER_A, REVIEWER_B, Seeded, context_for

pytestmark = pytest.mark.slow

T0 = datetime(2026, 2, 2, tzinfo=UTC)
NOTEBOOK = Path(__file__).resolve().parents[1] / "fixtures" / "notebook.py"
QUEUES = np.asarray(["billing", "tech", "sales"])


def _rows(rng: np.random.Generator, n: int, *, start: datetime, shift: float) -> pl.DataFrame:
    x1, x2 = rng.normal(shift, 1.0, n), rng.normal(0.0, 1.0, n)
    region = rng.choice(["north", "south", "east"], n)
    bump = np.select([region == "north", region == "south"], [0.8, -0.8], 0.0)
    logit = 1.2 * x1 - 0.8 * x2 + bump
    queue_scores = np.column_stack([x1, x2, -x1 - x2]) * 2 + rng.gumbel(size=(n, 3))
    return pl.DataFrame(
        {
            "id": [f"{start:%Y%m%d}-{i}" for i in range(n)],
            "at": [start + timedelta(minutes=5 * i) for i in range(n)],
            "x1": x1,
            "x2": x2,
            "region": region,
            "defaulted": (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.int64),
            "queue": QUEUES[queue_scores.argmax(axis=1)],
            "price": 100 + 12 * x1 - 7 * x2 + rng.normal(0, 3, n),
        }
    )


class Notebook:
    """A home with a training table and a week of new rows, and what the notebook logged."""

    def __init__(self, home: Path, logged: dict[str, str], team_uri: str, week: pl.DataFrame) -> None:
        self.home, self.logged, self.team_uri, self.week = home, logged, team_uri, week
        self.cli = Cli(home)

    def register(self, model: str, uri: str, *extra: str, target: str) -> list[str]:
        return ["register", model, "--model-uri", uri, "--table", "history", "--target", target, *extra]


@pytest.fixture(scope="module")
def notebook(seeded_template: Seeded, tmp_path_factory: pytest.TempPathFactory) -> Notebook:
    root = tmp_path_factory.mktemp("notebook")
    home = root / "home"
    shutil.copytree(seeded_template.home, home)
    rng = np.random.default_rng(11)
    history = _rows(rng, 2400, start=T0, shift=0.0)
    week = _rows(rng, 900, start=T0 + timedelta(days=30), shift=1.2)
    history.write_parquet(root / "history.parquet")
    week.drop("defaulted", "queue", "price").write_parquet(root / "week.parquet")
    cli = Cli(home)
    for table, path in (("history", "history.parquet"), ("week", "week.parquet")):
        cli("ingest", table, str(root / path), "--key", "id", "--timestamp", "at", "--actor", MAKER)
    # the notebook trains on the same rows mlgov's holdout rule keeps apart: the first 80% by time
    training = history.sort("at").head(int(history.height * 0.8))
    training.write_parquet(root / "training.parquet")
    team_uri = f"sqlite:///{root / 'team-mlflow.db'}"
    done = subprocess.run(
        [
            sys.executable,
            str(NOTEBOOK),
            str(root / "training.parquet"),
            str(root),
            context_for(home).registry.tracking_uri,
            team_uri,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return Notebook(home, json.loads(done.stdout.strip().splitlines()[-1]), team_uri, week)


def _approve(cli: Cli, model: str, version: str) -> None:
    rid = cli.json("promote", "request", model, version, "--actor", MAKER, "--reason", "from the notebook")
    cli("promote", "approve", rid["request_id"], "--actor", REVIEWER_A, "--reason", "holdout fine")
    assert cli.json("promote", "approve", rid["request_id"], "--actor", REVIEWER_B, "--reason", "ok")["status"] == (
        "promoted"
    )


def test_a_lightgbm_model_from_another_tracking_server_is_governed_and_scored_by_its_own_predict(
    notebook: Notebook,
) -> None:
    cli = notebook.cli
    args = notebook.register(
        "credit_lgbm", notebook.logged["lightgbm"], "--source-tracking-uri", notebook.team_uri, target="defaulted"
    )
    registered = cli.json(*args, "--actor", MAKER)
    assert (registered["task"], registered["flavor"], registered["task_inferred"]) == ("binary", "lightgbm", True)
    assert set(registered["metrics"]) >= {"roc_auc", "accuracy", "f1", "brier", "log_loss"}
    assert registered["features"] == ["x1", "x2", "region"]

    # judged on the same holdout train uses: the latest 20% of the table by time
    ctx = context_for(notebook.home)
    history = ctx.store.read("raw/history").sort("at")
    holdout = history.tail(history.height - int(history.height * 0.8))
    with pointed_at(notebook.team_uri):
        original = mlflow.lightgbm.load_model(notebook.logged["lightgbm"])
    own = original.predict_proba(_categories(holdout))[:, 1]
    assert registered["metrics"]["roc_auc"] == pytest.approx(roc_auc_score(holdout["defaulted"].to_numpy(), own))

    # two reviewers promote it; scoring uses LightGBM's own predict_proba
    _approve(cli, "credit_lgbm", registered["version"])
    batch = cli.json("score", "credit_lgbm", "--table", "week", "--actor", MAKER)
    scored = ctx.store.scan(PREDICTIONS).filter(pl.col("batch_id") == batch["batch_id"]).collect()
    expected = original.predict_proba(_categories(notebook.week))[:, 1]
    by_key = dict(zip(scored["entity_key"], scored["score"], strict=True))
    np.testing.assert_allclose([by_key[k] for k in notebook.week["id"]], expected, rtol=0, atol=1e-12)

    # lineage: the table version -> mlgov's run -> the version; the artifact is the notebook's, byte for byte
    graph = lineage_graph(ctx)
    version_id = f"credit_lgbm/{registered['version']}"
    assert any(e.relation == "registered" and e.dst.id == version_id for e in graph)
    assert any(e.relation == "trained" and e.src.id.startswith("raw/history@") for e in graph)
    report = cli.json("monitor", "credit_lgbm")
    (monitored,) = report["batches"]
    assert next(d for d in monitored["drift"] if d["feature"] == "x1")["drifted"]
    assert "roc_auc" in monitored["estimated_performance"]
    # mlgov cannot refit a recipe it does not have: retraining is the notebook's, then a new register
    cli.refused("retrain", "credit_lgbm", "--actor", MAKER, needle="trained outside mlgov")
    assert ctx.audit.verify().ok


def test_a_scikit_learn_pipeline_on_mlgovs_server_registers_as_multiclass(notebook: Notebook) -> None:
    registered = notebook.cli.json(
        *notebook.register("router_pipeline", notebook.logged["pipeline"], target="queue"), "--actor", MAKER
    )
    assert (registered["task"], registered["flavor"]) == ("multiclass", "sklearn")
    assert {"roc_auc", "accuracy", "f1", "recall:tech"} <= set(registered["metrics"])
    _approve(notebook.cli, "router_pipeline", registered["version"])
    batch = notebook.cli.json("score", "router_pipeline", "--table", "week", "--actor", MAKER)
    scored = context_for(notebook.home).store.scan(PREDICTIONS).filter(pl.col("batch_id") == batch["batch_id"])
    classes = scored.select("predicted_class").collect()["predicted_class"]
    assert set(classes.unique()) <= set(QUEUES)


def test_a_local_model_directory_registers_as_regression_and_rmse_gates_it(notebook: Notebook) -> None:
    registered = notebook.cli.json(
        *notebook.register("price_lgbm", notebook.logged["regressor"], target="price"), "--actor", MAKER
    )
    assert (registered["task"], registered["features"]) == ("regression", ["x1", "x2"])
    assert {"mae", "rmse", "mape", "r2"} <= set(registered["metrics"])
    assert registered["metrics"]["r2"] > 0.8
    _approve(notebook.cli, "price_lgbm", registered["version"])
    # a version mlgov trains on one feature of two is compared with it on the same holdout: RMSE gates it
    trained = notebook.cli.json(
        "train", "price_lgbm", "--table", "history", "--target", "price", "--features", "x2", "--actor", MAKER
    )
    assert trained["task"] == "regression"
    assert trained["metrics"]["rmse"] > registered["metrics"]["rmse"] * 1.5
    cli = notebook.cli
    rid = cli.json("promote", "request", "price_lgbm", trained["version"], "--actor", MAKER, "--reason", "simpler")
    cli("promote", "approve", rid["request_id"], "--actor", REVIEWER_A, "--reason", "fewer features")
    second = cli.json("promote", "approve", rid["request_id"], "--actor", REVIEWER_B, "--reason", "ok")
    assert second["status"] != "promoted"
    assert any("rmse" in reason.lower() for reason in second["blocked_by"]), second["blocked_by"]


@pytest.mark.parametrize(
    ("name", "target", "task", "flavor"),
    [("xgboost", "defaulted", "binary", "xgboost"), ("softmax", "queue", "multiclass", "python_function")],
)
def test_xgboost_and_a_custom_pyfunc_register_and_score(
    notebook: Notebook, name: str, target: str, task: str, flavor: str
) -> None:
    model = f"nb_{name}"
    registered = notebook.cli.json(*notebook.register(model, notebook.logged[name], target=target), "--actor", MAKER)
    assert (registered["task"], registered["flavor"]) == (task, flavor)
    assert registered["metrics"]["roc_auc"] > 0.75
    _approve(notebook.cli, model, registered["version"])
    batch = notebook.cli.json("score", model, "--table", "week", "--actor", MAKER)
    assert batch["rows"] == notebook.week.height
    if name == "xgboost":  # XGBoost refuses a category it never saw: one line, nothing written
        west = notebook.week.head(50).with_columns(pl.lit("west").alias("region"), pl.col("id") + "-w")
        west.write_parquet(notebook.home.parent / "west.parquet")
        key = ("--key", "id", "--timestamp", "at", "--actor", MAKER)
        notebook.cli("ingest", "west", str(notebook.home.parent / "west.parquet"), *key)
        before = context_for(notebook.home).store.read(PREDICTIONS).height
        notebook.cli.refused("score", model, "--table", "west", "--actor", MAKER, needle="failed on these rows")
        assert context_for(notebook.home).store.read(PREDICTIONS).height == before


@pytest.mark.parametrize(
    ("name", "extra", "target", "needle"),
    [
        ("labels_only", (), "defaulted", "labels only"),
        ("labels_only", (), "queue", "not class probabilities"),
        ("broken", (), "defaulted", "needs a GPU"),
        ("regressor", ("--task", "binary"), "defaulted", "not probabilities"),
        ("pipeline", ("--task", "regression"), "price", "contradicts the model"),
        ("pipeline", ("--task", "binary"), "defaulted", "multiclass"),
        ("pipeline", (), "defaulted", "never saw"),
    ],
)
def test_bad_models_are_refused_and_leave_nothing(
    notebook: Notebook, name: str, extra: tuple[str, ...], target: str, needle: str
) -> None:
    _refused_cleanly(notebook, notebook.register("refused", notebook.logged[name], *extra, target=target), needle)


@pytest.mark.parametrize(
    ("uri", "extra", "needle"),
    [
        ("runs:/0123456789abcdef0123456789abcdef/model", (), "runs:/0123456789abcdef"),
        ("models:/nobody/1", (), "models:/nobody/1"),
        ("/no/such/directory", (), "neither runs:/"),
        ("{pipeline}", ("--features", "x1,x2"), "signature"),
    ],
)
def test_unknown_or_mismatched_models_are_refused(
    notebook: Notebook, uri: str, extra: tuple[str, ...], needle: str
) -> None:
    uri = uri.format(**notebook.logged)
    _refused_cleanly(notebook, notebook.register("refused", uri, *extra, target="queue"), needle)


def test_a_signature_the_table_does_not_fit_is_refused(notebook: Notebook, tmp_path: Path) -> None:
    narrow = context_for(notebook.home).store.read("raw/history").drop("region")
    narrow.write_parquet(tmp_path / "narrow.parquet")
    notebook.cli(
        "ingest", "narrow", str(tmp_path / "narrow.parquet"), "--key", "id", "--timestamp", "at", "--actor", MAKER
    )
    args = ["register", "refused", "--model-uri", notebook.logged["pipeline"], "--table", "narrow", "--target", "queue"]
    _refused_cleanly(notebook, args, "'region'")


def _refused_cleanly(notebook: Notebook, args: list[str], needle: str) -> None:
    before = len(context_for(notebook.home).audit.records())
    notebook.cli.refused(*args, "--actor", MAKER, needle=needle)
    after = context_for(notebook.home)
    assert "refused" not in {m.name for m in after.registry.models()}
    assert [r.action for r in after.audit.records()[before:]] in ([], ["refused"]), "a refused model left a record"


def _categories(rows: pl.DataFrame) -> pd.DataFrame:
    frame = rows.select("x1", "x2", "region").to_pandas()
    return frame.assign(region=frame["region"].astype("category"))
