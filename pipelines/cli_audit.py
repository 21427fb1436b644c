"""mlgov audit: the hash-chained audit trail."""

from __future__ import annotations

import sys
from dataclasses import asdict

import click

from pipelines.cli_support import EXIT_REFUSED, emit, json_option, load_context


@click.group()
def audit() -> None:
    """The hash-chained audit trail."""


@audit.command("verify")
@json_option
def audit_verify(as_json: bool) -> None:
    """Recompute the chain; exit non-zero and name the first bad record if it does not hold."""
    verdict = load_context().audit.verify()
    line = (
        f"audit chain intact: {verdict.records} records"
        if verdict.ok
        else f"audit chain BROKEN at record {verdict.first_bad_seq}: {verdict.problem}"
    )
    emit(asdict(verdict), as_json=as_json, lines=[line])
    if not verdict.ok:
        sys.exit(EXIT_REFUSED)
