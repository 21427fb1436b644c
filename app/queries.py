"""Cached reads for the views. Each takes primitive arguments only: `home`, the lakehouse path,
keys the cache, so two lakehouses never share an entry; results are plain data or polars frames."""

from __future__ import annotations

from typing import Any

import polars as pl
import streamlit as st

from app import services
from governance.alerts import AlertState
from governance.roles import AccessPolicy, Role
from governance.tasks import Task
from lakehouse import records
from lakehouse.schemas import AUDIT, CREDENTIALS, RUNS
from pipelines.jobs import users
from pipelines.reads import (
    alerts,
    audit,
    costs,
    feature_health,
    lineage,
    models,
    monitoring,
    overview,
    promotions,
    reviews,
    segments,
    shadow,
    sql,
)
from pipelines.reads import feature_tables as features
from pipelines.reads.task_metrics import task_metrics

# Reads are kept until the lakehouse changes (`forget_reads_if_changed`, on every page run); the TTL only
# bounds what no commit announces, such as an edit made in a remote MLflow server's own UI.
TTL_SECONDS = 300


# Every sign-in and job run appends to these; only the reads in `_ACTIVITY_READERS` read them, so a
# sign-in does not throw away every other page's reads.
_ACTIVITY_TABLES = frozenset({AUDIT, CREDENTIALS, RUNS})


@st.cache_resource(show_spinner=False)
def _seen_stamps() -> dict[str, dict[str, object]]:
    """The lakehouse's change stamp at the last page run of this server process (shared by sessions)."""
    return {}


def forget_reads_if_changed(home: str) -> None:
    """Drop the cached reads the lakehouse's changes since the last page run of this server make stale,
    so a page reads what the CLI, a job or another user just wrote, and otherwise reads nothing again."""
    stamp = services.change_stamp()
    seen = _seen_stamps()
    before = seen.get(home)
    seen[home] = stamp
    if before is None or before == stamp:
        return
    changed = {key for key in stamp.keys() | before.keys() if stamp.get(key) != before.get(key)}
    if changed <= _ACTIVITY_TABLES:
        for cached in _activity_readers():
            cached.clear()
    else:
        st.cache_data.clear()
        audit_trail.clear()


@st.cache_data(ttl=TTL_SECONDS, show_spinner="Reading the lakehouse…")
def model_summaries(home: str) -> list[overview.ModelSummary]:
    context = services.get_context()
    return overview.model_overview(context, now=context.clock())


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def drift_history(home: str, model: str) -> pl.DataFrame:
    return overview.drift_history(services.get_context(), model)


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def drift_histories(home: str) -> pl.DataFrame:
    """The drift history of every registered model, with a `model` column first."""
    frames = [
        drift_history(home, summary.name).select(pl.lit(summary.name).alias("model"), pl.all())
        for summary in model_summaries(home)
    ]
    if not frames:
        return pl.DataFrame(schema={"model": pl.String, **overview.DRIFT_HISTORY_SCHEMA})
    return pl.concat(frames)


# --- Drift and Performance pages ----------------------------------------------------------------


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def drift_cells(home: str, model: str) -> pl.DataFrame:
    return monitoring.drift_cells(services.get_context(), model)


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def quality_checks(home: str, model: str) -> pl.DataFrame:
    return monitoring.quality_checks(services.get_context(), model)


@st.cache_data(ttl=TTL_SECONDS, show_spinner="Reading the batch and its training data…", max_entries=8)
def batch_frames(home: str, model: str, batch_id: str) -> monitoring.BatchFrames:
    return monitoring.batch_frames(services.get_context(), model=model, batch_id=batch_id)


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False, max_entries=64)
def feature_distribution(home: str, model: str, batch_id: str, feature: str) -> pl.DataFrame:
    frames = batch_frames(home, model, batch_id)
    return monitoring.feature_distribution(
        frames.reference[feature], frames.current[feature], numeric=feature in frames.spec.numeric
    )


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def performance_history(home: str, model: str) -> pl.DataFrame:
    return monitoring.performance_history(services.get_context(), model)


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def label_coverage(home: str, model: str) -> pl.DataFrame:
    return monitoring.label_coverage(services.get_context(), model, performance=performance_history(home, model))


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def model_task(home: str, model: str) -> Task:
    """The model's task, as its versions record it (NotFoundError: none was registered through mlgov)."""
    return monitoring.model_task(services.get_context(), model)


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def output_distribution(home: str, model: str, batch_id: str) -> monitoring.OutputDistribution:
    """The batch's distribution of the output its model's task drifts on (score, predicted class, prediction)."""
    output = task_metrics(model_task(home, model)).drifting
    return monitoring.output_distribution(services.get_context(), model=model, batch_id=batch_id, output=output)


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def model_aliases(home: str, model: str) -> dict[str, str]:
    """The model's aliases (alias -> version) as the registry holds them now."""
    return dict(services.get_context().registry.require_model(model).aliases)


# --- Cost page ------------------------------------------------------------------------------------


@st.cache_data(ttl=TTL_SECONDS, show_spinner="Reading the run records…")
def cost_usage(home: str) -> pl.DataFrame:
    return costs.monthly_usage(services.get_context())


# --- Lineage and Audit trail pages ---------------------------------------------------------------


@st.cache_data(ttl=TTL_SECONDS, show_spinner="Reading the lineage…")
def lineage_choices(home: str) -> lineage.LineageChoices:
    return lineage.lineage_choices(services.get_context())


@st.cache_data(ttl=TTL_SECONDS, show_spinner="Tracing the lineage…", max_entries=64)
def lineage_trace(home: str, start: str, ref: str) -> lineage.Trace:
    """The trace from `ref`; `start` is a `lineage.StartKind` value."""
    return lineage.trace(services.get_context(), start=lineage.StartKind(start), ref=ref)


# A resource, not data: Streamlit copies cached data (a pickle round trip) on every rerun, seconds for a
# million records; polars frames are never changed in place, so every session may share this one.
@st.cache_resource(ttl=TTL_SECONDS, show_spinner="Reading the audit trail…", max_entries=4)
def audit_trail(home: str) -> audit.AuditTrail:
    return audit.audit_trail(services.get_context())


# Approvals, Models and Access pages. After a write, the page calls `forget_governance_reads()`
# so the next run reads what it wrote rather than a cached copy.


@st.cache_data(ttl=TTL_SECONDS, show_spinner="Reading the promotion requests…")
def review_queue(home: str) -> list[reviews.QueuedRequest]:
    return reviews.review_queue(services.get_context())


@st.cache_data(ttl=TTL_SECONDS, show_spinner="Gathering the request's evidence and policy…")
def request_detail(home: str, request_id: str) -> dict[str, Any]:
    return promotions.show_request(services.get_context(), request_id=request_id)


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def review_permissions(home: str, request_id: str, actor: str) -> reviews.ReviewPermissions:
    return reviews.review_permissions(services.get_context(), request_id=request_id, actor=actor)


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def waiting_for(home: str, actor: str) -> frozenset[str]:
    return reviews.waiting_for(services.get_context(), actor=actor)


@st.cache_data(ttl=TTL_SECONDS, show_spinner="Reading the registry…")
def model_detail(home: str, model: str) -> models.ModelDetail:
    return models.model_detail(services.get_context(), model)


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def rollback_refusal(home: str, actor: str, model: str) -> str | None:
    return models.rollback_refusal(services.get_context(), actor=actor, model=model)


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def access_policy(home: str) -> AccessPolicy:
    """Who holds which role now, as the chain records it: read once per change, not on every new tab.
    A grant or revocation commits governance/access, which drops this read (`forget_reads_if_changed`)."""
    return records.access_policy(services.get_context().ledger)


@st.cache_data(ttl=TTL_SECONDS, show_spinner="Reading the accounts…")
def user_accounts(home: str) -> list[users.UserSummary]:
    return users.list_users(services.get_context())


def forget_governance_reads() -> None:
    """Drop the cached reads a promotion, rollback or access change makes stale."""
    for cached in (
        review_queue,
        request_detail,
        review_permissions,
        waiting_for,
        model_detail,
        rollback_refusal,
        user_accounts,
        model_summaries,
        audit_trail,
    ):
        cached.clear()


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def shadow_comparison(home: str, model: str, version: str) -> list[dict[str, Any]]:
    """Batches `version` of `model` scored in shadow beside the champion (empty: never in shadow)."""
    return shadow.shadow_comparison(services.get_context(), model=model, version=version)


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def console_tables(home: str, roles: tuple[str, ...]) -> list[sql.ConsoleTable]:
    """The tables holders of `roles` (role names) may query in the SQL console."""
    return sql.console_tables(services.get_context(), roles=[Role(role) for role in roles])


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def open_alerts(home: str) -> list[alerts.AlertView]:
    """Alerts not resolved yet, newest first (cleared by the alerts panel after it acknowledges or resolves)."""
    return alerts.list_alerts(services.get_context(), states=[AlertState.OPEN, AlertState.ACKNOWLEDGED])


# --- Segments and fairness (Drift and Performance pages) -------------------------------------------


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def segment_rows(home: str, model: str) -> pl.DataFrame:
    return segments.segment_rows(services.get_context(), model)


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def fairness_rows(home: str, model: str) -> pl.DataFrame:
    return segments.fairness_rows(services.get_context(), model)


# --- Features page ---------------------------------------------------------------------------------


@st.cache_data(ttl=TTL_SECONDS, show_spinner="Reading the feature tables…")
def feature_tables(home: str) -> list[dict[str, Any]]:
    return [features.summary_document(s) for s in features.feature_table_summaries(services.get_context())]


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False, max_entries=64)
def feature_table(home: str, name: str) -> dict[str, Any]:
    return features.feature_table_document(services.get_context(), name=name)


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False, max_entries=64)
def feature_skew(home: str, table: str) -> pl.DataFrame:
    return features.feature_skew(services.get_context(), table=table)


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False, max_entries=64)
def feature_table_health(home: str, table: str) -> pl.DataFrame:
    return feature_health.health_over_versions(services.get_context(), table)


def _activity_readers() -> tuple[Any, ...]:
    """The cached reads of the audit trail, the accounts' sign-in records and the run records."""
    return (audit_trail, user_accounts, cost_usage)
