"""Every fixed table of the lakehouse, declared once. Ingested tables take their schema from data."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import polars as pl

from governance.errors import InputError

UTC_TS = pl.Datetime("us", "UTC")

PREDICTIONS = "predictions"
BATCHES = "scoring/batches"
LABELS = "labels"
DRIFT = "monitoring/drift"
OUTPUT_DRIFT = "monitoring/output_drift"  # the model's output per batch against its reference batch
QUALITY = "monitoring/quality"
PERFORMANCE = "monitoring/performance"
PROMOTIONS = "governance/promotions"
AUDIT = "governance/audit"
LINEAGE = "governance/lineage"
ACCESS = "governance/access"
RUNS = "ops/runs"
CATALOG = "catalog/tables"
ALIASES = "governance/aliases"
EVIDENCE = "governance/evidence"
CREDENTIALS = "governance/credentials"
VERSIONS = "governance/versions"
POLICIES = "governance/policies"
SERVING_REQUESTS = "serving/requests"  # every served request, one row per input row and role

# The kinds of rows in monitoring/performance: measured against labels, or estimated without them.
REALIZED = "realized"
ESTIMATED = "estimated"


def _schema(columns: Mapping[str, Any]) -> pl.Schema:
    return pl.Schema(columns)


SCHEMAS: dict[str, pl.Schema] = {
    PREDICTIONS: _schema(
        {
            "model": pl.String,
            "model_version": pl.String,
            "role": pl.String,
            "batch_id": pl.String,
            "scored_at": UTC_TS,
            "entity_key": pl.String,
            "event_ts": UTC_TS,
            "score": pl.Float64,  # binary: P(1); multiclass: P(predicted class)
            "predicted_label": pl.Int64,  # binary
            "input_table": pl.String,
            "input_version": pl.Int64,
            "run_id": pl.String,
            "predicted_class": pl.String,  # multiclass (nullable: added in 0.2)
            "class_probabilities": pl.List(pl.Float64),  # multiclass, in the version's class order
            "prediction": pl.Float64,  # regression
        }
    ),
    BATCHES: _schema(
        {
            "batch_id": pl.String,
            "model": pl.String,
            "model_version": pl.String,
            "role": pl.String,
            "input_table": pl.String,
            "input_version": pl.Int64,
            "window_start": UTC_TS,
            "window_end": UTC_TS,
            "rows": pl.Int64,
            "scored_at": UTC_TS,
            "actor": pl.String,
            "run_id": pl.String,
        }
    ),
    LABELS: _schema(
        {
            "model": pl.String,
            "entity_key": pl.String,
            "label": pl.Int64,  # binary
            "arrived_at": UTC_TS,
            "run_id": pl.String,
            "label_class": pl.String,  # multiclass (nullable: added in 0.2)
            "label_value": pl.Float64,  # regression
        }
    ),
    DRIFT: _schema(
        {
            "batch_id": pl.String,
            "model": pl.String,
            "model_version": pl.String,
            "feature": pl.String,
            "method": pl.String,
            "statistic": pl.Float64,
            "threshold": pl.Float64,
            "drifted": pl.Boolean,
            "reference_id": pl.String,
            "reference_rows": pl.Int64,
            "current_rows": pl.Int64,
            "report_path": pl.String,
            "computed_at": UTC_TS,
            "run_id": pl.String,
        }
    ),
    QUALITY: _schema(
        {
            "batch_id": pl.String,
            "model": pl.String,
            "check": pl.String,
            "column": pl.String,
            "value": pl.Float64,
            "threshold": pl.Float64,
            "passed": pl.Boolean,
            "computed_at": UTC_TS,
            "run_id": pl.String,
            # where the threshold comes from, in words (policy, reference chunks, default); null before 0.x
            "threshold_origin": pl.String,
        }
    ),
    PERFORMANCE: _schema(
        {
            "batch_id": pl.String,
            "model": pl.String,
            "model_version": pl.String,
            "kind": pl.String,
            "metric": pl.String,
            "value": pl.Float64,
            "labelled_rows": pl.Int64,
            "batch_rows": pl.Int64,
            "computed_at": UTC_TS,
            "run_id": pl.String,
        }
    ),
    PROMOTIONS: _schema(
        {
            "request_id": pl.String,
            "kind": pl.String,
            "model": pl.String,
            "version": pl.String,
            "alias": pl.String,
            "actor": pl.String,
            "trainer": pl.String,
            "reason": pl.String,
            "subject_hash": pl.String,
            "actor_roles": pl.String,
            "at": UTC_TS,
            "run_id": pl.String,
            "audit_seq": pl.Int64,  # the audit record that vouches for the row (null before 0.2)
        }
    ),
    ALIASES: _schema(
        {
            "model": pl.String,
            "alias": pl.String,
            "version": pl.String,
            "previous": pl.String,
            "kind": pl.String,
            "request_id": pl.String,
            "actor": pl.String,
            "reason": pl.String,
            "at": UTC_TS,
            "run_id": pl.String,
            "audit_seq": pl.Int64,  # the audit record that vouches for the row (null before 0.2)
        }
    ),
    EVIDENCE: _schema(
        {
            "request_id": pl.String,
            "model": pl.String,
            "version": pl.String,
            "payload": pl.String,
            "digest": pl.String,
            "at": UTC_TS,
            "run_id": pl.String,
            "audit_seq": pl.Int64,  # the audit record that vouches for the row (null before 0.2)
        }
    ),
    AUDIT: _schema(
        {
            "seq": pl.Int64,
            "event_id": pl.String,
            "at": UTC_TS,
            "actor": pl.String,
            "action": pl.String,
            "object_type": pl.String,
            "object_id": pl.String,
            "outcome": pl.String,
            "reason": pl.String,
            "details": pl.String,
            "prev_hash": pl.String,
            "hash": pl.String,
        }
    ),
    LINEAGE: _schema(
        {
            "src_type": pl.String,
            "src_id": pl.String,
            "relation": pl.String,
            "dst_type": pl.String,
            "dst_id": pl.String,
            "at": UTC_TS,
            "run_id": pl.String,
        }
    ),
    ACCESS: _schema(
        {
            "seq": pl.Int64,
            "user": pl.String,
            "role": pl.String,
            "change": pl.String,
            "actor": pl.String,
            "reason": pl.String,
            "at": UTC_TS,
            "run_id": pl.String,
            "audit_seq": pl.Int64,  # the audit record that vouches for the row (null before 0.2)
        }
    ),
    # Password hashes and login history; read only through lakehouse.accounts, never shown whole.
    CREDENTIALS: _schema(
        {
            "user": pl.String,
            "seq": pl.Int64,
            "kind": pl.String,
            "secret_hash": pl.String,
            "actor": pl.String,
            "at": UTC_TS,
            "run_id": pl.String,
        }
    ),
    # How each version was made, as mlgov registered it: what governance reads, never MLflow's tags.
    VERSIONS: _schema(
        {
            "model": pl.String,
            "version": pl.String,
            "task": pl.String,
            "train_table": pl.String,
            "train_table_version": pl.Int64,
            "numeric_features": pl.String,  # JSON list
            "categorical_features": pl.String,  # JSON list
            "target": pl.String,
            "algorithm": pl.String,
            "trainer": pl.String,
            "artifact_digest": pl.String,
            "mlflow_run_id": pl.String,
            "at": UTC_TS,
            "run_id": pl.String,
            "audit_seq": pl.Int64,
            "classes": pl.String,  # multiclass: JSON list, in the model's probability order
            "calibration_digest": pl.String,  # SHA-256 of the label-free estimator stored with the run
        }
    ),
    # Policy settings changed by admins: a model's risk tier and purpose, the approvals each tier needs.
    POLICIES: _schema(
        {
            "scope": pl.String,  # "model" or "tier"
            "subject": pl.String,  # the model's name, or the tier
            "setting": pl.String,  # risk_tier, purpose, approvals
            "value": pl.String,
            "actor": pl.String,
            "reason": pl.String,
            "at": UTC_TS,
            "run_id": pl.String,
            "audit_seq": pl.Int64,
        }
    ),
    CATALOG: _schema(
        {
            "table": pl.String,
            "key": pl.String,
            "timestamp": pl.String,
            "registered_at": UTC_TS,
            "run_id": pl.String,
        }
    ),
    RUNS: _schema(
        {
            "run_id": pl.String,
            "job": pl.String,
            "actor": pl.String,
            "model": pl.String,
            "started_at": UTC_TS,
            "ended_at": UTC_TS,
            "wall_seconds": pl.Float64,
            "cpu_seconds": pl.Float64,
            "rows": pl.Int64,
            "bytes_written": pl.Int64,
            "status": pl.String,
            "error": pl.String,
        }
    ),
}

SCHEMAS[SERVING_REQUESTS] = _schema(
    {
        "request_id": pl.String,
        "row": pl.Int64,  # the input row's place in its request
        "model": pl.String,
        "model_version": pl.String,
        "role": pl.String,  # champion (answered the caller) or challenger (shadow, never answered)
        "received_at": UTC_TS,
        "caller": pl.String,
        "inputs": pl.String,  # the row as its JSON object: one table holds every model, whatever its features
        "score": pl.Float64,  # the task's outputs, as in predictions
        "predicted_label": pl.Int64,
        "predicted_class": pl.String,
        "class_probabilities": pl.List(pl.Float64),
        "prediction": pl.Float64,
        "latency_ms": pl.Float64,  # champion: receipt to answer; challenger: receipt to its answer
    }
)
SCHEMAS[OUTPUT_DRIFT] = SCHEMAS[DRIFT]  # one row per batch; `feature` names the output column
PARTITIONS: dict[str, list[str]] = {PREDICTIONS: ["model"], SERVING_REQUESTS: ["model"]}

# Governance tables are append-only: the store refuses to overwrite them and Delta refuses
# updates and deletes (delta.appendOnly).
APPEND_ONLY = frozenset({ALIASES, EVIDENCE, PROMOTIONS, AUDIT, LINEAGE, ACCESS, CREDENTIALS, VERSIONS, POLICIES})
# Governance tables whose rows the audit chain carries and vouches for: decisions read those rows from
# the chain; the tables are projections of it for pages, SQL and other engines.
CHAIN_TABLES = (ACCESS, PROMOTIONS, ALIASES, EVIDENCE, VERSIONS, POLICIES)

_DATA_NAME = re.compile(r"[a-z][a-z0-9_]{0,62}")
_MODEL_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_\-]{0,62}")


def raw_table(name: str) -> str:
    """The lakehouse table that holds ingested data `name`; refuses names that are not plain."""
    if not _DATA_NAME.fullmatch(name):
        raise InputError(
            f"table name {name!r} is not valid: expected lowercase letters, digits and _ (no path separators)"
        )
    return f"raw/{name}"


def check_model_name(name: str) -> str:
    if not _MODEL_NAME.fullmatch(name):
        raise InputError(f"model name {name!r} is not valid: expected letters, digits, _ or - and no path separators")
    return name
