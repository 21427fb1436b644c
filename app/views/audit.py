import streamlit as st

from app import auth
from governance.screens import Screen

auth.require(Screen.AUDIT)
st.title("audit".capitalize())
st.info("This page is being built.")
