import streamlit as st

from app import auth
from governance.screens import Screen

auth.require(Screen.ACCESS)
st.title("access".capitalize())
st.info("This page is being built.")
