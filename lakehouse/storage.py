"""Where the lakehouse's Delta tables live: one root and its storage options, and the only place that
opens a table, writes one, or touches the files under it.

Every table, the audit table included, is reached through a `Storage`. Today the root is a local
folder; an object-store root (s3://, gs://, az://) plugs in here with delta-rs's storage options,
and nothing above this module changes.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import polars as pl
import pyarrow as pa
from deltalake import DeltaTable, write_deltalake

_FIRST_COMMIT = f"{0:020d}.json"
_COMMIT_FILE = re.compile(r"(\d{20})\.json")
_CHECKPOINT_FILE = re.compile(r"(\d{20})\.checkpoint\..*")


@dataclass(frozen=True)
class LogVersions:
    """The versions a table's Delta log holds files for: commits (`N.json`) and checkpoints, ascending."""

    commits: tuple[int, ...]
    checkpoints: tuple[int, ...]


@dataclass(frozen=True)
class DataFileOnDisk:
    """A Parquet file under a table's folder, listed or not by its log: location and modification time."""

    location: str
    modified: float  # seconds since the epoch


class Storage:
    """The lakehouse root (a local folder) with the storage options every table is opened with."""

    def __init__(self, root: Path, *, options: Mapping[str, str] | None = None) -> None:
        self._root = root
        self._options = dict(options or {})

    @property
    def root(self) -> str:
        return str(self._root)

    @property
    def options(self) -> dict[str, str]:
        return dict(self._options)

    def uri(self, table: str) -> str:
        """The location of table `table` (e.g. 'raw/loans'), as delta-rs takes it."""
        return str(self._root / table)

    def local_path(self, table: str) -> Path:
        """The folder of `table` on local disk."""
        return self._root / table

    def exists(self, table: str) -> bool:
        return DeltaTable.is_deltatable(self.uri(table), storage_options=self._options or None)

    def open(self, table: str, *, version: int | None = None) -> DeltaTable:
        """A handle on `table` at its latest version, or at `version`; raises delta-rs's errors."""
        return DeltaTable(self.uri(table), version=version, storage_options=self._options or None)

    def write(self, target: str | DeltaTable, data: pa.Table, **options: Any) -> None:
        """`write_deltalake` on a table name, or through an open handle (which pins the version it writes after)."""
        if isinstance(target, DeltaTable):
            write_deltalake(target, data, **options)
        else:
            write_deltalake(self.uri(target), data, storage_options=self._options or None, **options)

    def tables_under(self, prefix: str) -> list[str]:
        """The names of the Delta tables directly under `prefix`, sorted."""
        base = self._root / prefix
        if not base.is_dir():
            return []
        return sorted(f"{prefix}/{p.name}" for p in base.iterdir() if self.exists(f"{prefix}/{p.name}"))

    def creation_stamp(self, table: str) -> object:
        """Identifies one creation of `table` (its first commit file's inode and mtime), or None if absent.

        A table deleted and written anew has a new first commit: cached handles must not outlive it.
        """
        try:
            first = os.stat(self._root / table / "_delta_log" / _FIRST_COMMIT)
        except OSError:
            return None
        return (first.st_ino, first.st_mtime_ns)

    def commit_added_bytes(self, table: str, version: int, *, run_id: str) -> int | None:
        """The bytes of the data files commit `version` of `table` added, if that commit was made by
        run `run_id` (None otherwise, or when the commit cannot be read)."""
        try:
            lines = (self._root / table / "_delta_log" / f"{version:020d}.json").read_text(encoding="utf-8")
        except OSError:
            return None
        added, ours = 0, False
        for line in lines.splitlines():
            action = json.loads(line)
            if "add" in action:
                added += int(action["add"].get("size", 0))
            elif "commitInfo" in action:
                ours = run_id in str(action["commitInfo"].get("mlgov.run_id", "")).split(",")
        return added if ours else None

    def has_commit(self, table: str, version: int) -> bool:
        """Whether `table`'s log holds commit `version` (commit files appear atomically)."""
        return (self._root / table / "_delta_log" / f"{version:020d}.json").exists()

    def log_versions(self, table: str) -> LogVersions:
        """Which commit and checkpoint files `table`'s `_delta_log` holds now."""
        commits: list[int] = []
        checkpoints: list[int] = []
        try:
            entries = list(os.scandir(self._root / table / "_delta_log"))
        except OSError:
            return LogVersions(commits=(), checkpoints=())
        for entry in entries:
            if match := _COMMIT_FILE.fullmatch(entry.name):
                commits.append(int(match.group(1)))
            elif match := _CHECKPOINT_FILE.fullmatch(entry.name):
                checkpoints.append(int(match.group(1)))
        return LogVersions(commits=tuple(sorted(commits)), checkpoints=tuple(sorted(set(checkpoints))))

    def commit_location(self, table: str, version: int) -> str:
        """Where `table`'s commit `version` is (or would be)."""
        return str(self._root / table / "_delta_log" / f"{version:020d}.json")

    def commit_actions(self, table: str, version: int) -> list[dict[str, Any]]:
        """The actions of `table`'s commit `version` (one JSON object a line); raises the OS's or JSON's errors."""
        text = Path(self.commit_location(table, version)).read_text(encoding="utf-8")
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def files_on_disk(self, table: str) -> list[DataFileOnDisk]:
        """Every Parquet file under `table`'s folder (outside its log), whether the log lists it or not."""
        found: list[DataFileOnDisk] = []
        for folder, subfolders, names in os.walk(self._root / table):
            subfolders[:] = [name for name in subfolders if name != "_delta_log"]
            for name in names:
                if name.endswith(".parquet"):
                    path = os.path.join(folder, name)
                    try:
                        found.append(DataFileOnDisk(location=path, modified=os.stat(path).st_mtime))
                    except OSError:
                        continue  # gone since listing
        return found

    def data_file(self, table: str, path: str) -> str:
        """The location of one of `table`'s data files, from the path its log gives."""
        if "://" in path:  # an absolute URI (e.g. a shallow clone): only local files are supported
            return unquote(urlparse(path).path)
        return str(self._root / table / unquote(path))

    def is_file(self, location: str) -> bool:
        return Path(location).is_file()

    def read_parquet(
        self, locations: Sequence[str], *, columns: Sequence[str], location_column: str | None = None
    ) -> pl.DataFrame:
        """The rows of the Parquet files at `locations` (from `data_file`); raises polars' or the OS's errors.

        With `location_column`, each row also carries the location of its file in a column of that name.
        """
        if location_column is None:
            return pl.read_parquet(list(locations), columns=list(columns))
        return self.scan_parquet(locations, location_column=location_column).select(*columns, location_column).collect()

    def scan_parquet(self, locations: Sequence[str], *, location_column: str | None = None) -> pl.LazyFrame:
        """The Parquet files at `locations` as one lazy frame, for a query that need not hold their rows."""
        return pl.scan_parquet(list(locations), include_file_paths=location_column)
