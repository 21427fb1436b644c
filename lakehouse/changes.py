"""A cheap fingerprint of a local lakehouse's state, so a reader may keep what it read until it changes.

Every Delta commit adds a file to its table's `_delta_log` folder, which moves that folder's
modification time; a new table changes its parent folder's. Stat calls only: no table is opened and
no log is read, so a page may ask on every run.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

_LOG = "_delta_log"


def _mtime(path: Path) -> int | None:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return None


def local_change_stamp(root: Path, *, files: Iterable[Path] = ()) -> dict[str, int | None]:
    """The modification times of every table's commit log under `root`, by table name (tables sit one
    or two folders deep: 'predictions', 'raw/loans'), of the folders holding them ('', 'raw/'), and of
    `files` by path (e.g. MLflow's SQLite database). Two equal stamps: no commit and no new table in
    between; the keys whose times differ name what changed."""
    stamp: dict[str, int | None] = {"": _mtime(root)}
    folders = [(root, "")]
    while folders:
        folder, prefix = folders.pop()
        try:
            entries = sorted(entry.name for entry in os.scandir(folder) if entry.is_dir() and entry.name != _LOG)
        except OSError:
            continue
        for name in entries:
            log = _mtime(folder / name / _LOG)
            if log is not None:
                stamp[prefix + name] = log
            elif not prefix:  # a group of tables ('raw', 'governance'): look one level down
                stamp[f"{name}/"] = _mtime(folder / name)
                folders.append((folder / name, f"{name}/"))
    stamp.update((str(file), _mtime(file)) for file in files)
    return stamp
