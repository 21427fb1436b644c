"""How a registered version was made (its recipe): the table and Delta version it was trained on, its
features, target, trainer, algorithm and task. Scoring, monitoring and reviews rebuild its inputs from
it. The recipe is read from the governed record; MLflow's `mlgov.*` version tags mirror it."""

from __future__ import annotations

import json
from typing import Any

from governance.errors import InputError, NotFoundError
from governance.features import FeatureSpec
from governance.tasks import Task
from governance.versions import VersionRecipe
from lakehouse.mlflow_models import ModelInputs
from lakehouse.records import registered_versions
from lakehouse.registry import ModelVersionInfo
from pipelines.context import Context
from pipelines.ml.foreign import wrap
from pipelines.ml.tasks import TaskKind, kind_of

# The version tags that mirror the recipe in MLflow (its UI shows them; nothing reads them back but migrate).
TAG_TRAINER = "mlgov.trainer"
TAG_TABLE = "mlgov.train_table"
TAG_TABLE_VERSION = "mlgov.train_table_version"
TAG_NUMERIC = "mlgov.numeric_features"
TAG_CATEGORICAL = "mlgov.categorical_features"
TAG_TARGET = "mlgov.target"
TAG_ALGORITHM = "mlgov.algorithm"
TAG_TASK = "mlgov.task"  # absent on versions made before tasks existed: those are binary
TAG_CLASSES = "mlgov.classes"  # multiclass only
TAG_FEATURE_TABLES = "mlgov.feature_tables"  # "features/<name>@<version>,..." joined as of each row's time
TAG_SOURCE = "mlgov.source_uri"  # where a version registered from outside mlgov came from
# A version registered from outside mlgov records its algorithm as the MLflow flavor it is called through.
FOREIGN_PREFIX = "mlflow:"
# The label-free estimator fitted at training, stored with the version's MLflow run (its digest on the chain).
CALIBRATION_ARTIFACT = "mlgov/calibration.json"


def recipe_tags(recipe: VersionRecipe) -> dict[str, str]:
    """The version tags that record `recipe` (read back by `version_recipe`)."""
    return {
        TAG_TRAINER: recipe.trainer,
        TAG_TABLE: recipe.table,
        TAG_TABLE_VERSION: str(recipe.table_version),
        TAG_NUMERIC: json.dumps(recipe.spec.numeric, ensure_ascii=False),
        TAG_CATEGORICAL: json.dumps(recipe.spec.categorical, ensure_ascii=False),
        TAG_TARGET: recipe.target,
        TAG_ALGORITHM: recipe.algorithm,
        TAG_TASK: recipe.task.value,
        **({TAG_CLASSES: json.dumps(list(recipe.classes), ensure_ascii=False)} if recipe.classes else {}),
        **(
            {TAG_FEATURE_TABLES: ",".join(f"{ref.table}@{ref.version}" for ref in recipe.feature_tables)}
            if recipe.feature_tables
            else {}
        ),
    }


def version_recipe(ctx: Context, model: str, version: str) -> VersionRecipe:
    """How `model` `version` was made, as mlgov registered it on the chain (never MLflow's tags)."""
    registered = registered_versions(ctx.ledger, model=model).get((model, version))
    if registered is None:
        ctx.registry.version(model, version)  # a version MLflow does not know: say so
        raise NotFoundError(
            f"{model} version {version} has no governed record: it was not trained or registered through mlgov "
            "(or its registration was interrupted, or the lakehouse predates 0.2: run mlgov migrate)"
        )
    return registered.recipe


def recipe_from_tags(info: ModelVersionInfo) -> VersionRecipe:
    """The recipe an earlier release recorded only in MLflow's version tags (for `mlgov migrate`)."""
    try:
        return VersionRecipe(
            table=info.tags[TAG_TABLE],
            table_version=int(info.tags[TAG_TABLE_VERSION]),
            spec=FeatureSpec(
                numeric=tuple(json.loads(info.tags[TAG_NUMERIC])),
                categorical=tuple(json.loads(info.tags[TAG_CATEGORICAL])),
            ),
            target=info.tags[TAG_TARGET],
            trainer=info.tags[TAG_TRAINER],
            algorithm=info.tags[TAG_ALGORITHM],
            task=Task(info.tags.get(TAG_TASK, Task.BINARY.value)),
            classes=tuple(json.loads(info.tags[TAG_CLASSES])) if TAG_CLASSES in info.tags else (),
        )
    except KeyError as missing:
        raise InputError(f"{info.model} version {info.version} was not trained by mlgov (no tag {missing})") from None


def latest_recipe(ctx: Context, model: str) -> VersionRecipe:
    """The recipe of `model`'s latest registered version: its task (which all its versions share) and,
    for a multiclass model, its classes."""
    registered = registered_versions(ctx.ledger, model=model)
    if not registered:
        ctx.registry.require_model(model)
        raise NotFoundError(f"model {model!r} has no version registered through mlgov yet (train one: mlgov train)")
    return max(registered.values(), key=lambda r: int(r.version)).recipe


def kind_for(recipe: VersionRecipe) -> TaskKind:
    """The computations of the version's task, with its classes where it has them."""
    return kind_of(recipe.task, classes=recipe.classes)


def is_foreign(recipe: VersionRecipe) -> bool:
    """Whether the version was trained outside mlgov and registered (`mlgov register`)."""
    return recipe.algorithm.startswith(FOREIGN_PREFIX)


def version_model(ctx: Context, model: str, version: str, recipe: VersionRecipe) -> Any:
    """The version's model, ready for its task's computations: ours as the estimator we logged (scored
    by the fast path of `ml.modeling`), one trained elsewhere in its own flavor (`ml.foreign`)."""
    if not is_foreign(recipe):
        return ctx.registry.load_estimator(model, version)
    loaded = ctx.registry.load_foreign(model, version)
    return wrap(
        loaded.model,
        native=loaded.native,
        inputs=loaded.inputs.columns,
        columns=recipe.spec.columns,
        text_columns=text_inputs(loaded.inputs, recipe.spec),
        task=recipe.task,
        sample=None,
    )


def text_inputs(inputs: ModelInputs, spec: FeatureSpec) -> tuple[str, ...]:
    """The model's text columns: those its signature types as strings, else the spec's categorical ones."""
    if inputs.columns is None:
        return spec.categorical
    return tuple(name for name, kind in inputs.columns if kind == "string")
