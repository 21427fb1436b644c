"""The evidence a promotion request carries, computed by the platform rather than typed by anyone.

For a candidate version: its metrics and the champion's on the same holdout (the candidate's own),
drift of the latest scored data against the candidate's training data, data quality of that
training data, and a model card. Its digest joins the request's subject, so approvals are bound to
the evidence they were given on.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import polars as pl

from governance.audit.canonical import canonical_json
from governance.drift import dataset_drifted, drift_share
from governance.promotion import PRODUCTION_ALIAS, Subject
from governance.tasks import Task
from lakehouse.evidently_drift import evidently_drift
from lakehouse.records import feature_tables_from_json, require_table_identity
from lakehouse.schemas import BATCHES
from pipelines.context import Context
from pipelines.ml.modeling import HOLDOUT_SHARE, split_holdout
from pipelines.reads.batches import BATCH_ORDER, batch_rows
from pipelines.reads.feature_tables import joined_columns, reference_id, training_frame
from pipelines.reads.governed import alias_holder, model_settings
from pipelines.reads.segments import holdout_fairness
from pipelines.reads.shadow import shadow_comparison
from pipelines.reads.versions import VersionRecipe, kind_for, version_model, version_recipe

MISSING_SHARE_LIMIT = 0.05


@dataclass(frozen=True)
class Evidence:
    payload: dict[str, Any]
    digest: str  # of the evaluation part: what the candidate was judged on

    @property
    def text(self) -> str:
        return json.dumps(self.payload, ensure_ascii=False, sort_keys=True)


def _rounded(metrics: dict[str, float]) -> dict[str, str]:
    # floats are hashed through a fixed text form, so the digest never depends on float printing
    return {k: f"{v:.10g}" for k, v in sorted(metrics.items())}


def _evaluate(ctx: Context, model: str, version: str, recipe: VersionRecipe, holdout: pl.DataFrame) -> dict[str, float]:
    estimator = version_model(ctx, model, version, recipe)
    kind = kind_for(recipe)
    outputs = kind.outputs(estimator, holdout, recipe.spec, chunk_rows=max(holdout.height, 1))
    return kind.metrics(kind.target(holdout[recipe.target]), outputs)


def compute_evidence(ctx: Context, *, model: str, version: str, trigger: dict[str, Any] | None = None) -> Evidence:
    """Everything a reviewer needs about `version`, computed from the lakehouse and registry."""
    recipe = version_recipe(ctx, model, version)
    identity = require_table_identity(ctx.store, recipe.table)
    training = training_frame(ctx, recipe)
    _, holdout = split_holdout(training, timestamp=identity.timestamp, key=identity.key)
    candidate = _evaluate(ctx, model, version, recipe, holdout)

    champion_version = alias_holder(ctx, model, PRODUCTION_ALIAS)
    champion: dict[str, Any] | None = None
    if champion_version is not None and champion_version != version:
        champion_recipe = version_recipe(ctx, model, champion_version)
        missing = [c for c in champion_recipe.spec.columns if c not in holdout.columns]
        champion = {"version": champion_version}
        if missing:
            champion["note"] = f"the champion needs column {missing[0]!r}, absent from the candidate's holdout"
        else:
            champion["metrics"] = _evaluate(ctx, model, champion_version, champion_recipe, holdout)

    holdout_info = {
        "table": f"{recipe.table}@{recipe.table_version}",
        "rows": holdout.height,
        "rule": f"the latest {HOLDOUT_SHARE:.0%} of rows by event time",
    }
    evaluation = {
        "holdout": holdout_info,
        "candidate": _rounded(candidate),
        "champion": _rounded(champion["metrics"]) if champion and "metrics" in champion else None,
    }
    evaluation_digest = hashlib.sha256(canonical_json(evaluation).encode("utf-8")).hexdigest()
    quality = _quality(training, recipe)
    payload = {
        "holdout": holdout_info,
        "candidate": {"version": version, "task": recipe.task.value, "metrics": candidate},
        "champion": champion,
        "drift": _recent_drift(ctx, model=model, recipe=recipe, training=training),
        "quality": quality,
        "model_card": _model_card(
            ctx,
            model=model,
            recipe=recipe,
            training=training,
            identity_ts=identity.timestamp,
            metrics=candidate,
            quality=quality,
        ),
        "evaluation_digest": evaluation_digest,
        "trigger": trigger,
        "shadow": shadow_comparison(ctx, model=model, version=version),
        "fairness": holdout_fairness(ctx, model=model, version=version, recipe=recipe, holdout=holdout),
    }
    return Evidence(payload=payload, digest=evaluation_digest)


def current_subject(ctx: Context, *, model: str, version: str, evaluation_digest: str) -> Subject:
    """The subject of a request as the registry holds it now (artifact re-hashed, tags re-read)."""
    recipe = version_recipe(ctx, model, version)
    return Subject(
        model=model,
        version=version,
        artifact_digest=ctx.registry.artifact_digest(model, version),
        train_table=recipe.table,
        train_table_version=recipe.table_version,
        evaluation_digest=evaluation_digest,
    )


def _quality(training: pl.DataFrame, recipe: VersionRecipe) -> dict[str, Any]:
    features = training.select(recipe.spec.columns)
    missing = {c: features[c].null_count() / max(features.height, 1) for c in features.columns}
    constant = [c for c in features.columns if features[c].n_unique() <= 1]
    alerts = [f"{c}: {share:.1%} missing" for c, share in missing.items() if share > MISSING_SHARE_LIMIT]
    alerts += [f"{c}: a single value" for c in constant]
    return {"rows": training.height, "missing_share": missing, "constant_features": constant, "alerts": alerts}


def _recent_drift(ctx: Context, *, model: str, recipe: VersionRecipe, training: pl.DataFrame) -> dict[str, Any] | None:
    # the latest batch the champion scored (ties in time broken by window, then id, as elsewhere)
    batches = (
        ctx.store.scan(BATCHES)
        .filter((pl.col("model") == model) & (pl.col("role") == PRODUCTION_ALIAS))
        .sort(BATCH_ORDER, nulls_last=False)
        .collect()
    )
    if batches.height == 0:
        return None
    batch = batches.row(-1, named=True)
    available = [
        *ctx.store.scan(batch["input_table"], version=batch["input_version"]).collect_schema(),
        *joined_columns(ctx, feature_tables_from_json(batch.get("feature_tables"))),
    ]
    missing = [c for c in recipe.spec.columns if c not in available]
    if missing:
        return {"batch_id": batch["batch_id"], "note": f"the latest batch lacks feature {missing[0]!r}"}
    current = batch_rows(ctx, batch, recipe.spec.columns)
    spec = recipe.spec
    features = evidently_drift(training.select(spec.columns), current.select(spec.columns), spec=spec)
    share = drift_share(features)
    return {
        "batch_id": batch["batch_id"],
        "reference": reference_id(recipe),
        "rows": current.height,
        "share": share,
        "drifted": dataset_drifted(share),
        "features": [f.__dict__ for f in features],
    }


_TASK_LIMITATION = {
    Task.BINARY: "binary classification at a 0.5 decision threshold; other thresholds are not evaluated",
    Task.MULTICLASS: "the most probable class is the prediction; costs of confusing particular classes are not weighed",
    Task.REGRESSION: "point predictions only: no prediction intervals are produced or evaluated",
}


def _model_card(
    ctx: Context,
    *,
    model: str,
    recipe: VersionRecipe,
    training: pl.DataFrame,
    identity_ts: str | None,
    metrics: dict[str, float],
    quality: dict[str, Any],
) -> dict[str, Any]:
    purpose = model_settings(ctx).get(model, {}).get("purpose", "")
    span = None
    if identity_ts:
        span = {"from": str(training[identity_ts].min()), "to": str(training[identity_ts].max())}
    limitations = [
        f"evaluated on a time-ordered holdout ({HOLDOUT_SHARE:.0%}) of the training table only",
        _TASK_LIMITATION[recipe.task],
    ]
    if span:
        limitations.append(f"trained on data up to {span['to']}; behaviour on later populations is unverified")
    limitations += [f"data quality: {alert}" for alert in quality["alerts"]]
    return {
        "purpose": purpose or "(not stated: set it with `mlgov model set MODEL --purpose TEXT`)",
        "owner": recipe.trainer,
        "algorithm": recipe.algorithm,
        "task": recipe.task.value,
        "target": recipe.target,
        "features": {"numeric": list(recipe.spec.numeric), "categorical": list(recipe.spec.categorical)},
        "training_data": {
            "table": f"{recipe.table}@{recipe.table_version}",
            "rows": training.height,
            "span": span,
            **(
                {"feature_tables": [f"{ref.table}@{ref.version}" for ref in recipe.feature_tables]}
                if recipe.feature_tables
                else {}
            ),
        },
        "metrics": metrics,
        "limitations": limitations,
    }
