"""The app's composition root: the one place the app reads settings and builds its resources."""

from __future__ import annotations

import streamlit as st

from governance.errors import NotFoundError
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
