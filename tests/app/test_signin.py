"""The sign-in form and the gate in front of every page, over Starlette's test client (the browser
flows are in tests/e2e/test_sessions_e2e.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from app import signin
from pipelines.jobs.users import set_password
from tests.conftest import ADMIN, ANALYST, Seeded, context_for

PASSWORD = "copper-heron-5812"


def page(request: Request) -> PlainTextResponse:
    return PlainTextResponse(f"page {request.url.path}")


@pytest.fixture
def client(seeded: Seeded, serve_home: Callable[[Path], None]) -> Iterator[TestClient]:
    serve_home(seeded.home)
    set_password(context_for(seeded.home), user=ANALYST, password=PASSWORD, actor=ADMIN)
    app = Starlette(routes=[*signin.ROUTES, Route("/{path:path}", page)], middleware=[Middleware(signin.SignInGate)])
    with TestClient(app, base_url="http://127.0.0.1") as client:
        yield client


def form_token(client: TestClient, next_path: str = "/") -> str:
    form = client.get("/signin", params={"next": next_path}).text
    return form.split('name="csrf" value="', 1)[1].split('"', 1)[0]


def test_a_page_without_a_session_goes_to_the_form_and_back_after_sign_in(client: TestClient) -> None:
    asked = client.get("/audit?record=3", follow_redirects=False)
    assert (asked.status_code, asked.headers["location"]) == (303, "/signin?next=%2Faudit%3Frecord%3D3")
    assert client.get("/_stcore/health", follow_redirects=False).status_code == 200  # not a page: let through

    signed = client.post(
        "/signin",
        data={"user": ANALYST, "password": PASSWORD, "csrf": form_token(client), "next": "/audit?record=3"},
        follow_redirects=False,
    )

    assert (signed.status_code, signed.headers["location"]) == (303, "/audit?record=3")
    cookie = signed.headers["set-cookie"]
    assert "mlgov_session=" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert client.get("/audit?record=3").text == "page /audit"


def test_a_wrong_password_a_forged_form_and_a_foreign_return_address_are_refused(client: TestClient) -> None:
    wrong = client.post("/signin", data={"user": ANALYST, "password": "nope", "csrf": form_token(client), "next": "/"})
    assert wrong.status_code == 401
    assert "invalid user name or password" in wrong.text
    assert "mlgov_session" not in client.cookies

    forged = client.post("/signin", data={"user": ANALYST, "password": PASSWORD, "csrf": "guessed", "next": "/"})
    assert forged.status_code == 401
    assert "the sign-in form expired" in forged.text

    away = client.post(
        "/signin",
        data={"user": ANALYST, "password": PASSWORD, "csrf": form_token(client), "next": "https://evil.example/"},
        follow_redirects=False,
    )
    assert away.headers["location"] == "/"


def test_the_user_name_typed_is_shown_as_text(client: TestClient) -> None:
    shown = client.post(
        "/signin", data={"user": "<script>x</script>", "password": "nope", "csrf": form_token(client), "next": "/"}
    )
    assert "<script>x</script>" not in shown.text
    assert "&lt;script&gt;x&lt;/script&gt;" in shown.text
