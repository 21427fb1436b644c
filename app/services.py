"""The app's composition root: the one place the app reads settings and builds its resources."""

from __future__ import annotations

import time
from pathlib import Path

import streamlit as st

from governance.errors import NotFoundError
from lakehouse.changes import local_change_stamp
from pipelines.context import Context, build_context


@st.cache_resource(show_spinner=False)
def get_context() -> Context:
    """The lakehouse context of this server process, from MLGOV_* in the environment.

    Raises MlgovError when the settings are wrong; a failure is not cached, so fixing the
    environment and rerunning recovers without a restart.
    """
    context = build_context()
    if not context.store.storage.holds_anything():  # reading must not create a lakehouse at a typo
        raise NotFoundError(f"no lakehouse at {context.settings.lakehouse_root}: run `mlgov init` or `make run` first")
    return context


def lakehouse_key() -> str:
    """The lakehouse this process serves, as a primitive cache key for `app.queries`."""
    return str(get_context().settings.home)


# Without a local folder to watch (tables on an object store), cached reads are refreshed this often.
REMOTE_REFRESH_SECONDS = 30


def change_stamp() -> dict[str, object]:
    """What changes whenever the lakehouse does (app.queries keeps its reads until it does): the
    commit logs' times of a local lakehouse by table, and MLflow's SQLite file's; on an object store, the
    clock's 30-second slot, since listing every table's log there would cost more than the reads it saves."""
    settings = get_context().settings
    root = settings.lakehouse_root
    if not isinstance(root, Path):
        return {"clock": int(time.time() // REMOTE_REFRESH_SECONDS)}
    prefix = "sqlite:///"
    files = [Path(settings.tracking_uri.removeprefix(prefix))] if settings.tracking_uri.startswith(prefix) else []
    return dict(local_change_stamp(root, files=files))
