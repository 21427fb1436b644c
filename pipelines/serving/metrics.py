"""The server's Prometheus metrics, in a registry of its own (one per server, so tests can run several)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

_LATENCY_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)
_LAG_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0)


class ServingMetrics:
    def __init__(self, model: str) -> None:
        self.registry = CollectorRegistry()
        self.model = model
        self.requests = Counter(
            "mlgov_serving_requests",
            "Prediction requests by outcome (ok, rejected, unavailable, error).",
            ["model", "outcome"],
            registry=self.registry,
        )
        self.rejections = Counter(
            "mlgov_serving_rejections",
            "Requests refused by the input contract, by reason.",
            ["model", "reason"],
            registry=self.registry,
        )
        self.rows = Counter("mlgov_serving_rows", "Input rows answered.", ["model"], registry=self.registry)
        self.latency = Histogram(
            "mlgov_serving_request_seconds",
            "Time from receiving a prediction request to its answer.",
            ["model"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.version = Gauge(
            "mlgov_serving_model_version",
            "The version served in each role (0: none).",
            ["model", "role"],
            registry=self.registry,
        )
        self.shadow_lag = Histogram(
            "mlgov_serving_shadow_lag_seconds",
            "Time from the champion's answer to the challenger's answer on the same request.",
            ["model"],
            buckets=_LAG_BUCKETS,
            registry=self.registry,
        )
        self.shadow_backlog = Gauge(
            "mlgov_serving_shadow_backlog", "Requests waiting for the challenger.", ["model"], registry=self.registry
        )
        self.shadow_dropped = Counter(
            "mlgov_serving_shadow_dropped",
            "Requests the challenger never scored (its queue was full, or it failed).",
            ["model", "why"],
            registry=self.registry,
        )
        self.log_pending = Gauge(
            "mlgov_serving_log_pending",
            "Answers in the write-ahead log not yet in serving/requests.",
            ["model"],
            registry=self.registry,
        )
        self.flush_errors = Counter(
            "mlgov_serving_flush_errors",
            "Failed writes of the log into serving/requests.",
            ["model"],
            registry=self.registry,
        )
        self.ready = Gauge(
            "mlgov_serving_ready", "1 while a verified champion is served.", ["model"], registry=self.registry
        )

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
