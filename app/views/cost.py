import streamlit as st

from app import auth
from governance.screens import Screen

auth.require(Screen.COST)
st.title("cost".capitalize())
st.info("This page is being built.")
