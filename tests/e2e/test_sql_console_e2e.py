"""An auditor queries the lakehouse in the SQL console and downloads the rows; and no page the app serves
asks any host but the app's own for anything (fonts, icons, scripts, usage statistics)."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, Request, expect

from tests.conftest import ADMIN, AUDITOR, Seeded
from tests.e2e.conftest import (
    ServedApp,
    no_failure,
    open_page,
    serve_seeded_copy,
    sign_in,
    wait_for_app,
    whole_page_screenshot,
)

ADMIN_PASSWORD = "Correct-Horse-Battery-9"
AUDITOR_PASSWORD = "Quartz-Lantern-Orbit-47"
QUERY = "SELECT seq, actor, action FROM governance_audit ORDER BY seq"
_SHARED = ["Overview", "Approvals", "Models", "Lineage", "Audit trail", "Drift", "Performance", "Cost vs model count"]
MENUS = {AUDITOR: [*_SHARED, "SQL console", "Features"], ADMIN: [*_SHARED, "Access", "Features"]}


@pytest.fixture(scope="module")
def console_server(seeded_template: Seeded, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedApp]:
    """The app over its own copy of the seeded lakehouse, where the auditor has a password."""
    passwords = {ADMIN: ADMIN_PASSWORD, AUDITOR: AUDITOR_PASSWORD}
    with serve_seeded_copy(seeded_template, tmp_path_factory.mktemp("sql-e2e"), passwords=passwords) as served:
        yield served


def run_query(page: Page, sql: str) -> None:
    editor = page.get_by_role("textbox", name="SQL")
    editor.fill(sql)
    page.get_by_role("button", name="Run query").click()
    wait_for_app(page)


def test_an_auditor_runs_a_query_and_downloads_the_rows_as_csv(
    page: Page, console_server: ServedApp, tmp_path: Path
) -> None:
    sign_in(page, console_server, AUDITOR, AUDITOR_PASSWORD)
    open_page(page, "SQL console")

    run_query(page, QUERY)

    no_failure(page)
    expect(page.get_by_test_id("stDataFrame").last).to_be_visible()
    download_button = page.get_by_role("button", name="Download").filter(has_text="rows (CSV)")
    expect(download_button).to_be_visible()
    with page.expect_download() as started:
        download_button.click()
    saved = tmp_path / started.value.suggested_filename
    started.value.save_as(saved)
    with saved.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert saved.name == "query.csv"
    assert list(rows[0]) == ["seq", "actor", "action"]
    assert [int(r["seq"]) for r in rows] == sorted(int(r["seq"]) for r in rows)
    assert {ADMIN, AUDITOR} <= {r["actor"] for r in rows}  # the password set for the auditor is on the trail

    whole_page_screenshot(page, "sql")

    run_query(page, "DROP VIEW governance_audit")
    expect(page.get_by_test_id("stAlertContentError")).to_have_text("only SELECT queries may run here, not DROP")
    expect(page.get_by_test_id("stException")).to_have_count(0)


def test_no_request_leaves_the_machine(page: Page, console_server: ServedApp) -> None:
    app_host = urlsplit(console_server.url).netloc
    requested: list[str] = []

    def log_request(request: Request) -> None:
        requested.append(request.url)

    page.on("request", log_request)
    # every page there is: the auditor's menu (all but Access), then the admin's (all but SQL console)
    for user, password in ((AUDITOR, AUDITOR_PASSWORD), (ADMIN, ADMIN_PASSWORD)):
        sign_in(page, console_server, user, password)
        menu = page.get_by_test_id("stSidebarNav").get_by_role("link")
        titles = [text.strip().splitlines()[-1].strip() for text in menu.all_inner_texts()]  # after the icon
        assert titles == MENUS[user]
        for title in titles:
            open_page(page, title)
            if title == "SQL console":
                run_query(page, "SELECT model, batch_id, feature, drifted FROM monitoring_drift")
            no_failure(page)
        page.get_by_role("button", name="Sign out").click()
        wait_for_app(page)
    page.evaluate("document.fonts.ready")
    page.wait_for_timeout(1000)  # the favicon and late fonts are requested after the page settles

    elsewhere = [
        url
        for url in requested
        if urlsplit(url).scheme in ("http", "https", "ws", "wss") and urlsplit(url).netloc != app_host
    ]
    assert requested, "the request log is empty: the listener saw nothing"
    assert elsewhere == []
    # Streamlit's toolbar is for developers: no Deploy button, no main menu for the people using the app.
    expect(page.get_by_test_id("stAppDeployButton")).to_have_count(0)
    expect(page.get_by_test_id("stMainMenu")).to_have_count(0)
