"""mlgov ingest and mlgov labels: data and ground truth into the lakehouse."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import click

from pipelines.cli.support import actor_option, emit, json_option, load_context


@click.command()
@click.argument("table")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--key", required=True, help="The entity key column: unique and complete.")
@click.option("--timestamp", help="The event timestamp column.")
@click.option("--timezone", default="UTC", show_default=True, help="Zone of timestamps written without one.")
@click.option("--mode", type=click.Choice(["append", "overwrite"]), default="append", show_default=True)
@actor_option
@json_option
def ingest(
    table: str, path: Path, key: str, timestamp: str | None, timezone: str, mode: str, actor: str, as_json: bool
) -> None:
    """Ingest a CSV or Parquet file into raw table TABLE."""
    from pipelines.jobs.ingest import IngestMode
    from pipelines.jobs.ingest import ingest as run_ingest

    result = run_ingest(
        load_context(),
        table=table,
        path=path,
        key=key,
        timestamp=timestamp,
        timezone=timezone,
        mode=IngestMode(mode),
        actor=actor,
    )
    line = f"{result.rows} rows into {result.table} (version {result.version})"
    if result.already_ingested:
        line = (
            f"already ingested: these {result.rows} rows are {result.table} version {result.version}; nothing written"
        )
    emit(asdict(result), as_json=as_json, lines=[line])


@click.command()
@click.argument("model")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--key", required=True, help="The entity key column, as scored.")
@click.option("--label", required=True, help="The 0/1 ground-truth column.")
@actor_option
@json_option
def labels(model: str, path: Path, key: str, label: str, actor: str, as_json: bool) -> None:
    """Load ground truth for MODEL as it arrives."""
    from pipelines.jobs.labels import load_labels

    result = load_labels(load_context(), model=model, path=path, key=key, label=label, actor=actor)
    notes = []
    if result.unchanged:
        notes.append(f"{result.unchanged} already known")
    if result.unknown_keys:
        notes.append(
            f"{result.unknown_keys} keys were never scored by it"
            if result.unknown_keys > 1
            else "1 key was never scored by it"
        )
    line = f"{result.rows} labels loaded for {model}" + (f" ({'; '.join(notes)})" if notes else "")
    emit(asdict(result), as_json=as_json, lines=[line])
