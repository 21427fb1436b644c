"""Where the lakehouse's Delta tables live: one root and its storage options, and the only place that
opens a table, writes one, or touches the files under it.

Every table, the audit table included, is reached through a `Storage`. The root is a local folder or
an object-store URI (s3://, gs://, az://, abfss://); files under it are reached through one pyarrow
filesystem: the local one, or delta-rs's own object store (`DeltaStorageHandler`), configured with
the same storage options the tables are opened with, so reading a log file and opening a table can
never disagree about credentials or endpoint.
"""

from __future__ import annotations

import hashlib
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
import pyarrow.fs as pafs
from deltalake import DeltaTable, PostCommitHookProperties, write_deltalake
from deltalake.fs import DeltaStorageHandler

from governance.errors import InputError, MlgovError

_FIRST_COMMIT = f"{0:020d}.json"
_COMMIT_FILE = re.compile(r"(\d{20})\.json")
_CHECKPOINT_FILE = re.compile(r"(\d{20})\.checkpoint\..*")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")  # object_store colours its error chains
# The reachability probe gives up fast (an unreachable endpoint is a wrong setting, not a hiccup);
# table operations keep delta-rs's own retry policy.
_PROBE_OPTIONS = {"max_retries": "1", "retry_timeout": "5s", "connect_timeout": "5s", "timeout": "20s"}
# Opening a table replays its log from the latest checkpoint: on an object store one request per commit
# file, twice over with delta-rs 1.x. A checkpoint every this many versions keeps an open short.
CHECKPOINT_EVERY = 10
# Commits never delete log entries (delta-rs would clean up expired ones after a checkpoint): a version
# whose commit is gone can no longer be read, and lineage and seals name versions.
KEEP_LOG = PostCommitHookProperties(create_checkpoint=True, cleanup_expired_logs=False)


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


def is_object_store(root: str | Path) -> bool:
    """Whether `root` names an object store (a URI with a scheme) rather than a local folder."""
    return isinstance(root, str) and "://" in root


class Storage:
    """The lakehouse root (a local folder or an object-store URI) with the storage options every
    table is opened with."""

    def __init__(self, root: str | Path, *, options: Mapping[str, str] | None = None) -> None:
        self._options = dict(options or {})
        self._remote = is_object_store(root)
        if self._remote:
            self._root = str(root).rstrip("/")
            self._fs: pafs.FileSystem = pafs.PyFileSystem(DeltaStorageHandler(self._root, options=self._options))
            self._base = ""
        else:
            self._root = str(Path(root))
            self._fs = pafs.LocalFileSystem()
            self._base = self._root

    @property
    def root(self) -> str:
        return self._root

    @property
    def is_remote(self) -> bool:
        """Whether the tables live on an object store (no local locks or spool files can guard them)."""
        return self._remote

    @property
    def options(self) -> dict[str, str]:
        return dict(self._options)

    def uri(self, table: str) -> str:
        """The location of table `table` (e.g. 'raw/loans'), as delta-rs takes it."""
        return f"{self._root}/{table}" if self._remote else str(Path(self._root) / table)

    def local_path(self, table: str) -> Path:
        """The folder of `table` on local disk; only a local lakehouse has one."""
        if self._remote:
            raise MlgovError(f"table {table!r} is on {self._root}, not on local disk")
        return Path(self._root) / table

    def probe(self) -> None:
        """Check the root can be listed with these options; InputError naming the root and the cause if not.

        A wrong endpoint, credentials or bucket name then fails in one clear line before anything is
        written, instead of as a table that seems not to exist.
        """
        if not self._remote:
            return
        quick = pafs.PyFileSystem(DeltaStorageHandler(self._root, options={**self._options, **_PROBE_OPTIONS}))
        try:
            quick.get_file_info(pafs.FileSelector("", allow_not_found=True))
        except (OSError, pa.ArrowException) as error:
            raise InputError(
                f"MLGOV_LAKEHOUSE={self._root!r} cannot be reached: {_cause(error)} "
                "(expected a bucket that exists, reachable with the AWS_*/GOOGLE_*/AZURE_* settings given)"
            ) from None

    def holds_anything(self) -> bool:
        """Whether the root exists and holds something (a typo in a local path holds nothing)."""
        if not self._remote:
            return Path(self._root).is_dir()
        return bool(self._fs.get_file_info(pafs.FileSelector("", allow_not_found=True)))

    def exists(self, table: str) -> bool:
        # The first commit is one HEAD; listing the log (is_deltatable) pages through every commit, and
        # is left for a table whose oldest log entries were cleaned up by another tool.
        if self._is_object(self._path(table, "_delta_log", _FIRST_COMMIT)):
            return True
        return DeltaTable.is_deltatable(self.uri(table), storage_options=self._options or None)

    def open(self, table: str, *, version: int | None = None) -> DeltaTable:
        """A handle on `table` at its latest version, or at `version`; raises delta-rs's errors."""
        return DeltaTable(self.uri(table), version=version, storage_options=self._options or None)

    def write(self, target: str | DeltaTable, data: pa.Table | pa.RecordBatchReader, **options: Any) -> None:
        """`write_deltalake` on a table name, or through an open handle (which pins the version it writes after).

        The commit keeps every log entry (`KEEP_LOG`) unless the caller says otherwise.
        """
        options.setdefault("post_commithook_properties", KEEP_LOG)
        if isinstance(target, DeltaTable):
            write_deltalake(target, data, **options)
        else:
            write_deltalake(self.uri(target), data, storage_options=self._options or None, **options)

    def checkpoint_if_due(self, handle: DeltaTable) -> None:
        """Write a checkpoint of `handle`'s version when it is a multiple of `CHECKPOINT_EVERY`.

        Called by the writer that made that version. A checkpoint only summarizes a version that
        exists, so two writers writing the same one, or one left unwritten, change nothing but speed.
        """
        version = handle.version()
        if version > 0 and version % CHECKPOINT_EVERY == 0:
            handle.create_checkpoint()

    def tables_under(self, prefix: str) -> list[str]:
        """The names of the Delta tables directly under `prefix`, sorted."""
        found = self._fs.get_file_info(pafs.FileSelector(self._path(prefix), allow_not_found=True))
        names = (info.base_name for info in found if info.type == pafs.FileType.Directory)
        return sorted(f"{prefix}/{name}" for name in names if self.exists(f"{prefix}/{name}"))

    def all_tables(self) -> list[str]:
        """Every Delta table in the lakehouse ('predictions', 'raw/loans', ...), sorted."""
        top = self._fs.get_file_info(pafs.FileSelector(self._path(""), allow_not_found=True))
        found: list[str] = []
        for entry in top:
            if entry.type != pafs.FileType.Directory:
                continue
            found.extend([entry.base_name] if self.exists(entry.base_name) else self.tables_under(entry.base_name))
        return sorted(found)

    def creation_stamp(self, table: str) -> object:
        """Identifies one creation of `table` (its first commit file's identity and time), or None if absent.

        A table deleted and written anew has a new first commit: cached handles must not outlive it.
        """
        first = self._path(table, "_delta_log", _FIRST_COMMIT)
        if not self._remote:
            try:
                stat = os.stat(first)
            except OSError:
                return None
            return (stat.st_ino, stat.st_mtime_ns)
        # An object's modification time has whole seconds, and a table written anew with rows of the
        # same shape has a first commit of the same size: its content (a new table id) tells them apart,
        # for the same two requests (HEAD and GET) that file info would take.
        try:
            with self._fs.open_input_stream(first) as stream:
                return hashlib.sha256(stream.read()).hexdigest()
        except FileNotFoundError:
            return None

    def commit_added_bytes(self, table: str, version: int, *, run_id: str) -> int | None:
        """The bytes of the data files commit `version` of `table` added, if that commit was made by
        run `run_id` (None otherwise, or when the commit cannot be read)."""
        try:
            actions = self.commit_actions(table, version)
        except (OSError, ValueError):
            return None
        added, ours = 0, False
        for action in actions:
            if "add" in action:
                added += int(action["add"].get("size", 0))
            elif "commitInfo" in action:
                ours = run_id in str(action["commitInfo"].get("mlgov.run_id", "")).split(",")
        return added if ours else None

    def has_commit(self, table: str, version: int) -> bool:
        """Whether `table`'s log holds commit `version` (commit files appear atomically)."""
        return self._is_object(self._path(table, "_delta_log", f"{version:020d}.json"))

    def _is_object(self, path: str) -> bool:
        """Whether a file is at `path`: one HEAD on an object store (file info would also list it as a folder)."""
        if not self._remote:
            return os.path.isfile(path)
        try:
            self._fs.open_input_file(path).close()
        except FileNotFoundError:
            return False
        return True

    def log_versions(self, table: str) -> LogVersions:
        """Which commit and checkpoint files `table`'s `_delta_log` holds now."""
        commits: list[int] = []
        checkpoints: list[int] = []
        try:
            entries = self._fs.get_file_info(pafs.FileSelector(self._path(table, "_delta_log")))
        except OSError:
            return LogVersions(commits=(), checkpoints=())
        for entry in entries:
            if match := _COMMIT_FILE.fullmatch(entry.base_name):
                commits.append(int(match.group(1)))
            elif match := _CHECKPOINT_FILE.fullmatch(entry.base_name):
                checkpoints.append(int(match.group(1)))
        return LogVersions(commits=tuple(sorted(commits)), checkpoints=tuple(sorted(set(checkpoints))))

    def commit_location(self, table: str, version: int) -> str:
        """Where `table`'s commit `version` is (or would be)."""
        return f"{self.uri(table)}/_delta_log/{version:020d}.json"

    def commit_actions(self, table: str, version: int) -> list[dict[str, Any]]:
        """The actions of `table`'s commit `version` (one JSON object a line); raises OSError or ValueError."""
        with self._fs.open_input_stream(self._path(table, "_delta_log", f"{version:020d}.json")) as stream:
            text = stream.read().decode("utf-8")
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def files_on_disk(self, table: str) -> list[DataFileOnDisk]:
        """Every Parquet file under `table`'s folder (outside its log), whether the log lists it or not."""
        base = self._path(table)
        try:
            entries = self._fs.get_file_info(pafs.FileSelector(base, recursive=True, allow_not_found=True))
        except OSError:
            return []
        found: list[DataFileOnDisk] = []
        for entry in entries:
            inside = entry.path[len(base) :].lstrip("/")
            if entry.type != pafs.FileType.File or not entry.base_name.endswith(".parquet"):
                continue
            if inside.startswith("_delta_log/") or entry.mtime is None:
                continue
            found.append(DataFileOnDisk(location=self._location(entry.path), modified=entry.mtime.timestamp()))
        return found

    def data_file(self, table: str, path: str) -> str:
        """The location of one of `table`'s data files, from the path its log gives."""
        if "://" in path:  # an absolute URI (e.g. a shallow clone)
            return path if self._remote else unquote(urlparse(path).path)
        return f"{self.uri(table)}/{unquote(path)}"

    def is_file(self, location: str) -> bool:
        return self._is_object(self._path_of(location))

    def read_parquet(
        self, locations: Sequence[str], *, columns: Sequence[str], location_column: str | None = None
    ) -> pl.DataFrame:
        """The rows of the Parquet files at `locations` (from `data_file`); raises polars' or the OS's errors.

        With `location_column`, each row also carries the location of its file in a column of that name.
        """
        if location_column is None:
            return pl.read_parquet(list(locations), columns=list(columns), storage_options=self._polars_options())
        return self.scan_parquet(locations, location_column=location_column).select(*columns, location_column).collect()

    def scan_parquet(self, locations: Sequence[str], *, location_column: str | None = None) -> pl.LazyFrame:
        """The Parquet files at `locations` as one lazy frame, for a query that need not hold their rows."""
        return pl.scan_parquet(
            list(locations), include_file_paths=location_column, storage_options=self._polars_options()
        )

    def _polars_options(self) -> dict[str, str] | None:
        # polars reads object stores with the same object_store crate and option names, lower case
        return {key.lower(): value for key, value in self._options.items()} if self._remote else None

    def _path(self, *parts: str) -> str:
        """A path inside the root, as the filesystem takes it."""
        inner = "/".join(part.strip("/") for part in parts if part)
        return f"{self._base}/{inner}" if self._base else inner

    def _path_of(self, location: str) -> str:
        """The filesystem path of a location this storage gave out (`data_file`, `files_on_disk`)."""
        if self._remote and location.startswith(f"{self._root}/"):
            return location[len(self._root) + 1 :]
        return location

    def _location(self, path: str) -> str:
        return f"{self._root}/{path}" if self._remote else path


def _cause(error: BaseException) -> str:
    """What an object-store error says went wrong: the store's own error code and message when it sent
    one (NoSuchBucket, SignatureDoesNotMatch, ...), else the innermost line of the error chain."""
    text = _ANSI.sub("", str(error))
    code = re.search(r"<Code>([^<]+)</Code>", text)
    if code:
        message = re.search(r"<Message>([^<]+)</Message>", text)
        return f"{code.group(1)}: {message.group(1)}" if message else code.group(1)
    lines = [line.strip(" ↳") for line in text.splitlines() if line.strip(" ↳")]
    return lines[-1] if lines else type(error).__name__
