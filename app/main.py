"""The app's entry point: page setup and the router. Pages are scripts under views/, by path."""

from __future__ import annotations

import streamlit as st
from streamlit.navigation.page import StreamlitPage


def build_pages() -> list[StreamlitPage]:
    """The pages of the app, in menu order. Later pages (and, with sign-in, the pages a user's roles
    allow) are added here; each is a thin script addressed relative to this file."""
    return [
        st.Page("views/overview.py", title="Overview", icon=":material/dashboard:", default=True),
    ]


st.set_page_config(page_title="mlgov", layout="wide")
st.navigation(build_pages()).run()
