"""Load ground truth as it arrives; monitoring joins the latest label of each key to predictions."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl

from governance.audit.actions import AuditAction
from governance.errors import InputError
from governance.roles import Action
from lakehouse.files import read_input_file
from lakehouse.schemas import LABELS, PREDICTIONS, check_model_name
from pipelines.context import Context, job_run
from pipelines.jobs.ingest import check_key
from pipelines.ml.tasks import LABEL_SCHEMA
from pipelines.reads.labels import latest_labels
from pipelines.reads.versions import kind_for, latest_recipe


@dataclass(frozen=True)
class LabelsResult:
    model: str
    rows: int  # labels written: keys new to the model, and corrections
    unchanged: int  # labels the model already had, with the same value
    unknown_keys: int  # keys of the file this model never scored


def load_labels(ctx: Context, *, model: str, path: Path, key: str, label: str, actor: str) -> LabelsResult:
    """Append the file's labels that are new or differ from the latest stored for their key; the
    latest label wins, earlier ones stay as history."""
    check_model_name(model)
    with job_run(ctx, job="labels", actor=actor, model=model) as run:
        run.authorize(Action.LOAD_LABELS, object_type="model", object_id=model)
        kind = kind_for(latest_recipe(ctx, model))
        column = kind.label_column
        frame = read_input_file(path)
        check_key(frame, key)
        if label not in frame.columns:
            raise InputError(f"label column {label!r} is not in the data (columns: {', '.join(frame.columns)})")
        incoming = pl.DataFrame({"entity_key": frame[key].cast(pl.String), column: kind.labels(frame[label])})
        known = latest_labels(ctx, model, column=column).drop("revised")
        fresh = (
            incoming.join(known, on="entity_key", how="left", suffix="_known")
            .filter(pl.col(f"{column}_known").is_null() | (pl.col(column) != pl.col(f"{column}_known")))
            .select("entity_key", column)
        )
        if fresh.height:
            others = [pl.lit(None, dtype=dtype).alias(name) for name, dtype in LABEL_SCHEMA.items() if name != column]
            run.append(
                LABELS,
                fresh.with_columns(
                    *others, model=pl.lit(model), arrived_at=pl.lit(run.now()), run_id=pl.lit(run.run_id)
                ),
            )
        unchanged = incoming.height - fresh.height
        unknown = incoming.height - _scored(ctx, model, incoming["entity_key"])
        run.audit(
            action=AuditAction.LOAD_LABELS,
            object_type="model",
            object_id=model,
            details={"rows": fresh.height, "unchanged": unchanged, "unknown_keys": unknown, "source": path.name},
        )
    return LabelsResult(model=model, rows=fresh.height, unchanged=unchanged, unknown_keys=unknown)


def _scored(ctx: Context, model: str, keys: pl.Series) -> int:
    """How many of `keys` some batch of `model` scored."""
    scored = (
        ctx.store.scan(PREDICTIONS)
        .filter(pl.col("model") == model)
        .select("entity_key")
        .join(keys.to_frame("entity_key").lazy(), on="entity_key", how="semi")
        .unique()
        .collect()
    )
    return scored.height
