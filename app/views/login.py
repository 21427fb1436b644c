import streamlit as st

from app import auth
from app.signin import sign_in_url
from app.text import plain

st.title("Sign in to mlgov")
ended = st.session_state.pop(auth.ENDED_KEY, None)
if ended:
    st.info(plain(ended[:1].upper() + ended[1:] + "."))
# The form lives on the server's own page: only there can it hand the browser an HttpOnly session cookie.
url = st.context.url or ""
path = "/" + url.split("://", 1)[-1].partition("/")[2] if "://" in url else "/"
st.markdown(f"[Sign in with your user name and password]({sign_in_url(path)})")
if auth.sso_configured():
    st.divider()
    st.button("Sign in with single sign-on", on_click=st.login, key="sso")
