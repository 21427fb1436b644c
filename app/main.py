"""The app's entry point: page setup, sign-in, and a router listing only the pages a role may open."""

from __future__ import annotations

import streamlit as st
from streamlit.navigation.page import StreamlitPage

from app import auth
from app.text import plain
from governance.identity import SignedIn
from governance.screens import Screen, parse_screen, screens_for

PAGES: dict[Screen, tuple[str, str, str]] = {
    Screen.OVERVIEW: ("views/overview.py", "Overview", ":material/dashboard:"),
    Screen.APPROVALS: ("views/approvals.py", "Approvals", ":material/approval:"),
    Screen.MODELS: ("views/models.py", "Models", ":material/model_training:"),
    Screen.LINEAGE: ("views/lineage.py", "Lineage", ":material/account_tree:"),
    Screen.AUDIT: ("views/audit.py", "Audit trail", ":material/verified_user:"),
    Screen.DRIFT: ("views/drift.py", "Drift", ":material/ssid_chart:"),
    Screen.PERFORMANCE: ("views/performance.py", "Performance", ":material/speed:"),
    Screen.COST: ("views/cost.py", "Cost vs model count", ":material/payments:"),
    Screen.SQL: ("views/sql.py", "SQL console", ":material/terminal:"),
    Screen.ACCESS: ("views/access.py", "Access", ":material/admin_panel_settings:"),
    Screen.FEATURES: ("views/features.py", "Features", ":material/table_chart:"),
}


def build_pages(user: SignedIn | None) -> dict[Screen, StreamlitPage]:
    """Sign-in until someone is signed in; then every page, in menu order, listing only those their roles
    may open: a link to another opens it, and the page refuses with its reason instead of "not found"."""
    if user is None:
        return {Screen.OVERVIEW: st.Page("views/login.py", title="Sign in", icon=":material/login:", default=True)}
    allowed = screens_for(user.roles)
    return {
        screen: st.Page(
            PAGES[screen][0],
            title=PAGES[screen][1],
            icon=PAGES[screen][2],
            default=screen is Screen.OVERVIEW,
            visibility="visible" if screen in allowed else "hidden",
        )
        for screen in Screen
    }


def follow_page_link(pages: dict[Screen, StreamlitPage]) -> None:
    """A link naming its page by parameter (`/?page=approvals&request=...`) opens that page with the rest."""
    named = st.query_params.get("page")
    if named is None:
        return
    screen = parse_screen(named)
    if screen is None:
        st.error(plain(f"The link names no page called {named!r}: expected one of {', '.join(Screen)}."))
        st.query_params.pop("page")
        return
    rest = {key: st.query_params[key] for key in st.query_params if key != "page"}
    st.switch_page(pages[screen], query_params=rest)


# A page icon of its own: without one, the browser tab takes each page's Material icon, which Streamlit
# fetches from fonts.gstatic.com. An emoji favicon is drawn in the browser; nothing leaves the machine.
st.set_page_config(page_title="mlgov", page_icon="🛡️", layout="wide")
sso_refusal = auth.adopt_sso_identity()
if sso_refusal:
    st.error(plain(sso_refusal))
user = auth.current_user()
if user is not None:
    with st.sidebar:
        roles = ", ".join(sorted(r.value for r in user.roles))
        st.text(f"Signed in as {user.user}")
        st.caption(plain(f"Roles: {roles}"))
        if st.button("Sign out", key="sign_out"):
            auth.sign_out()
            st.rerun()
pages = build_pages(user)
navigation = st.navigation(list(pages.values()))
if user is not None:
    follow_page_link(pages)
navigation.run()
