"""mlgov serve: the governed champion behind an HTTP endpoint."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime

import click

from pipelines.cli.support import actor_option, emit, json_option, load_context, parse_instant


@click.command()
@click.argument("model")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64), help="Server processes.")
@click.option("--max-rows", default=1000, show_default=True, type=click.IntRange(1), help="Rows per request, at most.")
@click.option("--max-bytes", default=1 << 20, show_default=True, type=click.IntRange(1), help="Request body, at most.")
@click.option(
    "--refresh", default=2.0, show_default=True, type=click.FloatRange(0.1), help="Seconds between reads of the record."
)
def serve(model: str, host: str, port: int, workers: int, max_rows: int, max_bytes: int, refresh: float) -> None:
    """Serve MODEL's governed champion over HTTP; every request goes to serving/requests."""
    from pipelines.serving.app import ServeOptions
    from pipelines.serving.contract import Limits
    from pipelines.serving.runner import serve as run_server

    options = ServeOptions(model=model, limits=Limits(max_rows=max_rows, max_bytes=max_bytes), refresh_seconds=refresh)
    announce = lambda line: click.echo(line, err=True)  # noqa: E731
    run_server(options, host=host, port=port, workers=workers, ctx=load_context(), announce=announce)


@click.command("serve-batch")
@click.argument("model")
@click.option("--from", "start", required=True, help="Requests received at or after this (ISO; UTC if no zone).")
@click.option("--to", "end", required=True, help="... and before this.")
@actor_option
@json_option
def serve_batch(model: str, start: str, end: str, actor: str, as_json: bool) -> None:
    """Make MODEL's served requests in a window into scoring batches (monitor, labels, shadow read them)."""
    from pipelines.serving.windows import batch_served_window

    window = batch_served_window(
        load_context(),
        model=model,
        start=_instant(start, "--from"),
        end=_instant(end, "--to"),
        actor=actor,
    )
    lines = [
        f"batch {b.batch_id}: {b.rows} rows answered by {model} version {b.model_version} ({b.role})"
        for b in window.batches
    ]
    emit(asdict(window), as_json=as_json, lines=lines)


def _instant(text: str, option: str) -> datetime:
    instant = parse_instant(text, option)
    assert instant is not None
    return instant
