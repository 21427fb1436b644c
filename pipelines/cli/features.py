"""mlgov features: feature tables (features/<name>) filled from raw tables, listed and shown."""

from __future__ import annotations

from dataclasses import asdict

import click

from governance.errors import InputError
from pipelines.cli.support import actor_option, emit, json_option, load_context


@click.group()
def features() -> None:
    """Feature tables shared across models, joined point-in-time at training and scoring."""


@features.command("create")
@click.argument("name")
@click.option("--from", "source", required=True, help="The raw table the features come from.")
@click.option("--key", required=True, help="The entity key column (a column of the spines that join it).")
@click.option("--timestamp", required=True, help="The event time of each feature value.")
@click.option("--columns", help="Comma-separated feature columns (default: every other column of the source).")
@click.option("--ttl", help="How long a value stays valid, such as 30d or 12h (default: forever).")
@actor_option
@json_option
def create(
    name: str,
    source: str,
    key: str,
    timestamp: str,
    columns: str | None,
    ttl: str | None,
    actor: str,
    as_json: bool,
) -> None:
    """Create feature table NAME from a raw table, or refill it with the table's new rows."""
    from pipelines.jobs.feature_tables import create_feature_table

    names = None
    if columns is not None:
        names = [c.strip() for c in columns.split(",")]
        if not all(names):
            raise InputError(f"--columns has an empty column name in {columns!r}: expected comma-separated names")
    result = create_feature_table(
        load_context(),
        name=name,
        source=source,
        key=key,
        timestamp=timestamp,
        columns=names,
        ttl=ttl,
        actor=actor,
    )
    if result.already_filled:
        line = f"{result.table} already holds every row of {result.source}: nothing written (version {result.version})"
    else:
        verb = "created" if result.created else "refilled"
        line = f"{result.table} {verb} from {result.source}: {result.rows} rows (version {result.version})"
    emit(asdict(result), as_json=as_json, lines=[line])


@features.command("list")
@json_option
def list_tables(as_json: bool) -> None:
    """Every feature table: key, timestamp, TTL, version, rows, freshness and the models using it."""
    from pipelines.reads.feature_tables import feature_table_summaries, summary_document

    documents = [summary_document(s) for s in feature_table_summaries(load_context())]
    lines = [
        f"{d['table']}  v{d['version']}  {d['rows']} rows  key {d['key']}  time {d['timestamp']}  "
        f"ttl {d['ttl'] or 'none'}  {d['freshness']}  models: {', '.join(d['models']) or '-'}"
        for d in documents
    ] or ["no feature tables yet (mlgov features create NAME --from TABLE --key COL --timestamp COL)"]
    emit({"feature_tables": documents}, as_json=as_json, lines=lines)


@features.command("show")
@click.argument("name")
@json_option
def show(name: str, as_json: bool) -> None:
    """One feature table: its definition, versions (source version -> table version), freshness, models."""
    from pipelines.reads.feature_tables import feature_table_document

    document = feature_table_document(load_context(), name=name)
    lines = [
        f"{document['table']} from {document['source']}: key {document['key']}, time {document['timestamp']}, "
        f"ttl {document['ttl'] or 'none'}",
        f"columns: {', '.join(document['columns'])}",
        f"version {document['version']}, {document['rows']} rows, {document['keys']} keys, newest {document['newest']} "
        f"({document['freshness']})",
        *(
            f"  v{v['version']} <- {v['source']}: {v['rows_added']} rows by {v['actor']} at {v['at']}"
            for v in document["versions"]
        ),
        f"models: {', '.join(document['models']) or '-'}",
    ]
    emit(document, as_json=as_json, lines=lines)


@features.command("monitor")
@click.argument("name")
@click.option("--actor", help="Who runs it (default: the mlgov-monitor service identity).")
@json_option
def monitor(name: str, actor: str | None, as_json: bool) -> None:
    """Drift and quality of each version of feature table NAME against its reference (the version the
    first model trained with, else its first version); computes the versions still missing."""
    from pipelines.jobs.feature_monitor import monitor_feature_table
    from pipelines.reads.feature_health import version_health_document

    health = monitor_feature_table(load_context(), name=name, actor=actor)
    versions = [version_health_document(v) for v in health.versions]
    document = {
        "feature_table": health.table,
        "reference": health.reference.name,
        "reference_origin": health.reference.origin,
        "computed_versions": health.computed_versions,
        "versions": versions,
    }
    lines = [f"{health.table}: reference {health.reference.name} ({health.reference.origin})"]
    for version in versions:
        drifted = [d["feature"] for d in version["drift"] if d["drifted"]]
        alerts = [f"{q['check']}:{q['column']}" for q in version["quality_alerts"]]
        lines.append(
            f"  v{version['version']}: {version['rows']} new rows, drift share {version['drift_share']:.2f}"
            f" (drifted: {', '.join(drifted) or '-'}), quality alerts: {', '.join(alerts) or '-'}"
        )
    if not versions:
        lines.append("  no version after the reference yet: nothing to compare")
    emit(document, as_json=as_json, lines=lines)
