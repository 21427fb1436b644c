"""MLflow models by URI, whatever trained them: fetch one (`runs:/`, `models:/`, a local model
directory; from mlgov's tracking server or another one), read its flavors and signature, and load it
in its own flavor.

A model is loaded natively (scikit-learn, LightGBM or XGBoost objects, whose own `predict_proba` and
`predict` are the fastest way to score them) when its flavor gives a scikit-learn style estimator,
and through MLflow's generic pyfunc otherwise (a LightGBM or XGBoost Booster, a custom pyfunc).
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.models import Model

from governance.errors import InputError

# The flavors whose loader can give a scikit-learn style estimator, most specific first.
NATIVE_FLAVORS = ("sklearn", "lightgbm", "xgboost")
PYFUNC = "python_function"
URI_SCHEMES = ("runs:/", "models:/")


@dataclass(frozen=True)
class ModelInputs:
    """The named columns a model's signature asks for, with MLflow's type of each ("double", "long",
    "string", ...). None when the model has no signature."""

    columns: tuple[tuple[str, str], ...] | None


@dataclass(frozen=True)
class LoadedModel:
    """A model loaded in its own flavor: `model` is the flavor's object when `native`, else a pyfunc."""

    model: Any
    flavor: str  # the flavor it was loaded through (sklearn, lightgbm, xgboost, python_function)
    native: bool
    inputs: ModelInputs


_URI_VARIABLES = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")
# MLflow writes "View run ... at: http://..." to stdout when a run against a tracking server ends: a
# `--json` command's stdout must stay its one document.
_QUIET_URLS = "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT"


@contextmanager
def pointed_at(tracking_uri: str) -> Iterator[None]:
    """MLflow's process-global tracking and registry URI set to `tracking_uri` (its fluent API, and its
    resolution of `runs:/` URIs of logged models, read nothing else). Setting it also writes
    MLFLOW_*_URI into os.environ, which mlgov's settings read as an override: those are put back, or
    the first server used in a process would capture every later one. MLflow's links to runs are not
    printed on stdout meanwhile."""
    saved = {name: os.environ.get(name) for name in (*_URI_VARIABLES, _QUIET_URLS)}
    os.environ[_QUIET_URLS] = "true"
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextmanager
def fetched(uri: str, *, tracking_uri: str) -> Iterator[Path]:
    """A local copy of the model at `uri`, removed on leaving. `tracking_uri` is the server a `runs:/`
    or `models:/` URI is on. InputError (one line) when the URI is unknown or unreadable."""
    local = Path(uri).expanduser()
    is_remote = uri.startswith(URI_SCHEMES) or "://" in uri
    if not is_remote and not (local / "MLmodel").is_file():
        raise InputError(
            f"model URI {uri!r} is neither runs:/<run_id>/<path>, models:/<name>/<version> nor a local MLflow "
            "model directory (a directory holding an MLmodel file)"
        )
    with tempfile.TemporaryDirectory(prefix="mlgov-register-") as scratch:
        target = Path(scratch) / "model"
        if is_remote:
            with _quiet(f"reading model {uri!r}"), pointed_at(tracking_uri):
                path = Path(mlflow.artifacts.download_artifacts(uri, dst_path=scratch))
            if not (path / "MLmodel").is_file():
                raise InputError(f"model URI {uri!r} holds no MLflow model (no MLmodel file under it)")
            target = path
        else:
            shutil.copytree(local, target)
        yield target


def describe(uri: str | Path) -> tuple[tuple[str, ...], ModelInputs]:
    """The model's flavors and its signature's named inputs (`uri`: a local path or a URI of the current
    tracking server)."""
    with _quiet(f"reading the MLmodel file of {uri}"):
        meta = Model.load(str(uri))
    return tuple(meta.flavors), _inputs(meta)


def load(uri: str | Path, *, flavors: tuple[str, ...], inputs: ModelInputs) -> LoadedModel:
    """The model at `uri` (a local path or a URI of the current tracking server) in its own flavor."""
    for flavor in NATIVE_FLAVORS:
        if flavor in flavors:
            with _quiet(f"loading model {uri} as {flavor}"):
                model = getattr(mlflow, flavor).load_model(str(uri))
            if hasattr(model, "fit") and hasattr(model, "predict"):  # a scikit-learn style estimator
                return LoadedModel(model=model, flavor=flavor, native=True, inputs=inputs)
    if PYFUNC not in flavors:
        raise InputError(f"model {uri} has no flavor mlgov can call (its flavors: {', '.join(flavors)})")
    with _quiet(f"loading model {uri} as a pyfunc"):
        return LoadedModel(model=mlflow.pyfunc.load_model(str(uri)), flavor=PYFUNC, native=False, inputs=inputs)


def _inputs(meta: Model) -> ModelInputs:
    if meta.signature is None:
        return ModelInputs(columns=None)
    schema = meta.signature.inputs
    if not schema.has_input_names() or schema.is_tensor_spec():
        raise InputError(
            "the model's signature takes an unnamed tensor: mlgov feeds models named table columns "
            "(log it with a DataFrame input example or a column-based signature)"
        )
    return ModelInputs(columns=tuple((str(spec.name), _type_name(spec.type)) for spec in schema.inputs))


def _type_name(kind: Any) -> str:
    return str(getattr(kind, "name", kind))


@contextmanager
def _quiet(doing: str) -> Iterator[None]:
    """MLflow's warnings and progress bars kept off the user's terminal; its errors as one line."""
    try:
        with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    except (MlflowException, OSError, ModuleNotFoundError, ValueError) as error:
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise InputError(f"{doing}: {message}") from None
