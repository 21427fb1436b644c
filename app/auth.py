"""Who is signed in, and the guard every page calls first.

Local accounts are checked by pipelines.jobs.users (Argon2id hashes, lockout, audited failures). When
secrets.toml configures [auth], single sign-on through st.login is offered too, and the identity
it returns is mapped to roles by the same access policy.
"""

from __future__ import annotations

import streamlit as st

from app import services
from app.text import plain
from governance.errors import MlgovError, PermissionDenied
from governance.identity import SignedIn
from governance.screens import Screen, may_open

SESSION_KEY = "mlgov.signed_in"


def current_user() -> SignedIn | None:
    user = st.session_state.get(SESSION_KEY)
    return user if isinstance(user, SignedIn) else None


def sign_out() -> None:
    st.session_state.pop(SESSION_KEY, None)
    if sso_configured() and st.user.is_logged_in:
        st.logout()


def sso_configured() -> bool:
    try:
        return "auth" in st.secrets
    except (FileNotFoundError, st.errors.StreamlitSecretNotFoundError):  # no secrets.toml at all
        return False


def sign_in_with_password(user: str, password: str) -> str | None:
    """Sign in; returns the one-line reason when refused."""
    from pipelines.jobs.users import authenticate

    try:
        st.session_state[SESSION_KEY] = authenticate(services.get_context(), user=user.strip(), password=password)
    except MlgovError as refusal:
        return str(refusal)
    return None


def adopt_sso_identity() -> str | None:
    """After st.login: map the identity provider's user to roles; returns the reason when refused."""
    from pipelines.jobs.users import sign_in_external

    if current_user() is not None or not sso_configured() or not st.user.is_logged_in:
        return None
    name = str(st.user.get("email") or st.user.get("name") or "")
    try:
        st.session_state[SESSION_KEY] = sign_in_external(services.get_context(), user=name, provider="oidc")
    except MlgovError as refusal:
        return str(refusal)
    return None


def require(screen: Screen) -> SignedIn:
    """The signed-in user, if their roles may open `screen`; otherwise the page stops here."""
    user = current_user()
    if user is None:
        st.error("Sign in first.")
        st.stop()
        raise PermissionDenied("sign in first")  # st.stop() only stops inside a Streamlit runtime
    if not may_open(user.roles, screen):
        roles = ", ".join(sorted(r.value for r in user.roles))
        st.error(plain(f"{user.user} ({roles}) may not open the {screen.value} page."))
        st.stop()
        raise PermissionDenied(f"{user.user} may not open the {screen.value} page")
    return user
