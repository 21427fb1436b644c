"""The HTTP server: the governed champion answers, the challenger shadows, every answer is logged.

    POST /v1/models/MODEL/predict  {"inputs": [{...}, ...]} -> {"predictions": [...], "model_version", "request_id"}
    GET  /healthz   the process is up
    GET  /readyz    a verified champion is served (503 with the reason otherwise)
    GET  /metrics   Prometheus text

A request is answered by the champion it found when it arrived, written to the inference log, then
answered; the challenger (if one is approved) scores the same rows on a thread of its own, afterwards,
through a bounded queue: a slow or failing challenger never slows or fails a caller.
"""

from __future__ import annotations

import json
import queue
import threading
import time
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import polars as pl
from fastapi import FastAPI, Request
from fastapi.responses import Response

from governance.errors import MlgovError
from lakehouse.delta import CommitInfo
from lakehouse.schemas import SERVING_REQUESTS, check_model_name
from pipelines.context import Context
from pipelines.reads.feature_tables import LookedUp
from pipelines.serving.champion import SYSTEM_ACTOR, Unverified, VersionWatch
from pipelines.serving.contract import Limits, Rejection, RequestRejected
from pipelines.serving.log import Answer, InferenceLog
from pipelines.serving.metrics import ServingMetrics

_JSON = "application/json"


@dataclass(frozen=True)
class ServeOptions:
    model: str
    limits: Limits = field(default_factory=Limits)
    refresh_seconds: float = 2.0  # how often the governed record is re-read
    flush_seconds: float = 1.0  # how often the log is written into serving/requests
    shadow_queue: int = 10_000  # requests waiting for the challenger before the newest are dropped


@dataclass(frozen=True)
class _ShadowJob:
    request_id: str
    received_at: datetime
    caller: str
    inputs: list[dict[str, Any]]
    frame: pl.DataFrame
    answered: float  # perf_counter when the champion answered


class Shadow:
    """The challenger's scoring, off the request path: one thread draining a bounded queue."""

    def __init__(self, *, watch: VersionWatch, log: InferenceLog, metrics: ServingMetrics, capacity: int) -> None:
        self._watch = watch
        self._log = log
        self._metrics = metrics
        self._queue: queue.Queue[_ShadowJob | None] = queue.Queue(maxsize=capacity)
        self._thread = threading.Thread(target=self._loop, name="mlgov-serve-shadow", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def submit(self, job: _ShadowJob) -> None:
        try:
            self._queue.put_nowait(job)
        except queue.Full:
            self._metrics.shadow_dropped.labels(self._metrics.model, "queue_full").inc()

    def idle(self) -> bool:
        """Whether every request queued so far has been scored (or dropped)."""
        return self._queue.unfinished_tasks == 0

    def _loop(self) -> None:
        while (job := self._queue.get()) is not None:
            try:
                self._score(job)
            finally:
                self._queue.task_done()

    def _score(self, job: _ShadowJob) -> None:
        self._metrics.shadow_backlog.labels(self._metrics.model).set(self._queue.qsize())
        challenger = self._watch.challenger
        if challenger is None:
            return  # withdrawn or promoted since the request was queued
        try:
            frame, looked_up = challenger.complete(job.frame, at=job.received_at)
            outputs = challenger.predict(frame)
        except Exception:  # whatever the challenger does wrong stays with the challenger
            self._metrics.shadow_dropped.labels(self._metrics.model, "failed").inc()
            return
        latency = (datetime.now(UTC) - job.received_at).total_seconds() * 1000
        self._log.record(
            Answer(
                request_id=job.request_id,
                model=challenger.model,
                model_version=challenger.version,
                role=challenger.role,
                received_at=job.received_at,
                caller=job.caller,
                inputs=job.inputs,
                outputs=_plain(outputs),
                latency_ms=latency,
                **_served_features(looked_up),
            )
        )
        self._metrics.shadow_lag.labels(self._metrics.model).observe(time.perf_counter() - job.answered)

    def stop(self) -> None:
        """Score what is queued, then stop (graceful shutdown)."""
        self._queue.put(None)
        self._thread.join(timeout=60)


class Serving:
    """Everything one server process runs: the version watch, the log, the shadow, the metrics."""

    def __init__(self, ctx: Context, options: ServeOptions) -> None:
        check_model_name(options.model)
        self.ctx = ctx
        self.options = options
        self.metrics = ServingMetrics(options.model)
        self.commit = CommitInfo(run_id=uuid.uuid4().hex, job="serve", actor=SYSTEM_ACTOR)
        self.watch = VersionWatch(
            ctx,
            model=options.model,
            limits=options.limits,
            interval=options.refresh_seconds,
            on_change=self._versions_changed,
        )
        self.log = InferenceLog(
            ctx.settings.home / "serving" / options.model / "log",
            append=self._append,
            present=self._present,
            flush_seconds=options.flush_seconds,
            on_error=lambda error: self.metrics.flush_errors.labels(options.model).inc(),
        )
        self.shadow = Shadow(watch=self.watch, log=self.log, metrics=self.metrics, capacity=options.shadow_queue)

    def open(self) -> int:
        """Replay what a dead server left and resolve the champion; Unverified when there is none to
        serve (the server then does not start). Returns the answers replayed."""
        ctx = self.ctx
        ctx.registry.require_model(self.options.model)
        replayed = self.log.open()
        self.watch.resolve()
        if self.watch.champion is None:
            self.log.close()
            raise Unverified(f"not serving {self.options.model}: {self.watch.problem}")
        return replayed

    def start(self) -> None:
        self.log.start()
        self.shadow.start()
        self.watch.start()

    def stop(self) -> None:
        self.watch.stop()
        self.shadow.stop()
        self.log.close()

    def _append(self, frame: pl.DataFrame) -> None:
        self.ctx.store.append(SERVING_REQUESTS, frame, commit=self.commit)

    def _present(self, request_ids: Sequence[str]) -> pl.DataFrame:
        if not self.ctx.store.exists(SERVING_REQUESTS):
            return pl.DataFrame(schema={"request_id": pl.String, "role": pl.String})
        return (
            self.ctx.store.scan(SERVING_REQUESTS)
            .filter((pl.col("model") == self.options.model) & pl.col("request_id").is_in(request_ids))
            .select("request_id", "role")
            .unique()
            .collect()
        )

    def _versions_changed(self, watch: VersionWatch) -> None:
        for role, served in (("champion", watch.champion), ("challenger", watch.challenger)):
            self.metrics.version.labels(self.options.model, role).set(int(served.version) if served else 0)


def build_app(serving: Serving) -> FastAPI:
    """The ASGI app over an opened `Serving`; its lifespan starts the threads and, on shutdown, lets
    the challenger finish and flushes the log."""
    options, metrics, model = serving.options, serving.metrics, serving.options.model

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        serving.start()
        try:
            yield
        finally:
            serving.stop()

    app = FastAPI(title=f"mlgov serve {model}", lifespan=lifespan, docs_url=None, redoc_url=None)

    @app.get("/healthz")
    def healthz() -> Response:
        return _json({"status": "ok"})

    @app.get("/readyz")
    def readyz() -> Response:
        champion, challenger = serving.watch.champion, serving.watch.challenger
        metrics.ready.labels(model).set(1 if champion else 0)
        if champion is None:
            return _json({"ready": False, "model": model, "problem": serving.watch.problem}, status=503)
        document = {
            "ready": True,
            "model": model,
            "champion": champion.version,
            "challenger": challenger.version if challenger else None,
        }
        return _json(document)

    @app.get("/metrics")
    def prometheus() -> Response:
        metrics.log_pending.labels(model).set(serving.log.pending)
        return Response(metrics.exposition(), media_type="text/plain; version=0.0.4; charset=utf-8")

    @app.post("/v1/models/{name}/predict")
    async def predict(name: str, request: Request) -> Response:
        started, received_at = time.perf_counter(), datetime.now(UTC)
        if name != model:
            metrics.requests.labels(model, "rejected").inc()
            metrics.rejections.labels(model, "unknown_model").inc()
            return _error(f"this server serves model {model!r}, not {name!r}", status=404)
        champion = serving.watch.champion
        if champion is None:
            metrics.requests.labels(model, "unavailable").inc()
            return _error(f"no verified champion to serve: {serving.watch.problem}", status=503)
        try:
            body = await _body(request, limit=options.limits.max_bytes)
            inputs, frame = champion.contract.parse(body)
        except RequestRejected as rejected:
            metrics.requests.labels(model, "rejected").inc()
            metrics.rejections.labels(model, rejected.reason.value).inc()
            return _error(str(rejected), status=rejected.status)
        try:
            frame, looked_up = champion.complete(frame, at=received_at)
        except RequestRejected as rejected:
            metrics.requests.labels(model, "rejected").inc()
            metrics.rejections.labels(model, rejected.reason.value).inc()
            return _error(str(rejected), status=rejected.status)
        try:
            outputs = _plain(champion.predict(frame))
        except (MlgovError, ValueError, TypeError) as failure:
            metrics.requests.labels(model, "error").inc()
            return _error(f"{model} version {champion.version} could not score the request: {failure}", status=500)
        request_id = uuid.uuid4().hex
        caller = request.headers.get("x-mlgov-caller") or (request.client.host if request.client else "")
        latency = time.perf_counter() - started
        serving.log.record(
            Answer(
                request_id=request_id,
                model=model,
                model_version=champion.version,
                role=champion.role,
                received_at=received_at,
                caller=caller[:200],
                inputs=inputs,
                outputs=outputs,
                latency_ms=latency * 1000,
                **_served_features(looked_up),
            )
        )
        if serving.watch.challenger is not None:
            serving.shadow.submit(_ShadowJob(request_id, received_at, caller[:200], inputs, frame, time.perf_counter()))
        metrics.requests.labels(model, "ok").inc()
        metrics.rows.labels(model).inc(frame.height)
        metrics.latency.labels(model).observe(time.perf_counter() - started)
        document = {"predictions": _rows(outputs), "model_version": champion.version, "request_id": request_id}
        return _json(document)

    return app


async def _body(request: Request, *, limit: int) -> bytes:
    """The request body, refused as soon as it passes `limit` bytes (whatever Content-Length claims)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise RequestRejected(Rejection.BODY_TOO_LARGE, f"request body is {declared} bytes, above the limit of {limit}")
    received = bytearray()
    async for chunk in request.stream():
        received += chunk
        if len(received) > limit:
            raise RequestRejected(Rejection.BODY_TOO_LARGE, f"request body is above the limit of {limit} bytes")
    return bytes(received)


def _served_features(looked_up: LookedUp | None) -> dict[str, Any]:
    """The looked-up values and table versions an answer logs (nothing for a version without tables)."""
    if looked_up is None:
        return {}
    return {"features": looked_up.features.to_dicts(), "feature_tables": dict(looked_up.versions)}


def _plain(outputs: Mapping[str, np.ndarray]) -> dict[str, list[Any]]:
    return {name: values.tolist() for name, values in outputs.items()}


def _rows(outputs: Mapping[str, list[Any]]) -> list[dict[str, Any]]:
    names = list(outputs)
    return [dict(zip(names, values, strict=True)) for values in zip(*outputs.values(), strict=True)]


def _json(document: Mapping[str, Any], *, status: int = 200) -> Response:
    return Response(json.dumps(document, ensure_ascii=False), status_code=status, media_type=_JSON)


def _error(message: str, *, status: int) -> Response:
    return _json({"error": message}, status=status)
