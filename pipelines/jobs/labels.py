"""Load ground truth as it arrives; monitoring joins it to predictions by entity key."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl

from governance.audit.actions import AuditAction
from governance.errors import InputError
from governance.roles import Action
from lakehouse.files import read_input_file
from lakehouse.schemas import LABELS, check_model_name
from pipelines.context import Context, job_run
from pipelines.jobs.ingest import check_key
from pipelines.ml.tasks import kind_of
from pipelines.reads.versions import model_task


@dataclass(frozen=True)
class LabelsResult:
    model: str
    rows: int


def load_labels(ctx: Context, *, model: str, path: Path, key: str, label: str, actor: str) -> LabelsResult:
    check_model_name(model)
    with job_run(ctx, job="labels", actor=actor, model=model) as run:
        run.authorize(Action.LOAD_LABELS, object_type="model", object_id=model)
        kind = kind_of(model_task(ctx, model))
        frame = read_input_file(path)
        check_key(frame, key)
        if label not in frame.columns:
            raise InputError(f"label column {label!r} is not in the data (columns: {', '.join(frame.columns)})")
        labels = pl.DataFrame(
            {
                "model": model,
                "entity_key": frame[key].cast(pl.String),
                "label": kind.labels(frame[label]),
                "arrived_at": run.now(),
                "run_id": run.run_id,
            }
        )
        run.append(LABELS, labels)
        run.audit(
            action=AuditAction.LOAD_LABELS,
            object_type="model",
            object_id=model,
            details={"rows": labels.height, "source": path.name},
        )
    return LabelsResult(model=model, rows=labels.height)
