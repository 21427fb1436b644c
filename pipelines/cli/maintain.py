"""mlgov maintain: compaction, checkpoints and safe vacuum of the lakehouse's tables."""

from __future__ import annotations

import click

from pipelines.cli.support import actor_option, emit, json_option, load_context


@click.command()
@actor_option
@json_option
def maintain(actor: str, as_json: bool) -> None:
    """Compact small files, checkpoint each table's log, and vacuum old files no lineage or governance
    record needs (governance tables are never vacuumed). Admins only; audited; safe while jobs write."""
    from pipelines.jobs.maintain import maintain_lakehouse

    result = maintain_lakehouse(load_context(), actor=actor)
    lines = [
        f"{t.table}: {t.files_before} -> {t.files_after} files, checkpoint at version {t.checkpoint_version}"
        + (f", {t.vacuumed_files} old files vacuumed" if t.vacuumed_files is not None else ", not vacuumed")
        for t in result.tables
    ]
    emit(result.document(), as_json=as_json, lines=lines)
