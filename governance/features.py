"""Which columns a model uses as features, and of which kind (numbers or categories).

One entity for every layer: training builds the estimator's inputs from it, drift picks its test by
the column's kind, quality checks ranges on numbers and unseen levels on categories.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ColumnKind(StrEnum):
    NUMERICAL = "numerical"
    CATEGORICAL = "categorical"


@dataclass(frozen=True)
class FeatureSpec:
    numeric: tuple[str, ...]
    categorical: tuple[str, ...]

    @property
    def columns(self) -> tuple[str, ...]:
        return (*self.numeric, *self.categorical)

    def kind_of(self, column: str) -> ColumnKind:
        return ColumnKind.NUMERICAL if column in self.numeric else ColumnKind.CATEGORICAL
