"""How a registered version was made (its recipe): what it was trained on, by whom, for which task.

Recorded once, when mlgov registers the version, on the audit chain; segregation of duties (the
trainer may not review) and the evidence rest on it, so it is never read back from MLflow's tags.
"""

from __future__ import annotations

from dataclasses import dataclass

from governance.feature_tables import FeatureTableRef
from governance.features import FeatureSpec
from governance.tasks import Task


@dataclass(frozen=True)
class VersionRecipe:
    table: str
    table_version: int
    spec: FeatureSpec
    target: str
    trainer: str
    algorithm: str
    task: Task = Task.BINARY
    classes: tuple[str, ...] = ()  # multiclass: the classes, in the order of the model's probabilities
    # feature tables joined onto `table` as of each row's event time, pinned at the versions trained on
    feature_tables: tuple[FeatureTableRef, ...] = ()
