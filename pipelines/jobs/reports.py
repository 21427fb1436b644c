"""Evidently's own HTML drift report of one batch, generated on demand."""

from __future__ import annotations

from pathlib import Path

from governance.roles import Action
from lakehouse.evidently_drift import save_evidently_report
from pipelines.context import Context, job_run
from pipelines.reads.monitoring import batch_frames, evidently_report_path


def write_evidently_report(ctx: Context, *, model: str, batch_id: str, actor: str) -> Path:
    """Generate Evidently's own HTML drift report of one batch against its version's training data.

    Recorded as an `evidently_report` run (its CPU counts towards the platform's cost); anyone who
    may read monitoring may generate one. Overwrites an earlier report of the same batch.
    """
    path = evidently_report_path(ctx, batch_id)
    with job_run(ctx, job="evidently_report", actor=actor, model=model) as run:
        run.authorize(Action.READ_MONITORING, object_type="batch", object_id=batch_id)
        frames = batch_frames(ctx, model=model, batch_id=batch_id)
        save_evidently_report(frames.reference, frames.current, spec=frames.spec, path=path)
    return path
