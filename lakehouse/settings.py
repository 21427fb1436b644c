"""Settings: one frozen, typed model read from MLGOV_* variables; unknown keys are refused."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from governance.errors import InputError

PREFIX = "MLGOV_"


@dataclass(frozen=True)
class Settings:
    home: Path
    tracking_uri: str
    required_approvals: int = 2
    score_chunk_rows: int = 250_000

    @property
    def lakehouse_root(self) -> Path:
        return self.home / "lakehouse"

    @property
    def artifact_root(self) -> Path:
        return self.home / "artifacts"

    @property
    def reports_root(self) -> Path:
        return self.home / "reports"

    @property
    def lock_root(self) -> Path:
        return self.home / "locks"


_INT_KEYS = {"MLGOV_REQUIRED_APPROVALS": "required_approvals", "MLGOV_SCORE_CHUNK_ROWS": "score_chunk_rows"}
_KNOWN = {"MLGOV_HOME", *_INT_KEYS}


def load_settings(environ: Mapping[str, str], *, cwd: Path) -> Settings:
    """Settings from an environment mapping; relative MLGOV_HOME is taken from `cwd`."""
    unknown = sorted(k for k in environ if k.startswith(PREFIX) and k not in _KNOWN)
    if unknown:
        raise InputError(f"unknown setting {unknown[0]}: expected one of {', '.join(sorted(_KNOWN))}")
    home = Path(environ.get("MLGOV_HOME") or ".mlgov")
    home = (home if home.is_absolute() else cwd / home).resolve()
    tracking_uri = environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{home / 'mlflow.db'}"
    numbers: dict[str, int] = {}
    for key, name in _INT_KEYS.items():
        if key in environ:
            try:
                numbers[name] = int(environ[key])
            except ValueError:
                raise InputError(f"{key}={environ[key]!r}: expected a whole number") from None
            if numbers[name] < 1:
                raise InputError(f"{key}={environ[key]!r}: expected a number of at least 1")
    return Settings(home=home, tracking_uri=tracking_uri, **numbers)
