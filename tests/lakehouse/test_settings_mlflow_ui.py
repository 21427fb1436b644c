"""MLGOV_MLFLOW_UI_URL: where the MLflow UI runs, so the app can link a version to its run."""

from __future__ import annotations

from pathlib import Path

import pytest

from governance.errors import InputError
from lakehouse.settings import load_settings


def test_the_mlflow_ui_is_not_configured_by_default(tmp_path: Path) -> None:
    assert load_settings({}, cwd=tmp_path).mlflow_ui_url is None
    assert load_settings({"MLGOV_MLFLOW_UI_URL": "  "}, cwd=tmp_path).mlflow_ui_url is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("http://127.0.0.1:5000", "http://127.0.0.1:5000"),
        ("https://mlflow.example.org/", "https://mlflow.example.org"),
        (" https://example.org/mlflow// ", "https://example.org/mlflow"),
    ],
)
def test_the_address_is_kept_without_a_trailing_slash(tmp_path: Path, value: str, expected: str) -> None:
    assert load_settings({"MLGOV_MLFLOW_UI_URL": value}, cwd=tmp_path).mlflow_ui_url == expected


@pytest.mark.parametrize("value", ["127.0.0.1:5000", "ftp://host", "javascript:alert(1)", "http://", "http://a b"])
def test_an_address_that_is_not_http_is_refused_in_one_line(tmp_path: Path, value: str) -> None:
    with pytest.raises(InputError, match="MLGOV_MLFLOW_UI_URL") as refused:
        load_settings({"MLGOV_MLFLOW_UI_URL": value}, cwd=tmp_path)
    assert len(str(refused.value).splitlines()) == 1
