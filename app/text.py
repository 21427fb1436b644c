"""Showing user-supplied text as text: never as Markdown or HTML."""

from __future__ import annotations

import re

_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:])")


def plain(text: str) -> str:
    """`text` escaped for Streamlit elements that render Markdown (st.error, st.caption, ...)."""
    return _MARKDOWN.sub(r"\\\1", text)
