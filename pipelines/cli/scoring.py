"""mlgov score: a batch scored by the champion (and the challenger in shadow)."""

from __future__ import annotations

from dataclasses import asdict

import click

from pipelines.cli.support import actor_option, emit, engine_option, json_option, load_context, parse_instant


@click.command()
@click.argument("model")
@click.option("--table", required=True)
@click.option("--from", "start", help="Score rows with timestamp >= this (ISO; UTC if no zone).")
@click.option("--to", "end", help="... and < this.")
@actor_option
@engine_option
@json_option
def score(
    model: str, table: str, start: str | None, end: str | None, actor: str, engine: str | None, as_json: bool
) -> None:
    """Score TABLE's rows with MODEL's champion as one batch (re-running adds nothing)."""
    from pipelines.jobs.engines import open_engine
    from pipelines.jobs.score import score as run_score

    ctx = load_context()
    result = run_score(
        ctx,
        engine=open_engine(ctx, engine),
        model=model,
        table=table,
        start=parse_instant(start, "--from"),
        end=parse_instant(end, "--to"),
        actor=actor,
    )
    verb = "already scored" if result.already_scored else "scored"
    emit(
        asdict(result),
        as_json=as_json,
        lines=[f"batch {result.batch_id}: {result.rows} rows {verb} by {model} version {result.model_version}"],
    )
