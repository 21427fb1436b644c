"""Sign-in in front of the app: the form, the session cookie, and the gate before every page.

A browser signs in on /signin, a plain form served here; the server answers with the session token
in an HttpOnly cookie (scripts cannot read it, so an injected script cannot steal the session).
Every page of the app is then opened with that cookie: on a refresh, in a new tab, or from a pasted
link. A page asked for without a session that holds is redirected to /signin, which sends the
browser back to the page asked for once signed in. The scripts check the session again on every
run (app.auth), since the websocket they run behind lives longer than any one request.
"""

from __future__ import annotations

import hmac
import secrets
from html import escape
from urllib.parse import quote

import streamlit as st
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from app import services
from governance.errors import MlgovError
from governance.sessions import safe_return_path
from pipelines.jobs.sessions import SESSIONS, session_claims, start_session
from pipelines.jobs.users import authenticate

SESSION_COOKIE = "mlgov_session"
CSRF_COOKIE = "mlgov_signin"
SIGN_IN_PATH = "/signin"
# Streamlit's own cookie after single sign-on (st.login): its identity is adopted by app.auth.
SSO_COOKIE = "_streamlit_user"
# The app's own page for single sign-on (st.login starts from a script): let through without a session.
SSO_PARAM = "sso"
# What the browser fetches besides pages: Streamlit's endpoints, scripts, media and components.
_NOT_PAGES = ("/_stcore/", "/static/", "/media/", "/component/", "/auth/", "/oauth2callback", "/favicon")


def _has_session(request: Request) -> bool:
    token = request.cookies.get(SESSION_COOKIE)
    if token is None:
        return False
    try:
        session_claims(services.get_context(), token)
    except MlgovError:
        return False
    return True


class SignInGate:
    """Redirect a page request without a session that holds to the sign-in form."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in {"GET", "HEAD"}:
            request = Request(scope)
            path = request.url.path
            if (
                path != SIGN_IN_PATH
                and not path.startswith(_NOT_PAGES)
                and SSO_COOKIE not in request.cookies
                and SSO_PARAM not in request.query_params
                and not _has_session(request)
            ):
                asked = path + (f"?{request.url.query}" if request.url.query else "")
                await RedirectResponse(f"{SIGN_IN_PATH}?next={quote(asked, safe='')}", status_code=303)(
                    scope, receive, send
                )
                return
        await self.app(scope, receive, send)


def _sso_configured() -> bool:
    try:
        return "auth" in st.secrets
    except (FileNotFoundError, st.errors.StreamlitSecretNotFoundError):  # no secrets.toml at all
        return False


def _form_page(*, next_path: str, csrf: str, message: str | None, user: str = "") -> str:
    error = f'<p class="error" role="alert">{escape(message)}</p>' if message else ""
    sso = f'<p><a href="/?{SSO_PARAM}=1">Sign in with single sign-on</a></p>' if _sso_configured() else ""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in · mlgov</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body {{ font-family: system-ui, sans-serif; background: #f7f7f9; color: #262730; margin: 0; }}
main {{ max-width: 26rem; margin: 12vh auto; background: #fff; padding: 2rem 2.5rem; border-radius: .6rem;
  box-shadow: 0 1px 4px rgba(0,0,0,.12); }}
h1 {{ font-size: 1.6rem; margin: 0 0 1.5rem; }}
label {{ display: block; margin: 1rem 0 .3rem; font-size: .9rem; }}
input {{ width: 100%; box-sizing: border-box; padding: .55rem .6rem; font-size: 1rem; border: 1px solid #ccc;
  border-radius: .4rem; }}
button {{ margin-top: 1.5rem; padding: .55rem 1.2rem; font-size: 1rem; border: 0; border-radius: .4rem;
  background: #ff4b4b; color: #fff; cursor: pointer; }}
.error {{ background: #ffecec; color: #7d1a1a; padding: .6rem .8rem; border-radius: .4rem; }}
</style></head>
<body><main>
<h1>Sign in to mlgov</h1>
{error}
<form method="post" action="{SIGN_IN_PATH}">
<input type="hidden" name="next" value="{escape(next_path)}">
<input type="hidden" name="csrf" value="{escape(csrf)}">
<label for="user">User name</label>
<input id="user" name="user" autocomplete="username" value="{escape(user)}" required autofocus>
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">Sign in</button>
</form>
{sso}
</main></body></html>"""


def _sign_in_form(request: Request, *, next_path: str, message: str | None = None, user: str = "") -> Response:
    # The form carries a random value that must match a cookie only this site can set (double submit):
    # another site cannot post a sign-in of its choosing from the user's browser.
    csrf = secrets.token_urlsafe(24)
    page = _form_page(next_path=next_path, csrf=csrf, message=message, user=user)
    response = HTMLResponse(page, status_code=200 if message is None else 401)
    response.headers["Cache-Control"] = "no-store"
    response.set_cookie(CSRF_COOKIE, csrf, path=SIGN_IN_PATH, httponly=True, samesite="strict", secure=_secure(request))
    if request.cookies.get(SESSION_COOKIE) is not None:  # a session that no longer holds: forget it
        response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def _secure(request: Request) -> bool:
    return request.url.scheme == "https" or request.headers.get("x-forwarded-proto") == "https"


def sign_in_page(request: Request) -> Response:
    next_path = safe_return_path(request.query_params.get("next"))
    if _has_session(request):
        return RedirectResponse(next_path, status_code=303)
    return _sign_in_form(request, next_path=next_path)


async def sign_in(request: Request) -> Response:
    form = await request.form()
    next_path = safe_return_path(str(form.get("next") or ""))
    user = str(form.get("user") or "").strip()
    sent, expected = str(form.get("csrf") or ""), request.cookies.get(CSRF_COOKIE) or ""
    if not expected or not hmac.compare_digest(sent, expected):
        return _sign_in_form(request, next_path=next_path, message="the sign-in form expired: sign in again")
    try:
        ctx = services.get_context()
        token = start_session(ctx, authenticate(ctx, user=user, password=str(form.get("password") or "")))
    except MlgovError as refusal:
        return _sign_in_form(request, next_path=next_path, message=str(refusal), user=user)
    response = RedirectResponse(next_path, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(SESSIONS.lifetime.total_seconds()),
        path="/",
        httponly=True,
        samesite="lax",  # sent when a link from a ticket opens the app; never on another site's posts
        secure=_secure(request),
    )
    response.delete_cookie(CSRF_COOKIE, path=SIGN_IN_PATH)
    return response


def sign_in_url(next_path: str) -> str:
    """The sign-in form, returning to `next_path` once signed in."""
    return f"{SIGN_IN_PATH}?next={quote(safe_return_path(next_path), safe='')}"


ROUTES = [Route(SIGN_IN_PATH, sign_in_page, methods=["GET"]), Route(SIGN_IN_PATH, sign_in, methods=["POST"])]
