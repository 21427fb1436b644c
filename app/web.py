"""The app's web server, as `mlgov app` runs it: Streamlit's own server (st.App, on Starlette) with the
sign-in form and its gate in front of every page (app.signin), warming up as it starts (app.warmup)."""

from starlette.middleware import Middleware
from streamlit.starlette import App

from app.signin import ROUTES, SignInGate
from app.warmup import lifespan

app = App("main.py", routes=ROUTES, middleware=[Middleware(SignInGate)], lifespan=lifespan)
