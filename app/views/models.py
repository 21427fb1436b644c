import streamlit as st

from app import auth
from governance.screens import Screen

auth.require(Screen.MODELS)
st.title("models".capitalize())
st.info("This page is being built.")
