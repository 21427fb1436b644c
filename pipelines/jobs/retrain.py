"""Retraining: the champion's recipe on the latest data, registered and put up for review.

It never promotes: the new version goes through the same request and approvals as any other,
with the trigger that caused it attached to the request's evidence.
"""

from __future__ import annotations

from dataclasses import dataclass

from governance.errors import InputError, NotFoundError
from governance.promotion import PRODUCTION_ALIAS
from governance.retraining import RetrainTrigger
from pipelines.context import Context
from pipelines.jobs.promote import request_promotion
from pipelines.jobs.train import train
from pipelines.ml.modeling import Algorithm
from pipelines.reads.governed import alias_holder
from pipelines.reads.versions import is_foreign, version_recipe


@dataclass(frozen=True)
class RetrainResult:
    model: str
    version: str
    request_id: str
    trained_on: str
    trigger: str


def retrain(ctx: Context, *, model: str, actor: str, trigger: RetrainTrigger | None = None) -> RetrainResult:
    """Train `model` again with its champion's recipe on the latest version of the same table."""
    champion = alias_holder(ctx, model, PRODUCTION_ALIAS)
    if champion is None:
        raise NotFoundError(f"model {model!r} has no {PRODUCTION_ALIAS} to take the recipe from")
    recipe = version_recipe(ctx, model, champion)
    if is_foreign(recipe):
        raise InputError(
            f"{model} v{champion} was trained outside mlgov ({recipe.algorithm}): retrain it where it was "
            f"trained and register the new version (mlgov register {model} --model-uri ...)"
        )
    trained = train(
        ctx,
        model=model,
        table=recipe.table.removeprefix("raw/"),
        target=recipe.target,
        features=list(recipe.spec.columns),
        algorithm=Algorithm(recipe.algorithm),
        actor=actor,
        task=recipe.task,
        feature_tables=[ref.table for ref in recipe.feature_tables],
    )
    why = trigger.reason if trigger else "retrained by hand"
    request = request_promotion(
        ctx,
        model=model,
        version=trained.version,
        reason=f"retraining: {why}",
        actor=actor,
        trigger=None if trigger is None else {**trigger.__dict__, "kind": trigger.kind.value},
    )
    trained_on = f"{recipe.table}@{ctx.store.version(recipe.table)}"
    return RetrainResult(
        model=model, version=trained.version, request_id=request.request_id, trained_on=trained_on, trigger=why
    )
