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
ALERTS = "governance/alerts"
ALERT_RULES = "governance/alert_rules"
SEGMENTS = "monitoring/segments"  # per batch: drift and performance per segment, and the segment search's findings
FAIRNESS = "monitoring/fairness"  # per batch: fairness metrics per group of a protected attribute
SERVING_REQUESTS = "serving/requests"  # every served request, one row per input row and role
ACCOUNT_STATUS = "governance/account_status"  # users disabled and enabled again by admins

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
            # JSON list of the feature tables joined into the scored rows, as in governance/versions (nullable)
            "feature_tables": pl.String,
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
            # JSON list of the feature tables joined as of each row: {table, version, ttl_seconds} (nullable)
            "feature_tables": pl.String,
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

# Alerts: one row per event of an alert's life (fired with its evidence, each delivery attempt to each
# channel with its outcome, acknowledged, resolved); created by the first alert.
SCHEMAS[ALERTS] = _schema(
    {
        "alert_id": pl.String,
        "event": pl.String,  # governance.alerts.AlertEvent
        "model": pl.String,
        "model_version": pl.String,
        "batch_id": pl.String,
        "kind": pl.String,
        "subject": pl.String,
        "severity": pl.String,
        "summary": pl.String,
        "evidence": pl.String,  # JSON
        "channels": pl.String,  # JSON list: where the rule sends it
        "channel": pl.String,  # an attempt's channel
        "attempt": pl.Int64,  # an attempt's number for its channel, from 1
        "delivered": pl.Boolean,  # an attempt's outcome
        "detail": pl.String,  # the receiver's answer, or what went wrong
        "actor": pl.String,
        "reason": pl.String,
        "at": UTC_TS,
        "run_id": pl.String,
    }
)
# Alert rules, changed by admins on the audit chain; the latest change to a (model, kind, subject) wins.
SCHEMAS[ALERT_RULES] = _schema(
    {
        "model": pl.String,  # or "*": every model
        "kind": pl.String,
        "subject": pl.String,  # a feature or column, or "*"
        "threshold": pl.String,  # as text: the chain carries no floats
        "severity": pl.String,
        "channels": pl.String,  # JSON list of channel names
        "removed": pl.Boolean,
        "actor": pl.String,
        "reason": pl.String,
        "at": UTC_TS,
        "run_id": pl.String,
        "audit_seq": pl.Int64,
    }
)
# Feature tables: each definition and fill (one row per `mlgov features create` that wrote rows), and
# per scored batch x joined feature, how many rows' as-of value differed from the key's latest value.
FEATURE_TABLES = "catalog/feature_tables"
FEATURE_SKEW = "monitoring/feature_skew"
SCHEMAS[FEATURE_TABLES] = _schema(
    {
        "table": pl.String,  # features/<name>
        "version": pl.Int64,  # the feature table's Delta version this fill made
        "source": pl.String,  # raw/<name>
        "source_version": pl.Int64,
        "key": pl.String,
        "timestamp": pl.String,
        "columns": pl.String,  # JSON list
        "ttl_seconds": pl.Int64,  # null: no TTL
        "rows": pl.Int64,  # rows this fill added
        "actor": pl.String,
        "at": UTC_TS,
        "run_id": pl.String,
    }
)
SCHEMAS[FEATURE_SKEW] = _schema(
    {
        "batch_id": pl.String,
        "model": pl.String,
        "model_version": pl.String,
        "feature_table": pl.String,  # features/<name>@<version>
        "feature": pl.String,
        "rows": pl.Int64,
        "differing_rows": pl.Int64,
        "share": pl.Float64,
        "computed_at": UTC_TS,
        "run_id": pl.String,
    }
)

SCHEMAS[ACCOUNT_STATUS] = _schema(
    {
        "seq": pl.Int64,
        "user": pl.String,
        "change": pl.String,  # disable | enable
        "actor": pl.String,
        "reason": pl.String,
        "at": UTC_TS,
        "run_id": pl.String,
        "audit_seq": pl.Int64,  # the audit record that vouches for the row
    }
)
SCHEMAS[OUTPUT_DRIFT] = SCHEMAS[DRIFT]  # one row per batch; `feature` names the output column
SCHEMAS[SEGMENTS] = _schema(
    {
        "batch_id": pl.String,
        "model": pl.String,
        "model_version": pl.String,
        "kind": pl.String,  # drift, realized, estimated (a chosen segment column); search_error, search_shift
        "columns": pl.String,  # the segment's columns, comma-separated; on an "(all)" row, the search's kind
        "segment": pl.String,  # "region=west & age=[-inf, 25)"; "(all)" for the whole batch a search tested
        "metric": pl.String,
        "value": pl.Float64,
        "whole": pl.Float64,  # the same metric over the rest of the batch (search) or the reference (share)
        "std_error": pl.Float64,  # the segment value's sampling error
        "adjusted_p": pl.Float64,  # search: Holm-adjusted p-value
        "rows": pl.Int64,
        "labelled_rows": pl.Int64,  # the batch's labelled rows when computed
        "reported": pl.Boolean,  # search: a finding the policy reports
        "computed_at": UTC_TS,
        "run_id": pl.String,
    }
)
SCHEMAS[FAIRNESS] = _schema(
    {
        "batch_id": pl.String,
        "model": pl.String,
        "model_version": pl.String,
        "attribute": pl.String,
        "group": pl.String,
        "reference_group": pl.String,
        "metric": pl.String,
        "value": pl.Float64,
        "group_rate": pl.Float64,
        "reference_rate": pl.Float64,
        "threshold": pl.Float64,
        "passed": pl.Boolean,  # null: too few rows to judge
        "rule": pl.String,
        "support": pl.Int64,
        "rows": pl.Int64,
        "labelled_rows": pl.Int64,  # the batch's labelled rows when computed
        "computed_at": UTC_TS,
        "run_id": pl.String,
    }
)
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
        # a version trained with feature tables: the row's looked-up values (JSON object) and the tables'
        # versions they were read at (JSON object features/<name> -> version); null otherwise
        "features": pl.String,
        "feature_tables": pl.String,
    }
)
# Drift and data quality of each feature table version's new rows against the table's reference (the
# version the first model was trained with, else its first version): `mlgov features monitor`.
FEATURE_TABLE_DRIFT = "monitoring/feature_table_drift"
FEATURE_TABLE_QUALITY = "monitoring/feature_table_quality"
SCHEMAS[FEATURE_TABLE_DRIFT] = _schema(
    {
        "feature_table": pl.String,  # features/<name>
        "version": pl.Int64,  # the version whose new rows were compared
        "feature": pl.String,
        "method": pl.String,
        "statistic": pl.Float64,
        "threshold": pl.Float64,
        "drifted": pl.Boolean,
        "reference_id": pl.String,  # features/<name>@<version>#<profile id>
        "reference_rows": pl.Int64,
        "current_rows": pl.Int64,
        "computed_at": UTC_TS,
        "run_id": pl.String,
    }
)
SCHEMAS[FEATURE_TABLE_QUALITY] = _schema(
    {
        "feature_table": pl.String,
        "version": pl.Int64,
        "check": pl.String,
        "column": pl.String,
        "value": pl.Float64,
        "threshold": pl.Float64,
        "passed": pl.Boolean,
        "threshold_origin": pl.String,
        "reference_id": pl.String,
        "current_rows": pl.Int64,
        "computed_at": UTC_TS,
        "run_id": pl.String,
    }
)

SCHEMAS[OUTPUT_DRIFT] = SCHEMAS[DRIFT]  # one row per batch; `feature` names the output column
PARTITIONS: dict[str, list[str]] = {PREDICTIONS: ["model"], SERVING_REQUESTS: ["model"]}

# Governance tables are append-only: the store refuses to overwrite them and Delta refuses
# updates and deletes (delta.appendOnly).
APPEND_ONLY = frozenset(
    {ALIASES, EVIDENCE, PROMOTIONS, AUDIT, LINEAGE, ACCESS, CREDENTIALS, VERSIONS, POLICIES}
    | {ALERTS, ALERT_RULES, FEATURE_TABLES, ACCOUNT_STATUS}
)
# Governance tables whose rows the audit chain carries and vouches for: decisions read those rows from
# the chain; the tables are projections of it for pages, SQL and other engines.
CHAIN_TABLES = (ACCESS, PROMOTIONS, ALIASES, EVIDENCE, VERSIONS, POLICIES, ALERT_RULES, ACCOUNT_STATUS)

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


def feature_table(name: str) -> str:
    """The lakehouse table of feature table `name`; refuses names that are not plain."""
    if not _DATA_NAME.fullmatch(name):
        raise InputError(
            f"feature table name {name!r} is not valid: expected lowercase letters, digits and _ (no path separators)"
        )
    return f"features/{name}"
