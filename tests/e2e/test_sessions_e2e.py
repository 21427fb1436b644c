"""Sessions and links in a real browser: a refresh, a new tab and a pasted link keep the session and open
the linked object; signing out ends the session in every tab; a link to a page the role may not open
is refused with its reason."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import ADMIN, ANALYST, AUDITOR, Seeded, context_for
from tests.e2e.conftest import ServedApp, no_failure, serve_seeded_copy, wait_for_app

PASSWORDS = {ADMIN: "slate-orchard-2291", AUDITOR: "quartz-lantern-47", ANALYST: "copper-heron-5812"}


@pytest.fixture(scope="module")
def sessions_app(seeded_template: Seeded, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedApp]:
    with serve_seeded_copy(seeded_template, tmp_path_factory.mktemp("sessions"), passwords=PASSWORDS) as served:
        yield served


def fill_sign_in(page: Page, user: str) -> None:
    expect(page.get_by_role("heading", name="Sign in to mlgov")).to_be_visible()
    page.get_by_role("textbox", name="User name").fill(user)
    page.get_by_role("textbox", name="Password").fill(PASSWORDS[user])
    page.get_by_role("button", name="Sign in").click()
    wait_for_app(page)
    expect(page.get_by_text(f"Signed in as {user}")).to_be_visible()


def test_a_pasted_link_a_refresh_and_a_new_tab_keep_the_session_and_open_the_linked_object(
    page: Page, sessions_app: ServedApp, seeded_template: Seeded
) -> None:
    record = context_for(sessions_app.home).audit.frame().row(2, named=True)
    hash_line = page.get_by_text(f"Hash: {record['hash']}")

    # a link from a ticket, before signing in: the form, then the record it names
    page.goto(f"{sessions_app.url}/?page=audit&record={record['seq']}")
    fill_sign_in(page, AUDITOR)
    expect(page.get_by_role("heading", name="Audit trail", exact=True)).to_be_visible()
    expect(hash_line).to_be_visible()
    assert f"record={record['seq']}" in page.url
    no_failure(page)
    session = next(c for c in page.context.cookies() if c["name"] == "mlgov_session")
    assert session["httpOnly"]  # scripts cannot read it
    assert session["sameSite"] == "Lax"

    # F5: still signed in, still on the record
    page.reload()
    wait_for_app(page)
    expect(page.get_by_text(f"Signed in as {AUDITOR}")).to_be_visible()
    expect(hash_line).to_be_visible()

    # a second tab opens a link to a promotion request without signing in again
    tab = page.context.new_page()
    tab.goto(f"{sessions_app.url}/approvals?request={seeded_template.request_id}")
    wait_for_app(tab)
    expect(tab.get_by_text(f"Signed in as {AUDITOR}")).to_be_visible()
    assert f"request={seeded_template.request_id}" in tab.url
    expect(tab.get_by_role("heading", name="loan_default version 1 → champion")).to_be_visible()
    no_failure(tab)

    # signing out in one tab ends the session: the other tab's next page asks to sign in
    tab.get_by_role("button", name="Sign out").click()
    wait_for_app(tab)
    expect(tab.get_by_text("Your session was signed out: sign in again.")).to_be_visible()
    page.reload()
    expect(page.get_by_role("heading", name="Sign in to mlgov")).to_be_visible()
    assert "mlgov_session" not in {c["name"] for c in page.context.cookies()}  # the stale cookie is dropped


def test_a_link_to_a_page_the_role_may_not_open_is_refused_with_its_reason(page: Page, sessions_app: ServedApp) -> None:
    page.goto(f"{sessions_app.url}/?page=audit&record=1")
    fill_sign_in(page, ANALYST)

    expect(
        page.get_by_text("You may not open Audit: it needs one of the roles admin, auditor, and you hold analyst.")
    ).to_be_visible()
    expect(page.get_by_text("Page not found")).to_have_count(0)
    expect(page.get_by_text("Hash:")).to_have_count(0)
    # the menu lists only the pages the analyst may open
    expect(page.get_by_test_id("stSidebarNav").get_by_role("link", name="Audit trail")).to_have_count(0)
    expect(page.get_by_test_id("stSidebarNav").get_by_role("link", name="Drift")).to_have_count(1)
