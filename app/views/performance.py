import streamlit as st

from app import auth
from governance.screens import Screen

auth.require(Screen.PERFORMANCE)
st.title("performance".capitalize())
st.info("This page is being built.")
