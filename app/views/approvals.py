import streamlit as st

from app import auth
from governance.screens import Screen

auth.require(Screen.APPROVALS)
st.title("approvals".capitalize())
st.info("This page is being built.")
