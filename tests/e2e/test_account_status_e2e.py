"""An admin disables a signed-in analyst from the Access page: the analyst's open session ends on its next
page and the sign-in form refuses them; enabled again, they sign in."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.conftest import ADMIN, ANALYST, Seeded
from tests.e2e.conftest import (
    PAGE_TIMEOUT_MS,
    ServedApp,
    dataframe_cells,
    no_failure,
    open_page,
    serve_seeded_copy,
    sign_in,
    wait_for_app,
)

PASSWORDS = {ADMIN: "granite-falcon-3381", ANALYST: "willow-comet-6204"}


@pytest.fixture(scope="module")
def accounts_app(seeded_template: Seeded, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedApp]:
    with serve_seeded_copy(seeded_template, tmp_path_factory.mktemp("accounts"), passwords=PASSWORDS) as served:
        yield served


def change_status(page: Page, *, user: str, button: str, reason: str = "") -> None:
    form = page.get_by_test_id("stForm").filter(has_text="A disabled user cannot sign in")
    picker = form.get_by_role("combobox", name="User")
    if picker.input_value() != user:  # the form keeps the last user chosen
        picker.click()
        picker.fill(user)  # the list is filtered to the typed name
        page.get_by_role("option").filter(has_text=user).first.click()
        wait_for_app(page)
    expect(picker).to_have_value(user)
    if reason:
        form.get_by_role("textbox", name="Reason (required to disable, kept in the audit trail)").fill(reason)
    form.get_by_role("button", name=button, exact=True).click()
    wait_for_app(page)


def test_a_disabled_analyst_loses_their_open_session_and_cannot_sign_in_until_enabled(
    page: Page, browser: Browser, accounts_app: ServedApp
) -> None:
    sign_in(page, accounts_app, ANALYST, PASSWORDS[ANALYST])
    admin_context = browser.new_context(viewport={"width": 1440, "height": 900})
    admin_context.set_default_timeout(PAGE_TIMEOUT_MS)
    admin = admin_context.new_page()
    try:
        sign_in(admin, accounts_app, ADMIN, PASSWORDS[ADMIN])
        open_page(admin, "Access")
        change_status(admin, user=ANALYST, button="Disable", reason="contract ended")
        expect(admin.get_by_test_id("stAlertContentSuccess").get_by_text(f"{ANALYST} is disabled.")).to_be_visible()
        expect(dataframe_cells(admin.get_by_test_id("stDataFrame").first, "disabled")).to_have_count(1)
        no_failure(admin)

        page.reload()  # the analyst's next request: the session no longer holds
        expect(page.get_by_role("heading", name="Sign in to mlgov")).to_be_visible()
        page.get_by_role("textbox", name="User name").fill(ANALYST)
        page.get_by_role("textbox", name="Password").fill(PASSWORDS[ANALYST])
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_text("your account is disabled: ask an admin to enable it")).to_be_visible()

        change_status(admin, user=ANALYST, button="Enable")
        expect(admin.get_by_test_id("stAlertContentSuccess").get_by_text(f"{ANALYST} is enabled.")).to_be_visible()
        sign_in(page, accounts_app, ANALYST, PASSWORDS[ANALYST])
    finally:
        admin_context.close()
