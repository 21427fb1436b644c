"""mlgov demo and mlgov app: the demo story, and the Streamlit app."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import click

from pipelines.cli.support import emit, json_option, load_context


@click.command()
@json_option
def demo(as_json: bool) -> None:
    """Seed the lakehouse with the demo story (five models, drift, labels, approvals), ending yesterday."""
    from pipelines.demo.story import demo_start, run_demo

    ctx = load_context()
    # Dated to end yesterday, so the wall clock finds its champions tended, as the story says they are.
    summary = run_demo(ctx, start=demo_start(ctx.clock()), progress=None if as_json else click.echo)
    emit(
        asdict(summary),
        as_json=as_json,
        lines=[f"demo ready: {summary.models} models, {summary.versions} versions, {summary.batches} batches"],
    )


@click.command()
@click.option("--port", default=8501, show_default=True)
@click.option("--address", default="127.0.0.1", show_default=True)
def app(port: int, address: str) -> None:
    """Serve the Streamlit app."""
    # The server with the sign-in form in front of the app's pages (app/web.py runs app/main.py).
    script = Path(__file__).resolve().parents[2] / "app" / "web.py"
    # The security settings are passed here too, so they hold whatever directory mlgov runs from.
    settings = {
        "server.port": str(port),
        "server.address": address,
        "server.headless": "true",
        "server.enableXsrfProtection": "true",
        "client.showErrorDetails": "none",
        "client.toolbarMode": "minimal",  # no Deploy button, no developer menu
        "browser.gatherUsageStats": "false",
        "runner.postScriptGC": "false",  # a full collection after every run costs a second or more per click
    }
    command = [sys.executable, "-m", "streamlit", "run", str(script), *(f"--{k}={v}" for k, v in settings.items())]
    sys.exit(subprocess.call(command))
