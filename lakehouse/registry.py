"""The MLflow adapter: tracking runs, registered models, versions, aliases and tags.

Returns our own small entities, never MLflow objects, and turns MlflowException into our errors.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import re
import tempfile
import warnings
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow import MlflowClient
from mlflow.entities import ViewType
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature

from governance.errors import MlgovError, NotFoundError
from lakehouse import mlflow_models
from lakehouse.mlflow_models import LoadedModel

# MLflow narrates database migrations and model logging on stderr; a CLI must print one clean line.
for _name in ("mlflow", "alembic"):
    logging.getLogger(_name).setLevel(logging.WARNING)
# On PostgreSQL MLflow inserts, catches the duplicate-key error and updates instead; psycopg then warns that
# it ended its pipeline on that (handled) error, on every `mlgov train`.
logging.getLogger("psycopg").setLevel(logging.ERROR)

_PIP_REQUIREMENTS = ["scikit-learn", "pandas", "numpy"]


@dataclass(frozen=True)
class ModelVersionInfo:
    model: str
    version: str
    run_id: str
    created_at: datetime
    aliases: tuple[str, ...] = ()
    tags: Mapping[str, str] = field(default_factory=dict)
    metrics: Mapping[str, float] = field(default_factory=dict)
    params: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RegisteredModelInfo:
    name: str
    aliases: Mapping[str, str]
    latest_version: str | None
    description: str
    tags: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TrainingData:
    """The Delta table version a model was trained on, and a sample of it (for MLflow's dataset profile)."""

    uri: str
    table: str
    version: int
    sample: pd.DataFrame
    target: str | None = None


_METRIC_NAME = re.compile(r"[^A-Za-z0-9_\-. :/]")


def _metric_name(name: str) -> str:
    """A metric name MLflow accepts (a class name in `recall:<class>` may hold any character)."""
    return _METRIC_NAME.sub("_", name)


def _log_training_data(data: TrainingData) -> None:
    from mlflow.data.delta_dataset_source import DeltaDatasetSource

    # the version goes into the name and a tag too: MLflow drops a source's version 0 when saving it
    source = DeltaDatasetSource(path=data.uri, delta_table_version=data.version)
    dataset = mlflow.data.from_pandas(  # type: ignore[attr-defined]
        data.sample, source=source, name=f"{data.table}@{data.version}", targets=data.target
    )
    mlflow.log_input(dataset, context="training", tags={"delta.version": str(data.version)})


_PAGE = 10_000  # the registry's own largest page
_RUNS_PER_SEARCH = 500  # run ids per search: well under SQLite's limit on query parameters


def _version_info(mv: Any, *, aliases: tuple[str, ...], run: Any) -> ModelVersionInfo:
    return ModelVersionInfo(
        model=mv.name,
        version=str(mv.version),
        run_id=mv.run_id or "",
        created_at=datetime.fromtimestamp(mv.creation_timestamp / 1000, tz=UTC),
        aliases=aliases,
        tags=dict(mv.tags),
        metrics=dict(run.data.metrics) if run else {},
        params=dict(run.data.params) if run else {},
    )


def _is_missing(error: MlflowException) -> bool:
    return error.error_code == "RESOURCE_DOES_NOT_EXIST" or "not found" in str(error).lower()


_SERVERLESS_DATABASES = ("postgresql", "mysql", "mssql")  # what MLflow would retry for 100 s before failing
_CONNECT_TIMEOUT_SECONDS = 10


def _check_reachable(uri: str) -> None:
    """One connection to the tracking server or database MLflow is about to use: one clear line at once when
    it does not answer, not MLflow's retries over minutes and a traceback."""
    scheme = uri.partition(":")[0].partition("+")[0].lower()
    if scheme in ("http", "https"):
        _check_server(uri)
    elif scheme in _SERVERLESS_DATABASES:
        _check_database(uri)


def _masked(uri: str) -> str:
    """`uri` with its password hidden: never echo one."""
    return re.sub(r"(://[^:/@]*):[^@/]*@", r"\1:***@", uri)


def _check_server(uri: str) -> None:
    """Any HTTP answer will do (a proxy may ask for credentials that MLflow's own calls carry): only a server
    that cannot be reached, or does not answer in time, is refused."""
    import requests  # MLflow's own HTTP client library

    shown = _masked(uri)
    try:
        requests.get(f"{uri.rstrip('/')}/health", timeout=_CONNECT_TIMEOUT_SECONDS)
    except requests.RequestException as error:
        reason = type(error).__name__ if isinstance(error, requests.Timeout) else "connection refused or unreachable"
        raise MlgovError(f"MLflow tracking server {shown} did not answer: {reason}") from None


def _check_database(uri: str) -> None:
    """One connection to a tracking database MLflow is about to use directly (its driver is needed too)."""
    import sqlalchemy
    from sqlalchemy.exc import SQLAlchemyError
    from sqlalchemy.pool import NullPool

    shown = _masked(uri)
    try:
        url = sqlalchemy.make_url(uri)
        timeout = {"connect_timeout": _CONNECT_TIMEOUT_SECONDS} if url.get_backend_name() != "mssql" else {}
        engine = sqlalchemy.create_engine(url, poolclass=NullPool, connect_args=timeout)
        try:
            with engine.connect():
                pass
        finally:
            engine.dispose()
    except ModuleNotFoundError as error:
        raise MlgovError(f"MLflow tracking database {shown}: its driver is not installed ({error})") from None
    except SQLAlchemyError as error:
        reason = str(getattr(error, "orig", None) or error).strip().splitlines()
        raise MlgovError(
            f"MLflow tracking database {shown} did not answer: {reason[0] if reason else type(error).__name__}"
        ) from None


class ModelRegistry:
    """An MLflow tracking server and model registry, by URI. New experiments keep their artifacts under
    `artifact_root` (a URI), or where the tracking server's own artifact store says when it is None."""

    def __init__(self, *, tracking_uri: str, artifact_root: str | None) -> None:
        self._uri = tracking_uri
        self._artifact_root = artifact_root
        self._client: MlflowClient | None = None
        self._estimators: dict[tuple[str, str], Any] = {}  # versions are immutable, so safe to keep

    @property
    def tracking_uri(self) -> str:
        return self._uri

    @property
    def client(self) -> MlflowClient:
        if self._client is None:
            _check_reachable(self._uri)
            with self._translated("opening the MLflow registry"):
                self._client = MlflowClient(tracking_uri=self._uri, registry_uri=self._uri)
        return self._client

    @contextmanager
    def _translated(self, doing: str) -> Iterator[None]:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                yield
        except MlflowException as error:
            message = str(error).splitlines()[0] if str(error) else type(error).__name__
            if _is_missing(error):
                raise NotFoundError(message) from None
            raise MlgovError(f"MLflow failed while {doing}: {message}") from None
        except ModuleNotFoundError as error:  # e.g. boto3 for an s3:// artifact store
            raise MlgovError(f"MLflow failed while {doing}: {error}; install it beside mlgov") from None

    def _fluent(self) -> contextlib.AbstractContextManager[None]:
        return mlflow_models.pointed_at(self._uri)

    def _experiment_id(self, model: str) -> str:
        name = f"mlgov/{model}"
        experiment = self.client.get_experiment_by_name(name)
        if experiment is not None:
            return str(experiment.experiment_id)
        location = None if self._artifact_root is None else f"{self._artifact_root.rstrip('/')}/{model}"
        return str(self.client.create_experiment(name, artifact_location=location))

    def log_model(
        self,
        *,
        model: str,
        estimator: Any,
        input_example: pd.DataFrame,
        params: Mapping[str, str],
        metrics: Mapping[str, float],
        tags: Mapping[str, str],
        attachments: Mapping[str, str] | None = None,
        training_data: TrainingData | None = None,
    ) -> ModelVersionInfo:
        """Log a fitted scikit-learn estimator in a new run and register it as a new version.

        `attachments` (artifact path -> text) are stored with the run; `training_data` is logged as the
        run's dataset input, so MLflow's UI shows which Delta table version trained the model.
        """
        with self._run(model, params, metrics, tags, attachments, training_data):
            # skops (not pickle) is MLflow's safe format; the types it would not trust by
            # default are those of the estimator we just built, so we vouch for exactly those.
            import skops.io  # costs ~2 s to import: only when logging

            trusted = skops.io.get_untrusted_types(data=skops.io.dumps(estimator))
            # classifiers are served by their probabilities, regressors by their predictions
            predict = "predict_proba" if hasattr(estimator, "predict_proba") else "predict"
            logged = mlflow.sklearn.log_model(
                estimator,
                skops_trusted_types=trusted,
                name="model",
                # A signature, not an example: with an example MLflow reloads the model to re-check it,
                # which costs ~1 s a version and proves nothing train has not just evaluated.
                signature=infer_signature(input_example, getattr(estimator, predict)(input_example)),
                pip_requirements=_PIP_REQUIREMENTS,
                pyfunc_predict_fn=predict,
            )
            source = logged.model_uri
        with (
            self._translated(f"registering model {model}"),
            self._fluent(),
            contextlib.redirect_stderr(io.StringIO()),  # MLflow prints its progress unasked
        ):
            registered = mlflow.register_model(source, model, tags=dict(tags))
        return self.version(model, str(registered.version))

    def register_copy(
        self,
        *,
        model: str,
        path: Path,
        params: Mapping[str, str],
        metrics: Mapping[str, float],
        tags: Mapping[str, str],
        attachments: Mapping[str, str] | None = None,
        training_data: TrainingData | None = None,
    ) -> ModelVersionInfo:
        """Register the MLflow model directory at `path` (trained elsewhere), byte for byte, as a new version
        of `model`: its files are stored with a new run of mlgov's, so the version loads from this server
        whichever server the model came from."""
        with self._run(model, params, metrics, tags, attachments, training_data):
            mlflow.log_artifacts(str(path), "model")
            run_id = mlflow.active_run().info.run_id  # type: ignore[union-attr]
            source = mlflow.get_artifact_uri("model")
        with self._translated(f"registering model {model}"):
            if model not in {m.name for m in self.client.search_registered_models(f"name = '{model}'")}:
                self.client.create_registered_model(model)
            registered = self.client.create_model_version(model, source=source, run_id=run_id, tags=dict(tags))
        return self.version(model, str(registered.version))

    @contextmanager
    def _run(
        self,
        model: str,
        params: Mapping[str, str],
        metrics: Mapping[str, float],
        tags: Mapping[str, str],
        attachments: Mapping[str, str] | None,
        training_data: TrainingData | None,
    ) -> Iterator[None]:
        """A new run of the model's experiment holding its parameters, metrics, attachments and data."""
        with (
            self._translated(f"logging model {model}"),
            self._fluent(),
            mlflow.start_run(experiment_id=self._experiment_id(model), tags=dict(tags)),
        ):
            mlflow.log_params(dict(params))
            mlflow.log_metrics({_metric_name(name): value for name, value in metrics.items()})
            for path, text in (attachments or {}).items():
                mlflow.log_text(text, path)
            if training_data is not None:
                _log_training_data(training_data)
            yield

    def load_text(self, run_id: str, path: str) -> str:
        """A text artifact stored with a run (see `log_model`'s attachments)."""
        with (
            self._translated(f"reading {path} of run {run_id}"),
            self._fluent(),
            contextlib.redirect_stderr(io.StringIO()),  # MLflow draws a progress bar unasked
        ):
            return str(mlflow.artifacts.load_text(f"runs:/{run_id}/{path}"))

    def version(self, model: str, version: str) -> ModelVersionInfo:
        with self._translated(f"reading {model} version {version}"):
            try:
                mv = self.client.get_model_version(model, version)
            except MlflowException as error:
                if _is_missing(error):
                    raise NotFoundError(f"model {model!r} has no version {version!r}") from None
                raise
            run = self.client.get_run(mv.run_id) if mv.run_id else None
        return _version_info(mv, aliases=tuple(mv.aliases), run=run)

    def versions(self, model: str) -> list[ModelVersionInfo]:
        """Every version of `model`, oldest first: three registry queries however many versions there are."""
        with self._translated(f"listing versions of {model}"):
            found = self._search_versions(f"name = '{model}'")
            runs = self._runs({mv.run_id for mv in found if mv.run_id})
            held: dict[str, list[str]] = {}  # a version search leaves aliases out: the model has them
            for alias, version in (self.client.get_registered_model(model).aliases or {}).items():
                held.setdefault(str(version), []).append(alias)
        infos = (
            _version_info(mv, aliases=tuple(held.get(str(mv.version), ())), run=runs.get(mv.run_id)) for mv in found
        )
        return sorted(infos, key=lambda v: int(v.version))

    def version_counts(self) -> dict[str, int]:
        """How many versions each registered model has (models without versions are left out)."""
        with self._translated("counting model versions"):
            return dict(Counter(mv.name for mv in self._search_versions(None)))

    def _search_versions(self, where: str | None) -> list[Any]:
        found: list[Any] = []
        token = None
        while True:
            page = self.client.search_model_versions(where, max_results=_PAGE, page_token=token)
            found.extend(page)
            token = page.token
            if not token:
                return found

    def _runs(self, run_ids: set[str]) -> dict[str, Any]:
        """The runs of `run_ids`, found in a few searches rather than one query per run."""
        if not run_ids:
            return {}
        every = ViewType.ALL  # as get_run would: a deleted run or experiment still holds the version's metrics
        experiments = [e.experiment_id for e in self.client.search_experiments(view_type=every, max_results=_PAGE)]
        ordered = sorted(run_ids)
        runs: dict[str, Any] = {}
        for start in range(0, len(ordered), _RUNS_PER_SEARCH):
            quoted = ", ".join(f"'{run_id}'" for run_id in ordered[start : start + _RUNS_PER_SEARCH])
            for run in self.client.search_runs(
                experiments,
                filter_string=f"attributes.run_id IN ({quoted})",
                run_view_type=every,
                max_results=_RUNS_PER_SEARCH,
            ):
                runs[run.info.run_id] = run
        return runs

    def models(self) -> list[RegisteredModelInfo]:
        with self._translated("listing registered models"):
            found = self.client.search_registered_models()
        return [
            RegisteredModelInfo(
                name=m.name,
                aliases={alias: str(v) for alias, v in (m.aliases or {}).items()},
                latest_version=str(max(int(v.version) for v in m.latest_versions)) if m.latest_versions else None,
                description=m.description or "",
                tags=dict(m.tags or {}),
            )
            for m in found
        ]

    def require_model(self, model: str) -> RegisteredModelInfo:
        for found in self.models():
            if found.name == model:
                return found
        raise NotFoundError(f"model {model!r} is not registered (train it first: mlgov train {model} ...)")

    def alias_version(self, model: str, alias: str) -> str | None:
        """The version `alias` points at, or None if it points nowhere."""
        with self._translated(f"reading alias {alias} of {model}"):
            try:
                return str(self.client.get_model_version_by_alias(model, alias).version)
            except MlflowException as error:
                if _is_missing(error):
                    return None
                raise

    def set_alias(self, model: str, alias: str, version: str) -> None:
        with self._translated(f"moving alias {alias} of {model}"):
            self.client.set_registered_model_alias(model, alias, version)

    def delete_alias(self, model: str, alias: str) -> None:
        with self._translated(f"removing alias {alias} of {model}"):
            self.client.delete_registered_model_alias(model, alias)

    def set_version_tags(self, model: str, version: str, tags: Mapping[str, str]) -> None:
        with self._translated(f"tagging {model} version {version}"):
            for key, value in tags.items():
                self.client.set_model_version_tag(model, version, key, value)

    def load_estimator(self, model: str, version: str) -> Any:
        """The scikit-learn estimator of one version, in its native flavor (no pyfunc wrapper)."""
        if (model, version) not in self._estimators:
            with self._translated(f"loading {model} version {version}"), self._fluent():
                self._estimators[model, version] = mlflow.sklearn.load_model(f"models:/{model}/{version}")
        return self._estimators[model, version]

    def load_foreign(self, model: str, version: str) -> LoadedModel:
        """A version registered from outside mlgov (`register_copy`), loaded in its own flavor."""
        if (model, version) not in self._estimators:
            with self._translated(f"loading {model} version {version}"), self._fluent():
                uri = f"models:/{model}/{version}"
                flavors, inputs = mlflow_models.describe(uri)
                self._estimators[model, version] = mlflow_models.load(uri, flavors=flavors, inputs=inputs)
        loaded: LoadedModel = self._estimators[model, version]
        return loaded

    def model_tags(self, model: str) -> dict[str, str]:
        with self._translated(f"reading {model}"):
            return dict(self.client.get_registered_model(model).tags)

    def set_model_tag(self, model: str, key: str, value: str) -> None:
        with self._translated(f"tagging {model}"):
            self.client.set_registered_model_tag(model, key, value)

    def artifact_digest(self, model: str, version: str) -> str:
        """SHA-256 over the version's model files (relative path and bytes, in path order)."""
        doing = f"reading the artifacts of {model} version {version}"
        with (
            self._translated(doing),
            self._fluent(),
            tempfile.TemporaryDirectory(prefix="mlgov-digest-") as scratch,
            contextlib.redirect_stderr(io.StringIO()),  # MLflow draws a progress bar unasked
        ):
            root = Path(mlflow.artifacts.download_artifacts(f"models:/{model}/{version}", dst_path=scratch))
            digest = hashlib.sha256()
            for path in sorted(p for p in root.rglob("*") if p.is_file()):
                digest.update(str(path.relative_to(root)).encode("utf-8") + b"\0")
                digest.update(path.read_bytes())
            return digest.hexdigest()

    def experiment_ids(self, run_ids: Iterable[str]) -> dict[str, str]:
        """The experiment id of each run in `run_ids`, in two queries; unknown runs are left out."""
        wanted = sorted({run_id for run_id in run_ids if run_id.isalnum()})  # MLflow run ids are hex
        if not wanted:
            return {}
        with self._translated("reading the experiments of runs"):
            experiments = [e.experiment_id for e in self.client.search_experiments()]
            listed = ", ".join(f"'{run_id}'" for run_id in wanted)
            runs = self.client.search_runs(
                experiments, filter_string=f"attributes.run_id IN ({listed})", max_results=len(wanted)
            )
        return {run.info.run_id: str(run.info.experiment_id) for run in runs}
