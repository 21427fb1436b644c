"""What every page does first: the permission check and heading, reads that stop the page with one
error line when they fail, and the one notice of a lakehouse without models."""

from __future__ import annotations

from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import streamlit as st

from app import auth, components, queries, services
from app.text import plain
from governance.errors import MlgovError
from governance.identity import SignedIn
from governance.screens import Screen

NO_MODELS = "This lakehouse has no models yet. Run `mlgov demo` to seed a demo, or train one with `mlgov train`."


@dataclass(frozen=True)
class Visit:
    """Who opened the page, and the lakehouse it reads (the cache key of `app.queries`)."""

    user: SignedIn
    home: str


@contextmanager
def reading() -> Iterator[None]:
    """Run the block's reads; an MlgovError is shown as one error line (as typed) and stops the page."""
    try:
        yield
    except MlgovError as error:
        st.error(plain(str(error)))
        st.stop()
        raise  # st.stop() only stops inside a Streamlit runtime


def start(screen: Screen, *, title: str, caption: str | None = None, outcome_key: str | None = None) -> Visit:
    """The page's prologue: refuse whoever may not open `screen`, show the title, the caption and
    the outcome announced under `outcome_key` (if any), then find the lakehouse; stops on failure."""
    user = auth.require(screen)
    st.title(title)
    if caption is not None:
        st.caption(caption)
    if outcome_key is not None:
        components.render_outcome(key=outcome_key)
    with reading():
        home = services.lakehouse_key()
        queries.forget_reads_if_changed(home)
    return Visit(user=user, home=home)


def require_models(models: Collection[object]) -> None:
    """Stop the page with the empty-lakehouse notice when `models` is empty."""
    if not models:
        st.info(NO_MODELS)
        st.stop()
