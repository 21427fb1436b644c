"""How a registered version was made (its recipe): the table and Delta version it was trained on, its
features, target, trainer and algorithm. Scoring, monitoring and reviews rebuild its inputs from it."""

from __future__ import annotations

import json
from dataclasses import dataclass

from governance.errors import InputError
from governance.features import FeatureSpec
from lakehouse.registry import ModelVersionInfo

# Version tags that say how a version was made; scoring and monitoring rebuild its inputs from them.
TAG_TRAINER = "mlgov.trainer"
TAG_TABLE = "mlgov.train_table"
TAG_TABLE_VERSION = "mlgov.train_table_version"
TAG_NUMERIC = "mlgov.numeric_features"
TAG_CATEGORICAL = "mlgov.categorical_features"
TAG_TARGET = "mlgov.target"
TAG_ALGORITHM = "mlgov.algorithm"


@dataclass(frozen=True)
class VersionRecipe:
    """How a registered version was trained, as recorded in its tags."""

    table: str
    table_version: int
    spec: FeatureSpec
    target: str
    trainer: str
    algorithm: str


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
        )
    except KeyError as missing:
        raise InputError(f"{info.model} version {info.version} was not trained by mlgov (no tag {missing})") from None
