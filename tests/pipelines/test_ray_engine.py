"""`--engine ray` on a real local Ray cluster (one head on 127.0.0.1) against the in-process engine on
copies of the same lakehouse: the same scores bit for bit, the same drift statistics and verdicts,
the same quality results, the same segments and fairness, with and without feature tables joined, with the lakehouse on local disk or
in S3; the workers' CPU in ops/runs; an address nobody answers at refused."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from lakehouse.schemas import BATCHES, DRIFT, FAIRNESS, FEATURE_SKEW, PREDICTIONS, QUALITY, RUNS, SEGMENTS
from pipelines.context import build_context
from tests.cli_harness import Cli
from tests.conftest import ADMIN, Seeded, context_for
from tests.pipelines import test_feature_tables as features
from tests.pipelines.test_feature_tables import built  # noqa: F401  (the feature-table home, a fixture)
from tests.servers import RAY_ENV, RayHead, S3Server, free_port, ray_head

pytestmark = pytest.mark.slow
MODEL = "loan_default"


@pytest.fixture(scope="module")
def cluster() -> Iterator[RayHead]:
    saved = {key: os.environ.get(key) for key in RAY_ENV}
    os.environ.update(RAY_ENV)  # this process is the driver: it must advertise loopback too
    try:
        with ray_head(num_cpus=1) as head:
            yield head
            import ray

            ray.shutdown()
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@dataclass(frozen=True)
class Homes:
    """Two copies of one lakehouse, each with the whole applications table scored and then monitored,
    by the engine of its name; and how much CPU the cluster's workers spent in each ray command."""

    home: dict[str, Path]
    worker_cpu: dict[str, float]


@pytest.fixture(scope="module")
def homes(seeded_template: Seeded, tmp_path_factory: pytest.TempPathFactory, cluster: RayHead) -> Homes:
    from pipelines.jobs.engines import open_engine

    homes, worker_cpu = {}, {}
    for engine in ("local", "ray"):
        home = tmp_path_factory.mktemp(engine) / "home"
        shutil.copytree(seeded_template.home, home)
        cli = Cli(home, env={"MLGOV_RAY_ADDRESS": cluster.address})
        ctx = build_context({"MLGOV_HOME": str(home), "MLGOV_RAY_ADDRESS": cluster.address}, cwd=home)
        probe = open_engine(ctx, engine)
        cli("model", "set", MODEL, "--segment", "home_ownership", "--protected", "home_ownership", "--actor", ADMIN)
        for command in (
            ("score", MODEL, "--table", "applications", "--actor", "maya", "--engine", engine),
            ("monitor", MODEL, "--engine", engine),
        ):
            before = probe.cpu_seconds()
            cli.json(*command)
            worker_cpu[command[0]] = probe.cpu_seconds() - before
        homes[engine] = home
    return Homes(home=homes, worker_cpu=worker_cpu)


def _rows(home: Path, table: str) -> pl.DataFrame:
    return context_for(home).store.read(table)


def _new_batch(home: Path) -> str:
    runs = _rows(home, PREDICTIONS)
    batches = runs.group_by("batch_id").agg(pl.col("input_table").first(), pl.len()).sort("len", descending=True)
    return str(batches["batch_id"][0])  # the whole table: the largest batch


def test_scores_are_bit_identical(homes: Homes) -> None:
    local, ray = (_rows(homes.home[e], PREDICTIONS) for e in ("local", "ray"))
    batch = _new_batch(homes.home["local"])
    assert batch == _new_batch(homes.home["ray"])
    mine = local.filter(pl.col("batch_id") == batch).sort("entity_key")
    theirs = ray.filter(pl.col("batch_id") == batch).sort("entity_key")
    assert mine.height == theirs.height > 500
    assert mine["entity_key"].to_list() == theirs["entity_key"].to_list()
    assert mine["event_ts"].to_list() == theirs["event_ts"].to_list()
    assert mine["score"].to_numpy().tobytes() == theirs["score"].to_numpy().tobytes()  # bit for bit
    assert mine["predicted_label"].to_list() == theirs["predicted_label"].to_list()


def test_drift_and_quality_agree(homes: Homes) -> None:
    batch = _new_batch(homes.home["local"])
    drift = {
        e: _rows(homes.home[e], DRIFT).filter(pl.col("batch_id") == batch).sort("feature") for e in ("local", "ray")
    }
    assert drift["local"].height == drift["ray"].height > 0
    for mine, theirs in zip(drift["local"].iter_rows(named=True), drift["ray"].iter_rows(named=True), strict=True):
        assert (mine["feature"], mine["method"], mine["drifted"]) == (
            theirs["feature"],
            theirs["method"],
            theirs["drifted"],
        )
        assert abs(mine["statistic"] - theirs["statistic"]) <= 1e-9
        assert mine["current_rows"] == theirs["current_rows"]
    quality = {
        e: _rows(homes.home[e], QUALITY)
        .filter(pl.col("batch_id") == batch)
        .sort("check", "column")
        .drop("computed_at", "run_id")
        for e in ("local", "ray")
    }
    assert quality["local"].height > 0
    assert quality["local"].equals(quality["ray"])


def test_segments_and_fairness_agree(homes: Homes) -> None:
    for table, order in (
        (SEGMENTS, ["batch_id", "kind", "segment", "metric"]),
        (FAIRNESS, ["batch_id", "group", "metric"]),
    ):
        local, ray = (_rows(homes.home[e], table).drop("computed_at", "run_id").sort(order) for e in ("local", "ray"))
        assert local.height > 0, table
        assert local.equals(ray), table
    chosen = _rows(homes.home["ray"], SEGMENTS).filter(pl.col("columns") == "home_ownership")
    assert chosen.height > 0  # the chosen column was sliced on the ray engine's run too


def test_the_run_records_count_the_workers_cpu(homes: Homes) -> None:
    runs = _rows(homes.home["ray"], RUNS).filter(pl.col("job").is_in(["score", "monitor"])).sort("started_at")
    latest = {row["job"]: row for row in runs.iter_rows(named=True)}
    for job in ("score", "monitor"):
        assert latest[job]["status"] == "succeeded"
        assert homes.worker_cpu[job] > 0  # the work ran on the cluster
        assert latest[job]["cpu_seconds"] >= homes.worker_cpu[job] * 0.95


def test_an_address_nobody_answers_at_is_refused(seeded: Seeded) -> None:
    cli = Cli(seeded.home, env={"MLGOV_RAY_ADDRESS": f"127.0.0.1:{free_port()}"})
    before = _rows(seeded.home, PREDICTIONS).height
    message = cli.refused(
        "score", MODEL, "--table", "applications", "--actor", "maya", "--engine", "ray", needle="no Ray cluster answers"
    )
    assert "MLGOV_RAY_ADDRESS" in message
    cli.refused("monitor", MODEL, "--engine", "ray", needle="no Ray cluster answers")
    assert _rows(seeded.home, PREDICTIONS).height == before


def test_an_unknown_engine_is_refused(seeded: Seeded) -> None:
    Cli(seeded.home, env={"MLGOV_ENGINE": "spark"}).refused(
        "monitor", MODEL, needle="MLGOV_ENGINE='spark': expected one of local, ray"
    )


@pytest.fixture(scope="module")
def joined_homes(
    built: tuple[Path, dict[str, object]],  # noqa: F811 (the imported fixture)
    tmp_path_factory: pytest.TempPathFactory,
    cluster: RayHead,
) -> dict[str, Path]:
    """The feature-table home (a model trained on two feature tables, joined as of each row), copied
    once per engine; in each, more applications arrive and are scored and monitored by that engine,
    in parts of 50 rows (so the ray engine joins each part on its own)."""
    more = pl.DataFrame(
        {
            "loan_id": [f"B{i:04d}" for i in range(features.NEW_CUSTOMERS)],
            "customer_id": [f"n{i:04d}" for i in range(features.NEW_CUSTOMERS)],
            "applied_at": [features.SCORE_FROM + timedelta(hours=90 + i) for i in range(features.NEW_CUSTOMERS)],
            "amount": np.random.default_rng(11).normal(1100, 120, features.NEW_CUSTOMERS),
        }
    )
    homes = {}
    for engine in ("local", "ray"):
        home = tmp_path_factory.mktemp(f"joined-{engine}") / "home"
        shutil.copytree(built[0], home)
        cli = Cli(home, env={"MLGOV_RAY_ADDRESS": cluster.address, "MLGOV_SCORE_CHUNK_ROWS": "50"})
        features._ingest(cli, home.parent, "applications", more, key="loan_id", timestamp="applied_at")
        cli.json("score", "credit", "--table", "applications", "--actor", features.MAKER, "--engine", engine)
        cli.json("monitor", "credit", "--engine", engine)
        homes[engine] = home
    return homes


def test_feature_table_joins_score_the_same_on_ray(joined_homes: dict[str, Path]) -> None:
    """The ray engine joins the feature tables itself, part by part: the same scores bit for bit, the
    same skew, the same drift and quality over the joined columns."""
    latest = {}
    for engine, home in joined_homes.items():
        batches = _rows(home, BATCHES).filter(pl.col("model") == "credit").sort("scored_at")
        latest[engine] = str(batches["batch_id"][-1])
    assert latest["local"] == latest["ray"]
    batch = latest["local"]
    local, ray = (
        _rows(joined_homes[e], PREDICTIONS).filter(pl.col("batch_id") == batch).sort("entity_key")
        for e in ("local", "ray")
    )
    assert local.height == ray.height == 2 * features.NEW_CUSTOMERS
    assert local["entity_key"].to_list() == ray["entity_key"].to_list()
    assert local["score"].to_numpy().tobytes() == ray["score"].to_numpy().tobytes()
    skew = {
        e: _rows(joined_homes[e], FEATURE_SKEW).filter(pl.col("batch_id") == batch).sort("feature")
        for e in ("local", "ray")
    }
    columns = ["feature", "rows", "differing_rows", "share"]
    assert skew["local"].height == 2
    assert skew["local"].select(columns).equals(skew["ray"].select(columns))
    drift = {
        e: _rows(joined_homes[e], DRIFT).filter(pl.col("batch_id") == batch).sort("feature") for e in ("local", "ray")
    }
    assert {"spend_30d", "risk_score"} <= set(drift["local"]["feature"].to_list())
    assert drift["local"]["drifted"].to_list() == drift["ray"]["drifted"].to_list()
    assert (drift["local"]["statistic"] - drift["ray"]["statistic"]).abs().max() <= 1e-9  # type: ignore[operator]
    quality = {
        e: _rows(joined_homes[e], QUALITY)
        .filter(pl.col("batch_id") == batch)
        .sort("check", "column")
        .drop("computed_at", "run_id")
        for e in ("local", "ray")
    }
    assert quality["local"].height > 0
    assert quality["local"].equals(quality["ray"])


def test_the_ray_engine_scores_and_monitors_a_lakehouse_in_s3(
    homes: Homes, seeded_template: Seeded, s3: S3Server, cluster: RayHead, tmp_path: Path
) -> None:
    """The seeded lakehouse moved into a bucket of the S3 server: `score` and `monitor` on the ray
    engine read it there (Daft and the workers with the same credentials) and commit to it, with the
    results of the in-process engine on local disk."""
    bucket = s3.create_bucket(f"mlgov-ray-{uuid.uuid4().hex[:12]}")
    home = tmp_path / "home"
    shutil.copytree(seeded_template.home, home)
    client = s3.client()
    for path in (home / "lakehouse").rglob("*"):
        if path.is_file():
            client.upload_file(str(path), bucket, f"lake/{path.relative_to(home / 'lakehouse').as_posix()}")
    shutil.rmtree(home / "lakehouse")
    env = {**s3.env(), "MLGOV_LAKEHOUSE": f"s3://{bucket}/lake", "MLGOV_RAY_ADDRESS": cluster.address}
    cli = Cli(home, env=env)
    cli.json("score", MODEL, "--table", "applications", "--actor", "maya", "--engine", "ray")
    cli.json("monitor", MODEL, "--engine", "ray")
    assert not (home / "lakehouse").exists()
    in_s3 = build_context({"MLGOV_HOME": str(home), **env}, cwd=home).store

    batch = _new_batch(homes.home["local"])
    mine = _rows(homes.home["local"], PREDICTIONS).filter(pl.col("batch_id") == batch).sort("entity_key")
    theirs = in_s3.read(PREDICTIONS).filter(pl.col("batch_id") == batch).sort("entity_key")
    assert mine.height == theirs.height > 500
    assert mine["entity_key"].to_list() == theirs["entity_key"].to_list()
    assert mine["score"].to_numpy().tobytes() == theirs["score"].to_numpy().tobytes()
    drift = {
        "local": _rows(homes.home["local"], DRIFT).filter(pl.col("batch_id") == batch).sort("feature"),
        "s3": in_s3.read(DRIFT).filter(pl.col("batch_id") == batch).sort("feature"),
    }
    assert drift["local"].height == drift["s3"].height > 0
    assert drift["local"]["drifted"].to_list() == drift["s3"]["drifted"].to_list()
    assert (drift["local"]["statistic"] - drift["s3"]["statistic"]).abs().max() <= 1e-9  # type: ignore[operator]
    quality = {
        "local": _rows(homes.home["local"], QUALITY),
        "s3": in_s3.read(QUALITY),
    }
    for where, rows in quality.items():
        quality[where] = rows.filter(pl.col("batch_id") == batch).sort("check", "column").drop("computed_at", "run_id")
    assert quality["local"].height > 0
    assert quality["local"].equals(quality["s3"])
