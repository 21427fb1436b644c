"""load_settings: MLGOV_* variables into one frozen Settings; unknown keys and bad numbers refused."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from governance.errors import InputError
from lakehouse.settings import Settings, load_settings


def test_defaults_put_home_under_cwd(tmp_path: Path) -> None:
    settings = load_settings({}, cwd=tmp_path)

    home = (tmp_path / ".mlgov").resolve()
    assert settings.home == home
    assert settings.tracking_uri == f"sqlite:///{home / 'mlflow.db'}"
    assert settings.required_approvals == 2
    assert settings.score_chunk_rows == 250_000
    assert settings.lakehouse_root == home / "lakehouse"
    assert settings.artifact_root == (home / "artifacts").as_uri()
    assert settings.reports_root == home / "reports"
    assert settings.lock_root == home / "locks"


def test_unrelated_environment_variables_are_ignored(tmp_path: Path) -> None:
    settings = load_settings({"PATH": "/usr/bin", "HOME": "/root", "MLGOVX": "1"}, cwd=tmp_path)
    assert settings.home == (tmp_path / ".mlgov").resolve()


def test_relative_home_is_taken_from_cwd(tmp_path: Path) -> None:
    settings = load_settings({"MLGOV_HOME": "data/gov"}, cwd=tmp_path)
    assert settings.home == (tmp_path / "data" / "gov").resolve()
    assert settings.home.is_absolute()
    assert settings.tracking_uri == f"sqlite:///{settings.home / 'mlflow.db'}"


def test_relative_home_with_dotdot_is_resolved(tmp_path: Path) -> None:
    settings = load_settings({"MLGOV_HOME": "../elsewhere"}, cwd=tmp_path / "project")
    assert settings.home == (tmp_path / "elsewhere").resolve()


def test_absolute_home_ignores_cwd(tmp_path: Path) -> None:
    home = tmp_path / "abs-home"
    settings = load_settings({"MLGOV_HOME": str(home)}, cwd=tmp_path / "somewhere" / "else")
    assert settings.home == home.resolve()
    assert settings.lakehouse_root == home.resolve() / "lakehouse"


def test_empty_home_falls_back_to_the_default(tmp_path: Path) -> None:
    assert load_settings({"MLGOV_HOME": ""}, cwd=tmp_path).home == (tmp_path / ".mlgov").resolve()


def test_mlflow_tracking_uri_overrides_the_sqlite_default(tmp_path: Path) -> None:
    settings = load_settings(
        {"MLGOV_HOME": str(tmp_path), "MLFLOW_TRACKING_URI": "http://mlflow.internal:5000"}, cwd=tmp_path
    )
    assert settings.tracking_uri == "http://mlflow.internal:5000"
    assert settings.home == tmp_path.resolve()


def test_required_approvals_is_parsed(tmp_path: Path) -> None:
    settings = load_settings({"MLGOV_REQUIRED_APPROVALS": "3", "MLGOV_SCORE_CHUNK_ROWS": "1000"}, cwd=tmp_path)
    assert settings.required_approvals == 3
    assert isinstance(settings.required_approvals, int)
    assert settings.score_chunk_rows == 1000


def test_required_approvals_of_one_is_allowed(tmp_path: Path) -> None:
    assert load_settings({"MLGOV_REQUIRED_APPROVALS": "1"}, cwd=tmp_path).required_approvals == 1


@pytest.mark.parametrize("value", ["two", "2.5", "", "0x2"])
def test_non_integer_required_approvals_is_refused(tmp_path: Path, value: str) -> None:
    with pytest.raises(InputError, match=r"MLGOV_REQUIRED_APPROVALS=.*expected a whole number"):
        load_settings({"MLGOV_REQUIRED_APPROVALS": value}, cwd=tmp_path)


@pytest.mark.parametrize("value", ["0", "-1"])
def test_required_approvals_below_one_is_refused(tmp_path: Path, value: str) -> None:
    with pytest.raises(InputError, match=r"MLGOV_REQUIRED_APPROVALS=.*at least 1"):
        load_settings({"MLGOV_REQUIRED_APPROVALS": value}, cwd=tmp_path)


def test_zero_score_chunk_rows_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="MLGOV_SCORE_CHUNK_ROWS"):
        load_settings({"MLGOV_SCORE_CHUNK_ROWS": "0"}, cwd=tmp_path)


def test_unknown_mlgov_setting_is_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"unknown setting MLGOV_FOO") as raised:
        load_settings({"MLGOV_FOO": "1", "MLGOV_HOME": str(tmp_path)}, cwd=tmp_path)
    assert "MLGOV_HOME" in str(raised.value)  # the message lists what is accepted


def test_misspelt_setting_is_refused_rather_than_ignored(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"MLGOV_REQUIRED_APPROVAL\b"):
        load_settings({"MLGOV_REQUIRED_APPROVAL": "3"}, cwd=tmp_path)


def test_settings_are_frozen(tmp_path: Path) -> None:
    settings = load_settings({}, cwd=tmp_path)
    assert isinstance(settings, Settings)
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.required_approvals = 1  # type: ignore[misc]


@pytest.mark.parametrize(
    ("tracking_uri", "expected"),
    [
        ("postgresql://mlgov@db.internal:5432/mlflow", "home"),  # mlgov is the only client: no server decides
        ("postgresql+psycopg://mlgov@db.internal/mlflow", "home"),
        ("sqlite:////srv/mlflow.db", "home"),
        ("http://mlflow.internal:5000", None),  # the tracking server's artifact store decides
        ("https://mlflow.example.com", None),
        ("databricks", None),
    ],
)
def test_artifacts_go_where_the_tracking_setup_says(tmp_path: Path, tracking_uri: str, expected: str | None) -> None:
    settings = load_settings({"MLGOV_HOME": str(tmp_path), "MLFLOW_TRACKING_URI": tracking_uri}, cwd=tmp_path)
    assert settings.artifact_root == ((tmp_path.resolve() / "artifacts").as_uri() if expected else None)


@pytest.mark.parametrize("tracking_uri", ["", "http://mlflow.internal:5000", "postgresql://mlgov@db/mlflow"])
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("s3://models-bucket/mlgov/", "s3://models-bucket/mlgov"),
        ("gs://models/mlgov", "gs://models/mlgov"),
        ("mlflow-artifacts:/mlgov", "mlflow-artifacts:/mlgov"),  # through the tracking server's artifact proxy
        ("shared/artifacts", None),
    ],
)
def test_mlgov_artifacts_wins_over_every_default(
    tmp_path: Path, tracking_uri: str, value: str, expected: str | None
) -> None:
    environ = {"MLGOV_HOME": str(tmp_path), "MLGOV_ARTIFACTS": value}
    if tracking_uri:
        environ["MLFLOW_TRACKING_URI"] = tracking_uri
    settings = load_settings(environ, cwd=tmp_path)
    assert settings.artifact_root == (expected or (tmp_path / value).resolve().as_uri())


@pytest.mark.parametrize("value", ["minio://bucket/x", "s3://", "s3:", "javascript:alert(1)"])
def test_an_artifact_store_mlflow_does_not_know_is_refused(tmp_path: Path, value: str) -> None:
    with pytest.raises(InputError, match=r"MLGOV_ARTIFACTS=.*expected a local folder or a URI"):
        load_settings({"MLGOV_ARTIFACTS": value}, cwd=tmp_path)


@pytest.mark.parametrize(
    "value",
    [
        "s3://bucket/home",
        "s3:bucket/home",
        "gs://bucket/home",
        "az://container/home",
        "abfss://c@acct.dfs.core.windows.net/h",
        "http://x/y",
    ],
)
def test_a_uri_as_mlgov_home_is_refused_not_made_a_local_folder(tmp_path: Path, value: str) -> None:
    with pytest.raises(InputError, match=r"MLGOV_HOME=.*expected a local folder") as refused:
        load_settings({"MLGOV_HOME": value}, cwd=tmp_path)
    assert "\n" not in str(refused.value)
    assert list(tmp_path.iterdir()) == []


def test_a_uri_as_the_audit_key_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"MLGOV_AUDIT_KEY=.*not a URI"):
        load_settings({"MLGOV_AUDIT_KEY": "s3://keys/audit.pem"}, cwd=tmp_path)


def test_mlgov_lakehouse_takes_an_object_store_uri_with_its_storage_options_from_the_environment(
    tmp_path: Path,
) -> None:
    environ = {
        "MLGOV_LAKEHOUSE": "s3://team-bucket/mlgov/",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9000",
        "AWS_REGION": "eu-west-1",
        "GOOGLE_SERVICE_ACCOUNT": "/keys/sa.json",
        "PATH": "/usr/bin",
    }
    settings = load_settings(environ, cwd=tmp_path)

    assert settings.lakehouse_root == "s3://team-bucket/mlgov"
    assert settings.home == (tmp_path / ".mlgov").resolve()  # the embedded defaults stay on local disk
    assert dict(settings.storage_options) == {
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9000",
        "AWS_REGION": "eu-west-1",
        "GOOGLE_SERVICE_ACCOUNT": "/keys/sa.json",
    }


@pytest.mark.parametrize(
    "uri", ["gs://bucket/lake", "az://container/lake", "abfss://fs@account.dfs.core.windows.net/lake"]
)
def test_mlgov_lakehouse_takes_gcs_and_azure_uris(tmp_path: Path, uri: str) -> None:
    assert load_settings({"MLGOV_LAKEHOUSE": uri}, cwd=tmp_path).lakehouse_root == uri


def test_mlgov_lakehouse_as_a_local_folder_is_resolved_and_has_no_storage_options(tmp_path: Path) -> None:
    settings = load_settings({"MLGOV_LAKEHOUSE": "tables", "AWS_REGION": "eu-west-1"}, cwd=tmp_path)
    assert settings.lakehouse_root == (tmp_path / "tables").resolve()
    assert dict(settings.storage_options) == {}


@pytest.mark.parametrize("uri", ["ftp://host/lake", "s3:/bucket", "s3://", "mlgov://x"])
def test_mlgov_lakehouse_with_a_scheme_mlgov_does_not_know_is_refused(tmp_path: Path, uri: str) -> None:
    with pytest.raises(InputError, match=r"MLGOV_LAKEHOUSE=.*expected a local folder or an object-store URI"):
        load_settings({"MLGOV_LAKEHOUSE": uri}, cwd=tmp_path)


def test_engine_and_ray_address_are_read(tmp_path: Path) -> None:
    settings = load_settings({"MLGOV_ENGINE": "Ray", "MLGOV_RAY_ADDRESS": " 10.0.0.5:6379 "}, cwd=tmp_path)
    assert (settings.engine, settings.ray_address) == ("ray", "10.0.0.5:6379")
    assert (load_settings({}, cwd=tmp_path).engine, load_settings({}, cwd=tmp_path).ray_address) == ("local", None)


def test_an_unknown_engine_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"MLGOV_ENGINE='dask': expected one of local, ray"):
        load_settings({"MLGOV_ENGINE": "dask"}, cwd=tmp_path)
