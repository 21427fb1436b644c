from __future__ import annotations

import re
import shutil
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, ViewportSize, expect

from pipelines.jobs.users import add_user, set_password
from tests.conftest import ADMIN, AUDITOR, Seeded, context_for
from tests.e2e.conftest import ServedApp, open_page, screenshot, serve_app, sign_in, wait_for_app

PASSWORD = "quartz-lantern-47"
WIDE: ViewportSize = {"width": 1440, "height": 900}
TALL: ViewportSize = {"width": 1440, "height": 1800}


@pytest.fixture
def auditor_app(seeded_template: Seeded, tmp_path: Path) -> Iterator[ServedApp]:
    """`mlgov app` over a copy of the seeded lakehouse where aiko (auditor) signs in with a password."""
    home = tmp_path / "home"
    shutil.copytree(seeded_template.home, home)
    ctx = context_for(home)
    add_user(ctx, user=ADMIN, role="admin", password=f"{PASSWORD}-admin", actor=ADMIN)
    set_password(ctx, user=AUDITOR, password=PASSWORD, actor=ADMIN)
    with serve_app(home, log=tmp_path / "server.log") as served:
        yield served


def test_an_auditor_verifies_the_trail_and_downloads_an_evidence_pack(
    page: Page, auditor_app: ServedApp, tmp_path: Path
) -> None:
    sign_in(page, auditor_app, AUDITOR, PASSWORD)

    open_page(page, "Audit trail")
    expect(page.get_by_test_id("stDataFrame")).to_be_visible()
    page.get_by_role("button", name="Verify the chain").click()
    wait_for_app(page)
    intact = page.get_by_test_id("stAlertContentSuccess")
    expect(intact).to_contain_text("Audit chain intact")
    expect(page.get_by_test_id("stAlertContentError")).to_have_count(0)
    page.set_viewport_size(TALL)  # Streamlit scrolls inside the page: a tall window shows it whole
    screenshot(page, "audit")
    page.set_viewport_size(WIDE)

    open_page(page, "Lineage")
    page.get_by_test_id("stButtonGroup").get_by_text("Model version", exact=True).click()
    wait_for_app(page)
    picker = page.get_by_role("combobox", name="Model version").first  # the second one picks the pack's
    picker.click()
    page.get_by_role("option", name="loan_default/1").click()
    wait_for_app(page)
    expect(picker).to_have_value("loan_default/1")
    expect(page.get_by_test_id("stGraphVizChart").locator("svg")).to_be_visible()  # drawn, not just placed
    expect(page.get_by_test_id("stGraphVizChart")).to_contain_text("raw/loans@0")

    page.get_by_role("button", name="Prepare the evidence pack").click()
    wait_for_app(page)
    download_button = page.get_by_role("button", name=re.compile(r"Download loan_default-v1-evidence\.zip"))
    expect(download_button).to_be_visible()
    with page.expect_download() as started:
        download_button.click()
    saved = tmp_path / started.value.suggested_filename
    started.value.save_as(saved)

    assert saved.name == "loan_default-v1-evidence.zip"
    with zipfile.ZipFile(saved) as pack:
        assert "verify_pack.py" in pack.namelist()
    expect(page.locator('[data-testid="stException"]')).to_have_count(0)
    page.set_viewport_size(TALL)
    screenshot(page, "lineage")
