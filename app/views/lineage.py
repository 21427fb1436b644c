import streamlit as st

from app import auth
from governance.screens import Screen

auth.require(Screen.LINEAGE)
st.title("lineage".capitalize())
st.info("This page is being built.")
