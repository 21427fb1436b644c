"""How a registered version was made (its recipe): the table and Delta version it was trained on, its
features, target, trainer and algorithm. Scoring, monitoring and reviews rebuild its inputs from it."""

from __future__ import annotations

import json
from dataclasses import dataclass

from governance.errors import InputError, NotFoundError
from governance.features import FeatureSpec
from governance.tasks import Task
from lakehouse.registry import ModelRegistry, ModelVersionInfo

# Version tags that say how a version was made; scoring and monitoring rebuild its inputs from them.
TAG_TRAINER = "mlgov.trainer"
TAG_TABLE = "mlgov.train_table"
TAG_TABLE_VERSION = "mlgov.train_table_version"
TAG_NUMERIC = "mlgov.numeric_features"
TAG_CATEGORICAL = "mlgov.categorical_features"
TAG_TARGET = "mlgov.target"
TAG_ALGORITHM = "mlgov.algorithm"
TAG_TASK = "mlgov.task"  # absent on versions made before tasks existed: those are binary


@dataclass(frozen=True)
class VersionRecipe:
    """How a registered version was trained, as recorded in its tags."""

    table: str
    table_version: int
    spec: FeatureSpec
    target: str
    trainer: str
    algorithm: str
    task: Task = Task.BINARY


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
    }


def version_recipe(info: ModelVersionInfo) -> VersionRecipe:
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
        )
    except KeyError as missing:
        raise InputError(f"{info.model} version {info.version} was not trained by mlgov (no tag {missing})") from None


def model_task(registry: ModelRegistry, model: str) -> Task:
    """The task of `model`: its versions all share it, so the latest version's recipe says it."""
    latest = registry.require_model(model).latest_version
    if latest is None:
        raise NotFoundError(f"model {model!r} has no version yet (train one first: mlgov train {model} ...)")
    return version_recipe(registry.version(model, latest)).task
