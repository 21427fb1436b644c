"""`mlgov serve` on 127.0.0.1: the governed champion answers, the challenger shadows, every answer
reaches serving/requests, bad requests are refused, and a served window is monitored like a batch."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import polars as pl
import pytest
import uvicorn

from governance.promotion import SHADOW_ALIAS
from lakehouse.schemas import PREDICTIONS, SERVING_REQUESTS
from pipelines.jobs.promote import approve, request_promotion
from pipelines.reads.versions import version_model, version_recipe
from pipelines.serving.app import ServeOptions, Serving, build_app
from pipelines.serving.champion import Unverified, load_version
from pipelines.serving.contract import Limits
from pipelines.serving.fastpath import RequestScorer
from tests.cli_harness import Cli
from tests.conftest import MAKER, REVIEWER_A, REVIEWER_B, Seeded, context_for, flip_artifact, train_loan_model
from tests.servers import free_port

MODEL = "loan_default"
PREDICT = f"/v1/models/{MODEL}/predict"


@dataclass
class Running:
    url: str
    serving: Serving
    server: uvicorn.Server

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30)


@contextmanager
def running(home: Path) -> Iterator[Running]:
    """The server in a thread of this process, on a free port, stopped gracefully (log flushed)."""
    options = ServeOptions(model=MODEL, refresh_seconds=0.2, flush_seconds=0.2)
    serving = Serving(context_for(home), options)
    serving.open()
    port = free_port()
    config = uvicorn.Config(build_app(serving), host="127.0.0.1", port=port, log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        assert thread.is_alive(), "the server did not start"
        time.sleep(0.02)
    try:
        yield Running(url=f"http://127.0.0.1:{port}", serving=serving, server=server)
    finally:
        server.should_exit = True
        thread.join(timeout=60)


def wait_for(condition: Any, *, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.05)


def served_rows(home: Path) -> pl.DataFrame:
    ctx = context_for(home)
    if not ctx.store.exists(SERVING_REQUESTS):
        return pl.DataFrame(schema={"request_id": pl.String, "role": pl.String})
    return ctx.store.read(SERVING_REQUESTS)


@pytest.fixture(scope="module")
def home(seeded_template: Seeded, tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("serving") / "home"
    shutil.copytree(seeded_template.home, home)
    return home


@pytest.fixture(scope="module")
def week0(seeded_template: Seeded, home: Path) -> pl.DataFrame:
    """Week 0's rows with the loan model's features, and their keys."""
    spec = version_recipe(context_for(home), MODEL, "1").spec
    return seeded_template.dataset.weeks[0].select(seeded_template.dataset.key, *spec.columns)


def inputs(rows: pl.DataFrame) -> list[dict[str, Any]]:
    return rows.drop(rows.columns[0]).to_dicts()


@pytest.fixture(scope="module")
def server(home: Path) -> Iterator[Running]:
    with running(home) as server:
        yield server


def test_the_governed_champion_answers_as_batch_scoring_does(
    server: Running, home: Path, week0: pl.DataFrame, seeded_template: Seeded
) -> None:
    rows = week0.head(25)
    with server.client() as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        assert client.get("/readyz").json()["champion"] == "1"
        answer = client.post(PREDICT, json={"inputs": inputs(rows)}).json()
        assert "model_version" in answer, answer
    assert answer["model_version"] == "1"
    assert len(answer["predictions"]) == 25
    batch = (
        context_for(home)
        .store.scan(PREDICTIONS)
        .filter(pl.col("batch_id") == seeded_template.batch_ids[0])
        .select("entity_key", "score", "predicted_label")
        .collect()
    )
    expected = rows.select(pl.col(rows.columns[0]).cast(pl.String).alias("entity_key")).join(
        batch, on="entity_key", how="left", maintain_order="left"
    )
    # the same model on the same rows; a matrix of other rows around them may round the last bit otherwise
    assert [p["score"] for p in answer["predictions"]] == pytest.approx(expected["score"].to_list(), abs=1e-12)
    assert [p["predicted_label"] for p in answer["predictions"]] == expected["predicted_label"].to_list()


def test_request_sized_scoring_gives_batch_scoring_numbers_bit_for_bit(home: Path, week0: pl.DataFrame) -> None:
    ctx = context_for(home)
    served = load_version(ctx, model=MODEL, version="1", role="champion", limits=Limits())
    assert isinstance(served.estimator, RequestScorer)
    recipe = version_recipe(ctx, MODEL, "1")
    _, frame = served.contract.parse(json.dumps({"inputs": inputs(week0)}).encode())
    estimator = version_model(ctx, MODEL, "1", recipe)
    batch = served.kind.outputs(estimator, frame, recipe.spec, chunk_rows=1000)
    assert np.array_equal(served.predict(frame)["score"], batch)
    for i in range(5):  # one row at a time, categories remembered from the rows before
        row = frame.slice(i, 1)
        single = served.kind.outputs(estimator, row, recipe.spec, chunk_rows=1000)
        assert np.array_equal(served.predict(row)["score"], single)


@pytest.mark.parametrize(
    ("body", "status", "needle", "reason"),
    [
        (b"{not json", 400, "not valid JSON", "bad_json"),
        (b'{"rows": []}', 422, '{"inputs"', "bad_shape"),
        ("missing", 422, "is missing", "missing_field"),
        ("extra", 422, "'colour' is not an input", "extra_field"),
        ("wrong_type", 422, "expected a number", "wrong_type"),
        ("nan", 422, "NaN", "not_finite"),
        ("too_many", 413, "above the limit of 1000", "batch_too_large"),
        ("too_big", 413, "above the limit", "body_too_large"),
    ],
)
def test_a_request_that_breaks_the_contract_is_refused_in_one_line_and_never_logged(
    server: Running, week0: pl.DataFrame, body: Any, status: int, needle: str, reason: str
) -> None:
    row = inputs(week0.head(1))[0]
    numeric = next(name for name, value in row.items() if isinstance(value, float))
    bodies = {
        "missing": {"inputs": [{k: v for k, v in row.items() if k != numeric}]},
        "extra": {"inputs": [{**row, "colour": "red"}]},
        "wrong_type": {"inputs": [{**row, numeric: "lots"}]},
        "too_many": {"inputs": [row] * 1001},
        "too_big": {"inputs": [{**row, "padding": "x" * (1 << 20)}]},
    }
    if body == "nan":
        content = json.dumps({"inputs": [{**row, numeric: float("nan")}]}).encode()
    else:
        content = json.dumps(bodies[body]).encode() if isinstance(body, str) else body
    with server.client() as client:
        before = server.serving.metrics.rejections.labels(MODEL, reason)._value.get()
        server.serving.log.flush()
        logged = served_rows(server_home(server)).height
        response = client.post(PREDICT, content=content, headers={"content-type": "application/json"})
    assert response.status_code == status, response.text
    message = response.json()["error"]
    assert needle in message
    assert "\n" not in message
    assert server.serving.metrics.rejections.labels(MODEL, reason)._value.get() == before + 1
    server.serving.log.flush()
    assert served_rows(server_home(server)).height == logged
    with server.client() as client:
        assert f'reason="{reason}"' in client.get("/metrics").text


def server_home(server: Running) -> Path:
    return server.serving.ctx.settings.home


def test_a_challenger_shadows_and_a_promotion_switches_versions_without_a_failed_request(
    server: Running, home: Path, week0: pl.DataFrame, seeded_template: Seeded
) -> None:
    ctx = context_for(home)
    trained = train_loan_model(ctx, seeded_template.dataset)
    shadow = request_promotion(
        ctx, model=MODEL, version=trained.version, alias=SHADOW_ALIAS, reason="shadow it", actor=MAKER
    )
    approve(ctx, request_id=shadow.request_id, reason="harmless", actor=REVIEWER_A)
    with server.client() as client:
        wait_for(lambda: client.get("/readyz").json()["challenger"] == trained.version)
        shadowed = client.post(PREDICT, json={"inputs": inputs(week0.slice(30, 10))}).json()
    wait_for(lambda: server.serving.shadow.idle())
    server.serving.log.flush()
    errors = server.serving.metrics.flush_errors.labels(MODEL)._value.get()
    assert errors == 0, errors
    logged = served_rows(home).filter(pl.col("request_id") == shadowed["request_id"])
    assert sorted(logged["role"].unique().to_list()) == ["challenger", "champion"]
    assert logged.filter(pl.col("role") == "challenger")["model_version"].unique().to_list() == [trained.version]
    assert logged.height == 20

    answers: list[tuple[int, str | None]] = []
    stop = threading.Event()

    def stream() -> None:
        with server.client() as client:
            i = 0
            while not stop.is_set():
                response = client.post(PREDICT, json={"inputs": inputs(week0.slice(i % 300, 1))})
                answers.append((response.status_code, response.json().get("model_version")))
                i += 1

    streamer = threading.Thread(target=stream)
    streamer.start()
    try:
        wait_for(lambda: len(answers) > 20)
        promotion = request_promotion(ctx, model=MODEL, version=trained.version, reason="better", actor=MAKER)
        approve(ctx, request_id=promotion.request_id, reason="holdout fine", actor=REVIEWER_A)
        approve(ctx, request_id=promotion.request_id, reason="agree", actor=REVIEWER_B)
        wait_for(lambda: answers[-1][1] == trained.version)
        seen = len(answers)
        wait_for(lambda: len(answers) > seen + 20)
    finally:
        stop.set()
        streamer.join()
    assert {status for status, _ in answers} == {200}
    versions = [version for _, version in answers]
    switched = versions.index(trained.version)
    assert set(versions[:switched]) == {"1"}
    assert set(versions[switched:]) == {trained.version}


def test_the_inference_table_holds_every_answered_request_once_after_a_graceful_stop(
    home: Path, week0: pl.DataFrame
) -> None:
    with running(home) as server, server.client() as client:  # a second server on the same lakehouse
        ids = [client.post(PREDICT, json={"inputs": inputs(week0.slice(i, 2))}).json()["request_id"] for i in range(30)]
    table = served_rows(home).filter(pl.col("role") == "champion")
    mine = table.filter(pl.col("request_id").is_in(ids))
    assert mine.height == 60
    assert mine.select("request_id", "row").is_unique().all()
    assert not table.select("request_id", "row").is_duplicated().any()


def test_a_server_refuses_to_start_when_mlflow_disagrees_with_the_governed_record(home: Path, tmp_path: Path) -> None:
    copy = tmp_path / "home"
    shutil.copytree(home, copy)
    ctx = context_for(copy)
    ctx.registry.delete_alias(MODEL, "champion")  # behind mlgov's back
    with pytest.raises(Unverified, match="nothing is served from the disagreement"):
        Serving(ctx, ServeOptions(model=MODEL)).open()


def test_a_server_refuses_to_start_when_the_champion_files_are_not_the_registered_ones(home: Path) -> None:
    ctx = context_for(home)
    champion = ctx.registry.alias_version(MODEL, "champion")
    assert champion is not None
    flip_artifact(ctx, MODEL, champion)
    try:
        with pytest.raises(Unverified, match="not served"):
            Serving(ctx, ServeOptions(model=MODEL)).open()
    finally:
        flip_artifact(ctx, MODEL, champion)  # the files are shared with the session's lakehouse


def test_a_served_window_is_a_batch_monitoring_and_shadow_comparison_read(home: Path) -> None:
    from pipelines.jobs.monitor import monitor
    from pipelines.reads.lineage import prediction_lineage
    from pipelines.reads.shadow import shadow_comparison
    from pipelines.serving.windows import batch_served_window

    ctx = context_for(home)
    now = datetime.now(UTC)
    window = batch_served_window(ctx, model=MODEL, start=now - timedelta(hours=1), end=now, actor=MAKER)
    again = batch_served_window(ctx, model=MODEL, start=now - timedelta(hours=1), end=now, actor=MAKER)
    assert again == window  # the same window again adds nothing
    cli = Cli(home)
    window_options = ("--from", window.start.isoformat(), "--to", window.end.isoformat(), "--actor", MAKER)
    made = cli.json("serve-batch", MODEL, *window_options)
    assert [b["batch_id"] for b in made["batches"]] == [b.batch_id for b in window.batches]
    roles = {(b.model_version, b.role) for b in window.batches}
    assert ("1", "champion") in roles
    assert ("2", "challenger") in roles
    assert ("2", "champion") in roles
    report = monitor(ctx, model=MODEL)
    served = {b.batch_id: b for b in report.batches if b.batch_id in {w.batch_id for w in window.batches}}
    assert served
    assert all(b.drift for b in served.values())
    first = next(b for b in window.batches if b.role == "champion" and b.model_version == "1")
    key = ctx.store.scan(PREDICTIONS).filter(pl.col("batch_id") == first.batch_id).select("entity_key").head(1)
    traced = prediction_lineage(ctx, prediction_id=f"{first.batch_id}:{key.collect().item()}")
    assert traced["training_table"] is not None
    assert traced["input_table"]["table"] == "raw/served_loan_default"
    comparison = shadow_comparison(ctx, model=MODEL, version="2")
    assert any(c["challenger_batch"] in {b.batch_id for b in window.batches} and c["rows"] for c in comparison)


@contextmanager
def server_process(home: Path, port: int, *, workers: int) -> Iterator[subprocess.Popen[bytes]]:
    """`mlgov serve` as a user runs it, in a session of its own (so a kill reaches its workers)."""
    command = [str(Path(sys.executable).parent / "mlgov"), "serve", MODEL, "--port", str(port), "--refresh", "0.5"]
    process = subprocess.Popen(
        [*command, "--workers", str(workers)],
        env={**os.environ, "MLGOV_HOME": str(home)},
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
            assert time.monotonic() < deadline, "the server did not become ready"
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.mark.slow
def test_every_acknowledged_request_is_in_the_table_once_through_a_kill_9_and_a_restart(
    home: Path, week0: pl.DataFrame, tmp_path: Path
) -> None:
    copy = tmp_path / "home"
    shutil.copytree(home, copy)
    port = free_port()
    acknowledged: list[str] = []

    def stream(offset: int) -> None:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            for i in range(10_000):
                try:
                    response = client.post(PREDICT, json={"inputs": inputs(week0.slice((offset + i) % 400, 1))})
                except httpx.TransportError:
                    return  # the server is gone
                acknowledged.append(response.json()["request_id"])

    with server_process(copy, port, workers=2) as first:
        streams = [threading.Thread(target=stream, args=(n * 100,)) for n in range(3)]
        for thread in streams:
            thread.start()
        wait_for(lambda: len(acknowledged) >= 300, seconds=120)
        os.killpg(first.pid, signal.SIGKILL)  # the server and its workers, mid-stream
        for thread in streams:
            thread.join()
    killed_at = len(acknowledged)
    with server_process(copy, port, workers=1) as second:  # replays the dead workers' logs as it starts
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
            for i in range(20):
                acknowledged.append(
                    client.post(PREDICT, json={"inputs": inputs(week0.slice(i, 1))}).json()["request_id"]
                )
        second.send_signal(signal.SIGTERM)  # graceful: flushes its log (uvicorn then re-raises the signal)
        assert second.wait(timeout=60) in (0, -signal.SIGTERM)
    table = served_rows(copy)
    assert killed_at >= 300
    assert set(acknowledged) <= set(table["request_id"])
    assert table.filter(pl.col("request_id").is_in(acknowledged)).height == len(acknowledged)
    assert not table.select("request_id", "row", "role").is_duplicated().any()


def test_mlgov_serve_refuses_in_one_line_to_serve_a_model_without_a_champion(empty_home: Path) -> None:
    cli = Cli(empty_home)
    cli.refused("serve", MODEL, "--port", str(free_port()), needle="is not registered")
    window = ("--from", "2026-06-02", "--to", "2026-06-01", "--actor", MAKER)
    cli.refused("serve-batch", MODEL, *window, needle="is not before")
