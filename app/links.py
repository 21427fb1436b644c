"""Links to the object a page shows: the URL's query parameters name it (`/approvals?request=...`).

A page asks for the linked object before it draws the widget that chooses it (`preselect`), and
writes the object chosen back into the URL after (`follow`), so the address bar always links to what
is on screen: copy it into a ticket, open it in a new tab, refresh it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

import streamlit as st

from app.text import plain

T = TypeVar("T")


def _applied_key(key: str) -> str:
    return f"mlgov.link.{key}"


def linked(param: str) -> str | None:
    """The value the URL gives `param`, if any."""
    value = st.query_params.get(param)
    return value.strip() if value else None


def preselect(param: str, options: Sequence[T], *, key: str, noun: str) -> T | None:
    """Select the option the URL's `param` names in the widget `key`, once per link; call it before the
    widget is drawn. Returns the linked option; a link naming nothing among `options` is one warning."""
    wanted = linked(param)
    if wanted is None or st.session_state.get(_applied_key(key)) == wanted:
        return None
    st.session_state[_applied_key(key)] = wanted
    match = next((option for option in options if str(option) == wanted), None)
    if match is None:
        st.warning(plain(f"The link names {noun} {wanted}, which is not here."))
        return None
    st.session_state[key] = match
    return match


def follow(param: str, value: object | None, *, key: str) -> None:
    """Name `value`, chosen in the widget `key`, in the URL as `param` (remove it for None)."""
    if value is None:
        st.query_params.pop(param, None)
        st.session_state.pop(_applied_key(key), None)
        return
    st.query_params[param] = str(value)
    st.session_state[_applied_key(key)] = str(value)
