"""A user disabled while signed in to the app (single sign-on included) is stopped on their next click,
with the reason; nothing they click then is done."""

from __future__ import annotations

import polars as pl
from streamlit.testing.v1 import AppTest

from app.text import plain
from governance.accounts import AccountChange
from governance.roles import Role
from lakehouse.schemas import AUDIT
from pipelines.jobs.users import change_account_status
from pipelines.reads.promotions import show_request
from tests.app.conftest import MAIN, open_app
from tests.conftest import ADMIN, REVIEWER_A, context_for
from tests.review_setup import Pending

DISABLED = plain("Your account is disabled: ask an admin to enable it.")
# What st.login needs to offer single sign-on; no provider is reached in these tests.
AUTH = {
    "redirect_uri": "http://127.0.0.1:8501/oauth2callback",
    "cookie_secret": "only-for-this-test",
    "client_id": "mlgov",
    "client_secret": "only-for-this-test",
    "server_metadata_url": "http://127.0.0.1:9/.well-known/openid-configuration",
}


def set_account(pending: Pending, user: str, change: AccountChange) -> None:
    change_account_status(context_for(pending.home), user=user, change=change, actor=ADMIN, reason="test")


def signed_in_as(at: AppTest) -> list[str]:
    return [t.value for t in at.text if t.value.startswith("Signed in as")]


def sign_ins(pending: Pending) -> list[str]:
    audit = context_for(pending.home).store.read(AUDIT).filter(pl.col("action") == "login").sort("seq")
    return audit["outcome"].to_list()


def test_a_user_disabled_mid_session_is_signed_out_on_the_next_click_and_it_does_nothing(pending: Pending) -> None:
    at = open_app(REVIEWER_A, Role.REVIEWER, page="views/approvals.py")
    assert signed_in_as(at) == [f"Signed in as {REVIEWER_A}"]

    set_account(pending, REVIEWER_A, AccountChange.DISABLE)
    form = f"approvals.decide.{pending.request_id}"
    at.text_area(key=f"{form}.reason").input("fine")
    at.button(key=f"{form}.approve").click().run()

    assert not at.exception
    assert signed_in_as(at) == []
    assert [i.value for i in at.info] == [DISABLED]
    assert show_request(context_for(pending.home), request_id=pending.request_id)["approvals"] == []


def test_a_single_sign_on_user_disabled_mid_session_is_signed_out_with_the_reason(pending: Pending) -> None:
    at = AppTest.from_file(str(MAIN), default_timeout=90)
    at.secrets["auth"] = AUTH
    at.user = {"is_logged_in": True, "email": REVIEWER_A}
    at.run()
    assert signed_in_as(at) == [f"Signed in as {REVIEWER_A}"]
    assert sign_ins(pending) == ["ok"]

    set_account(pending, REVIEWER_A, AccountChange.DISABLE)
    at.run()

    assert not at.exception
    assert signed_in_as(at) == []
    assert [i.value for i in at.info] == [DISABLED]
    at.run()  # further clicks in this session are not refused sign-ins, each on the audit trail
    assert signed_in_as(at) == []
    assert sign_ins(pending) == ["ok"]

    set_account(pending, REVIEWER_A, AccountChange.ENABLE)
    again = AppTest.from_file(str(MAIN), default_timeout=90)  # a new browser session signs in again
    again.secrets["auth"] = AUTH
    again.user = {"is_logged_in": True, "email": REVIEWER_A}
    again.run()
    assert signed_in_as(again) == [f"Signed in as {REVIEWER_A}"]
