"""Who is signed in, and the guard every page calls first.

A browser signs in on the server's own form (app.signin), which hands it the session token in an
HttpOnly cookie; each script run reads it from the request that opened the page (st.context.cookies)
and checks it again, so a session signed out in one tab is over in every tab. When secrets.toml
configures [auth], single sign-on through st.login is offered too, and the identity it returns is
mapped to roles by the same access policy. An identity the session state holds without a cookie
(single sign-on; AppTest) is checked against the disabled accounts on each run, as a cookie's session is.
"""

from __future__ import annotations

import streamlit as st

from app import services
from app.signin import SESSION_COOKIE
from app.text import plain
from governance.errors import MlgovError, PermissionDenied
from governance.identity import SignedIn
from governance.screens import Screen, open_refusal

SESSION_KEY = "mlgov.signed_in"
SESSION_ID_KEY = "mlgov.session_id"  # the session whose identity SESSION_KEY holds
ENDED_KEY = "mlgov.session_ended"  # why the session this browser carries no longer holds
# the single sign-on identity this session ended: not taken up again until the browser signs in anew
SSO_ENDED_KEY = "mlgov.sso_ended"


def _session_token() -> str | None:
    token = st.context.cookies.get(SESSION_COOKIE)
    return token if isinstance(token, str) else None  # AppTest has no request: its cookies are stand-ins


def current_user() -> SignedIn | None:
    from app import queries
    from pipelines.jobs.sessions import confirm_identity, resume_session, session_claims

    token = _session_token()
    held = st.session_state.get(SESSION_KEY)
    if token is not None:
        try:
            claims = session_claims(services.get_context(), token)
            if st.session_state.get(SESSION_ID_KEY) != claims.session_id:
                # a new tab or a refresh: the roles as the access policy gives them now
                policy = queries.access_policy(services.lakehouse_key())
                st.session_state[SESSION_KEY] = resume_session(services.get_context(), token, policy=policy)
                st.session_state[SESSION_ID_KEY] = claims.session_id
        except MlgovError as ended:
            _end_session(str(ended))
    elif isinstance(held, SignedIn):  # single sign-on: no token to check, so the identity is checked itself
        try:
            confirm_identity(services.get_context(), held)
        except PermissionDenied as ended:
            _end_session(str(ended))
            st.session_state[SSO_ENDED_KEY] = held.user
        except MlgovError:
            pass  # a lakehouse that cannot be read decides nothing here: the page's reads and every action say why
    user = st.session_state.get(SESSION_KEY)
    return user if isinstance(user, SignedIn) else None


def _end_session(reason: str) -> None:
    st.session_state[ENDED_KEY] = reason
    st.session_state.pop(SESSION_KEY, None)
    st.session_state.pop(SESSION_ID_KEY, None)


def sign_out() -> None:
    from pipelines.jobs.sessions import end_session

    token = _session_token()
    if token is not None:
        end_session(services.get_context(), token)
    st.session_state.pop(SESSION_KEY, None)
    st.session_state.pop(SESSION_ID_KEY, None)
    if sso_configured() and st.user.is_logged_in:
        st.logout()


def sso_configured() -> bool:
    try:
        return "auth" in st.secrets
    except (FileNotFoundError, st.errors.StreamlitSecretNotFoundError):  # no secrets.toml at all
        return False


def adopt_sso_identity() -> str | None:
    """After st.login: map the identity provider's user to roles; returns the reason when refused."""
    from pipelines.jobs.users import sign_in_external

    if current_user() is not None or not sso_configured() or not st.user.is_logged_in:
        return None
    name = str(st.user.get("email") or st.user.get("name") or "")
    if st.session_state.get(SSO_ENDED_KEY) == name:
        return None  # refused on every click otherwise, each an audited sign-in; the sign-in page says why
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
    refusal = open_refusal(user.roles, screen)
    if refusal is not None:
        st.error(plain(refusal[:1].upper() + refusal[1:] + "."))
        st.stop()
        raise PermissionDenied(refusal)
    return user
