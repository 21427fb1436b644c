import streamlit as st

from app import auth
from app.text import plain

st.title("Sign in to mlgov")
with st.form("sign_in"):
    user = st.text_input("User name")
    password = st.text_input("Password", type="password")
    submitted = st.form_submit_button("Sign in", type="primary")
if submitted:
    refusal = auth.sign_in_with_password(user, password)
    if refusal:
        st.error(plain(refusal))
    else:
        st.rerun()
if auth.sso_configured():
    st.divider()
    st.button("Sign in with single sign-on", on_click=st.login, key="sso")
