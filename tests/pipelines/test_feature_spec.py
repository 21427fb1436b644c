"""feature_spec: which columns a model trains on, and the requests it refuses."""

from __future__ import annotations

import polars as pl
import pytest

from governance.errors import InputError
from pipelines.ml.modeling import feature_spec

SCHEMA = pl.Schema({"id": pl.String, "income": pl.Float64, "grade": pl.String, "y": pl.Int64})


@pytest.mark.parametrize(
    ("requested", "numeric", "categorical"),
    [
        (None, ("income",), ("grade",)),  # every column but the key and the target
        (["grade"], (), ("grade",)),
        (["income", "grade"], ("income",), ("grade",)),
    ],
)
def test_features_are_the_request_or_every_other_column(
    requested: list[str] | None, numeric: tuple[str, ...], categorical: tuple[str, ...]
) -> None:
    spec = feature_spec(SCHEMA, exclude=["id", "y"], requested=requested)
    assert (spec.numeric, spec.categorical) == (numeric, categorical)


@pytest.mark.parametrize(
    ("requested", "message"),
    [
        ([], "the feature list is empty"),
        (["", ""], "has an empty column name"),
        (["income", " "], "has an empty column name"),
        (["income", "nope"], "feature column 'nope' is not in the table"),
        (["y"], "is the key, timestamp or target"),
    ],
)
def test_a_request_naming_no_usable_column_is_refused(requested: list[str], message: str) -> None:
    with pytest.raises(InputError, match=message):
        feature_spec(SCHEMA, exclude=["id", "y"], requested=requested)
