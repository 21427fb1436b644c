"""Settings: one frozen, typed model read from MLGOV_* variables; unknown keys are refused."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlparse

from governance.errors import InputError

PREFIX = "MLGOV_"
# Tracking URIs by which mlgov talks to MLflow's database itself, with no server between: nothing but
# mlgov can then say where model files go.
_DATABASE_SCHEMES = ("sqlite", "postgresql", "mysql", "mssql")
# Where MLflow can keep model files (MLGOV_ARTIFACTS), besides a local folder.
_ARTIFACT_SCHEMES = ("file", "s3", "gs", "wasbs", "abfss", "hdfs", "sftp", "ftp", "mlflow-artifacts", "dbfs")
# Where the lakehouse's tables can live (MLGOV_LAKEHOUSE), besides a local folder: the object stores
# delta-rs opens, configured by the environment in its own conventions (the prefixes below).
_LAKEHOUSE_SCHEMES = ("s3", "s3a", "gs", "az", "abfs", "abfss", "azure")
_STORAGE_PREFIXES = ("AWS_", "GOOGLE_", "AZURE_")
_URI = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]+):")  # a scheme: s3://..., mlflow-artifacts:/...


@dataclass(frozen=True)
class Settings:
    home: Path
    tracking_uri: str
    required_approvals: int = 2
    score_chunk_rows: int = 250_000
    audit_key: Path | None = None  # MLGOV_AUDIT_KEY: the Ed25519 key that signs audit seals
    audit_seals: Path | None = None  # MLGOV_AUDIT_SEALS: where seals and their public key are kept
    mlflow_ui_url: str | None = None  # MLGOV_MLFLOW_UI_URL: the MLflow UI's address, for links to runs
    artifacts: str | None = None  # MLGOV_ARTIFACTS: where new experiments keep model files, as a URI
    lakehouse: Path | str | None = None  # MLGOV_LAKEHOUSE: a local folder, or an object-store URI
    # delta-rs storage options (AWS_*, GOOGLE_*, AZURE_* from the environment), for an object-store lakehouse
    storage_options: Mapping[str, str] = field(default_factory=dict)
    engine: str = "local"  # MLGOV_ENGINE: where score and monitor compute (ENGINES)
    ray_address: str | None = None  # MLGOV_RAY_ADDRESS: the Ray cluster of the ray engine (None: a local one)

    @property
    def lakehouse_root(self) -> Path | str:
        """Where the tables live: a local folder (default $MLGOV_HOME/lakehouse) or an object-store URI."""
        return self.lakehouse if self.lakehouse is not None else self.home / "lakehouse"

    @property
    def artifact_root(self) -> str | None:
        """Where new experiments keep their model files, as a URI: MLGOV_ARTIFACTS when set; else
        $MLGOV_HOME/artifacts when mlgov talks to MLflow's database itself (the embedded SQLite default,
        a postgresql:// URI: no server is there to decide); else None, and the tracking server's own
        artifact store decides."""
        if self.artifacts is not None:
            return self.artifacts
        scheme = self.tracking_uri.partition(":")[0].partition("+")[0].lower()
        return (self.home / "artifacts").as_uri() if scheme in _DATABASE_SCHEMES else None

    @property
    def reports_root(self) -> Path:
        """Evidently's HTML reports stay on local disk, beside the embedded defaults, wherever the tables
        are: a report is regenerated from the drift tables on demand, so it is a cache, not a record."""
        return self.home / "reports"

    @property
    def lock_root(self) -> Path:
        return self.home / "locks"

    @property
    def sessions_root(self) -> Path:
        """The app's session secret and its signed-out sessions: never in the lakehouse, never committed."""
        return self.home / "sessions"

    @property
    def audit_seals_root(self) -> Path:
        """Beside MLGOV_HOME, not in it: deleting, copying or restoring the lakehouse leaves the seals be."""
        return self.audit_seals or self.home.parent / f"{self.home.name}-seals"


_INT_KEYS = {"MLGOV_REQUIRED_APPROVALS": "required_approvals", "MLGOV_SCORE_CHUNK_ROWS": "score_chunk_rows"}
_PATH_KEYS = {"MLGOV_AUDIT_KEY": "audit_key", "MLGOV_AUDIT_SEALS": "audit_seals"}
_KNOWN = {
    "MLGOV_LAKEHOUSE",
    "MLGOV_HOME",
    "MLGOV_MLFLOW_UI_URL",
    "MLGOV_ARTIFACTS",
    "MLGOV_ENGINE",
    "MLGOV_RAY_ADDRESS",
    *_INT_KEYS,
    *_PATH_KEYS,
}
# Where the heavy jobs (scoring, drift, quality) compute: in this process, or on Daft over a Ray cluster.
ENGINES = ("local", "ray")
# Alert channels (see lakehouse.channels): MLGOV_CHANNEL_<NAME> holds a URL, MLGOV_CHANNEL_<NAME>_SECRET a
# webhook's signing secret. A family of keys, not settings: they hold secrets and stay out of Settings.
_CHANNEL_KEY = re.compile(r"MLGOV_CHANNEL_[A-Z][A-Z0-9_]{0,39}")


def load_settings(environ: Mapping[str, str], *, cwd: Path) -> Settings:
    """Settings from an environment mapping; relative MLGOV_HOME is taken from `cwd`."""
    unknown = sorted(k for k in environ if k.startswith(PREFIX) and k not in _KNOWN and not _CHANNEL_KEY.fullmatch(k))
    if unknown:
        expected = ", ".join([*sorted(_KNOWN), "MLGOV_CHANNEL_<NAME>[_SECRET]"])
        raise InputError(f"unknown setting {unknown[0]}: expected one of {expected}")
    if _URI.match(environ.get("MLGOV_HOME", "")):
        raise InputError(
            f"MLGOV_HOME={environ['MLGOV_HOME']!r}: expected a local folder (such as ./.mlgov or /srv/mlgov); "
            "to keep the tables on object storage, set MLGOV_LAKEHOUSE to its URI"
        )
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
    lakehouse = _lakehouse(environ.get("MLGOV_LAKEHOUSE", ""), cwd=cwd, environ=environ)
    paths: dict[str, Path] = {}
    for key, name in _PATH_KEYS.items():
        if environ.get(key):
            if _URI.match(environ[key]):
                raise InputError(f"{key}={environ[key]!r}: expected a local file or folder, not a URI")
            paths[name] = _path(environ[key], cwd=cwd, environ=environ)
            inside = home if key == "MLGOV_AUDIT_KEY" else lakehouse or home / "lakehouse"
            if isinstance(inside, Path) and paths[name].is_relative_to(inside):
                raise InputError(f"{key}={environ[key]!r} is inside {inside}: keep it outside the lakehouse")
    # The signing key belongs to the person who seals, not to the lakehouse: per user, outside MLGOV_HOME.
    audit_key = paths.get("audit_key") or _config_home(environ) / "mlgov" / "audit_ed25519.pem"
    return Settings(
        home=home,
        tracking_uri=tracking_uri,
        audit_key=audit_key,
        audit_seals=paths.get("audit_seals"),
        mlflow_ui_url=_ui_url(environ.get("MLGOV_MLFLOW_UI_URL", "")),
        artifacts=_artifacts(environ.get("MLGOV_ARTIFACTS", ""), cwd=cwd, environ=environ),
        lakehouse=lakehouse,
        storage_options={k: v for k, v in environ.items() if k.startswith(_STORAGE_PREFIXES)}
        if isinstance(lakehouse, str)
        else {},
        engine=engine_choice(environ.get("MLGOV_ENGINE") or "local", source="MLGOV_ENGINE"),
        ray_address=environ.get("MLGOV_RAY_ADDRESS", "").strip() or None,
        **numbers,
    )


def _lakehouse(text: str, *, cwd: Path, environ: Mapping[str, str]) -> Path | str | None:
    """MLGOV_LAKEHOUSE: a local folder (resolved), an object-store URI (without a trailing slash), or None."""
    text = text.strip()
    if not text:
        return None
    scheme = _URI.match(text)
    if scheme is None:
        return _path(text, cwd=cwd, environ=environ)
    name = scheme.group(1).lower()
    if name == "file":
        return _path(unquote(urlparse(text).path), cwd=cwd, environ=environ)
    rest = text[scheme.end() :]
    if name not in _LAKEHOUSE_SCHEMES or not rest.startswith("//") or not rest.strip("/"):
        raise InputError(
            f"MLGOV_LAKEHOUSE={text!r}: expected a local folder or an object-store URI "
            f"({', '.join(f'{s}://bucket/path' for s in ('s3', 'gs', 'az', 'abfss'))})"
        )
    return text.rstrip("/")


def engine_choice(text: str, *, source: str) -> str:
    """An engine name from ENGINES; `source` names where it came from (a setting, an option)."""
    if text.strip().lower() not in ENGINES:
        raise InputError(f"{source}={text!r}: expected one of {', '.join(ENGINES)}")
    return text.strip().lower()


def _artifacts(text: str, *, cwd: Path, environ: Mapping[str, str]) -> str | None:
    """MLGOV_ARTIFACTS as a URI without a trailing slash: a local folder becomes file://...; None when unset."""
    text = text.strip()
    if not text:
        return None
    scheme = _URI.match(text)
    if scheme is None:
        return _path(text, cwd=cwd, environ=environ).as_uri()
    if scheme.group(1).lower() not in _ARTIFACT_SCHEMES or not text[scheme.end() :].strip("/"):
        raise InputError(
            f"MLGOV_ARTIFACTS={text!r}: expected a local folder or a URI of an artifact store MLflow knows "
            f"({', '.join(f'{s}://' for s in _ARTIFACT_SCHEMES)})"
        )
    return text.rstrip("/")


def _path(text: str, *, cwd: Path, environ: Mapping[str, str]) -> Path:
    if text == "~" or text.startswith("~/"):
        text = str(_user_home(environ)) + text[1:]
    path = Path(text)
    return (path if path.is_absolute() else cwd / path).resolve()


def _user_home(environ: Mapping[str, str]) -> Path:
    return Path(environ["HOME"]) if environ.get("HOME") else Path.home()


def _config_home(environ: Mapping[str, str]) -> Path:
    configured = environ.get("XDG_CONFIG_HOME")
    return Path(configured) if configured and Path(configured).is_absolute() else _user_home(environ) / ".config"


def _ui_url(text: str) -> str | None:
    """The MLflow UI's base address without a trailing slash; None when not configured."""
    url = text.strip().rstrip("/")
    if not url:
        return None
    scheme, _, rest = url.partition("://")
    if scheme not in ("http", "https") or not rest or any(c.isspace() for c in url):
        raise InputError(f"MLGOV_MLFLOW_UI_URL={text!r}: expected an http(s) address such as http://127.0.0.1:5000")
    return url
