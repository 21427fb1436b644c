import streamlit as st

from app import auth
from governance.screens import Screen

auth.require(Screen.DRIFT)
st.title("drift".capitalize())
st.info("This page is being built.")
