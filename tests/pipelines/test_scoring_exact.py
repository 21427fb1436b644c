"""Our batch scoring path against MLflow's generic pyfunc wrapper: the same scores, bit for bit.

Each algorithm build_estimator offers is fitted, logged through the registry adapter into a real
SQLite registry, and scored three ways on rows with gaps, unseen and rare categories and
non-ASCII text: `score_rows` (what the score job runs), a plain predict_proba, and
`mlflow.pyfunc.load_model(...).predict`.
"""

from __future__ import annotations

from pathlib import Path

import mlflow
import numpy as np
import polars as pl
import pytest

from lakehouse.registry import ModelRegistry
from pipelines.ml.modeling import (
    Algorithm,
    FeatureSpec,
    build_estimator,
    encodes_categories_once,
    model_frame,
    positive_scores,
    score_rows,
)
from pipelines.ml.tasks import BinaryTask

SPEC = FeatureSpec(numeric=("amount", "tenure", "flag"), categorical=("city", "channel", "segment"))
CITIES = ["Zürich", "São Paulo", "東京", "Kraków", "Île-de-France"]


def _rows(rng: np.random.Generator, n: int, *, fresh: bool) -> pl.DataFrame:
    cities = [*CITIES, "Reykjavík"] if fresh else CITIES  # a city the model never saw
    amount = rng.lognormal(8, 1, n)
    amount[rng.random(n) < 0.03] = np.nan
    segments = [f"s{i}" for i in range(60)]  # more levels than max_categories: rare ones are pooled
    return pl.DataFrame(
        {
            "amount": amount,
            "tenure": pl.Series(rng.integers(0, 40, n)).scatter(np.flatnonzero(rng.random(n) < 0.02), None),
            "flag": rng.random(n) < 0.3,
            "city": pl.Series(rng.choice(cities, n)).scatter(np.flatnonzero(rng.random(n) < 0.05), None),
            "channel": rng.choice(["web", "branch", "phone"], n, p=[0.6, 0.3, 0.1]),
            "segment": rng.choice(segments, n),
            "target": (rng.random(n) < 0.2 + 0.3 * (amount > np.nanmedian(amount))).astype(np.int64),
        }
    )


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> ModelRegistry:
    folder = tmp_path_factory.mktemp("registry")
    return ModelRegistry(tracking_uri=_uri(folder), artifact_root=(folder / "artifacts").as_uri())


def _uri(folder: Path) -> str:
    return f"sqlite:///{folder / 'mlflow.db'}"


@pytest.fixture(scope="module")
def rows() -> pl.DataFrame:
    return _rows(np.random.default_rng(7), 5_003, fresh=True)


def _pyfunc_scores(
    uri: str, model: str, version: str, rows: pl.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> np.ndarray:
    for variable in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"):  # set_*_uri writes these: undo after
        monkeypatch.setenv(variable, uri)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    wrapper = mlflow.pyfunc.load_model(f"models:/{model}/{version}")  # the generic wrapper, as served
    return np.asarray(wrapper.predict(model_frame(rows, SPEC)))[:, 1]


@pytest.mark.parametrize("algorithm", list(Algorithm))
@pytest.mark.parametrize("chunk_rows", [1_000, 100_000])
def test_scores_equal_pyfuncs_bit_for_bit(
    registry: ModelRegistry, rows: pl.DataFrame, algorithm: Algorithm, chunk_rows: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    history = _rows(np.random.default_rng(1), 4_000, fresh=False)
    estimator = build_estimator(algorithm, SPEC)
    estimator.fit(model_frame(history, SPEC), BinaryTask().target(history["target"]))
    logged = registry.log_model(
        model=f"exact_{algorithm}_{chunk_rows}",
        estimator=estimator,
        input_example=model_frame(history.head(5), SPEC),
        params={},
        metrics={},
        tags={},
    )
    loaded = registry.load_estimator(logged.model, logged.version)
    assert encodes_categories_once(loaded, SPEC)  # the fast path is the one under test

    ours = score_rows(loaded, rows, SPEC, chunk_rows=chunk_rows)

    assert ours.shape == (rows.height,)
    assert np.array_equal(ours, positive_scores(loaded, model_frame(rows, SPEC)))
    pyfunc = _pyfunc_scores(registry.tracking_uri, logged.model, logged.version, rows, monkeypatch)
    assert np.array_equal(ours, pyfunc)
    assert ours.std() > 0.05  # the model ranks rows: equality of constants would prove nothing


def test_an_estimator_of_another_shape_takes_the_plain_path(rows: pl.DataFrame) -> None:
    spec = FeatureSpec(numeric=SPEC.numeric, categorical=())
    history = _rows(np.random.default_rng(2), 2_000, fresh=False)
    estimator = build_estimator(Algorithm.LOGREG, spec)
    estimator.fit(model_frame(history, spec), BinaryTask().target(history["target"]))

    assert not encodes_categories_once(estimator, spec)
    ours = score_rows(estimator, rows, spec, chunk_rows=700)

    assert np.array_equal(ours, positive_scores(estimator, model_frame(rows, spec)))


def test_no_rows_no_scores() -> None:
    history = _rows(np.random.default_rng(3), 2_000, fresh=False)
    estimator = build_estimator(Algorithm.LOGREG, SPEC)
    estimator.fit(model_frame(history, SPEC), BinaryTask().target(history["target"]))

    assert score_rows(estimator, history.head(0), SPEC, chunk_rows=100).shape == (0,)
