"""An analyst signs in with a password and reads the Drift, Performance and Cost pages in a real browser."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from pipelines.jobs.users import add_user, set_password
from tests.conftest import ADMIN, ANALYST, Seeded, context_for
from tests.e2e.conftest import (
    ServedApp,
    no_failure,
    open_page,
    serve_app,
    sign_in,
    wait_for_app,
    whole_page_screenshot,
)

ADMIN_PASSWORD = "Correct-Horse-Battery-9"
ANALYST_PASSWORD = "Stapled-Lantern-Orbit-7"
# Generating Evidently's report renders every plot: well over the default wait on a busy machine.
REPORT_TIMEOUT_MS = 120_000


@pytest.fixture(scope="module")
def monitoring_server(seeded_template: Seeded, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedApp]:
    """The app over its own copy of the seeded lakehouse, where the analyst has a password."""
    folder = tmp_path_factory.mktemp("monitoring-e2e")
    home = folder / "home"
    shutil.copytree(seeded_template.home, home)
    ctx = context_for(home)
    add_user(ctx, user=ADMIN, role="admin", password=ADMIN_PASSWORD, actor=ADMIN)
    set_password(ctx, user=ANALYST, password=ANALYST_PASSWORD, actor=ADMIN)
    with serve_app(home, log=folder / "server.log") as served:
        yield served


def test_drift_page_draws_its_charts_and_generates_the_evidently_report(
    page: Page, monitoring_server: ServedApp
) -> None:
    sign_in(page, monitoring_server, ANALYST, ANALYST_PASSWORD)
    open_page(page, "Drift")

    charts = page.get_by_test_id("stVegaLiteChart")
    expect(charts).to_have_count(5)  # heatmap, drift share, magnitude, a feature's and the score's distributions
    for index in range(5):
        expect(charts.nth(index).get_by_role("img")).to_be_visible()  # drawn, not just placed
    no_failure(page)

    page.get_by_role("button", name="Generate the Evidently report").click()
    wait_for_app(page)
    download = page.get_by_role("button", name="Download the report")
    expect(download).to_be_visible(timeout=REPORT_TIMEOUT_MS)
    wait_for_app(page)
    reports = list((monitoring_server.home / "reports").glob("b-*.html"))
    assert len(reports) == 1
    no_failure(page)
    whole_page_screenshot(page, "drift")

    page.get_by_text("Show the report on this page").click()
    wait_for_app(page)
    expect(page.locator("iframe").last).to_be_visible()


def test_performance_page_shows_metrics_coverage_and_no_challenger(page: Page, monitoring_server: ServedApp) -> None:
    sign_in(page, monitoring_server, ANALYST, ANALYST_PASSWORD)
    open_page(page, "Performance")

    batches = page.get_by_test_id("stMetric").filter(has_text="Batches scored")
    expect(batches.get_by_test_id("stMetricValue")).to_have_text("2")
    charts = page.get_by_test_id("stVegaLiteChart")
    expect(charts).to_have_count(2)
    expect(charts.first.get_by_role("img")).to_be_visible()
    expect(page.get_by_text("No challenger", exact=False)).to_be_visible()
    no_failure(page)
    whole_page_screenshot(page, "performance")


def test_cost_page_reprices_when_an_assumption_changes(page: Page, monitoring_server: ServedApp) -> None:
    sign_in(page, monitoring_server, ANALYST, ANALYST_PASSWORD)
    open_page(page, "Cost vs model count")

    expect(page.get_by_test_id("stVegaLiteChart")).to_have_count(2)
    expect(page.get_by_test_id("stVegaLiteChart").first.get_by_role("img")).to_be_visible()
    expect(page.get_by_text("stage", exact=False).first).to_be_visible()
    no_failure(page)
    whole_page_screenshot(page, "cost")

    compute = page.get_by_test_id("stMetric").filter(has_text="Measured compute").get_by_test_id("stMetricValue")
    expect(compute).to_have_text(re.compile(r"^\$0\.0*[1-9]\d*$"))  # seconds of CPU: a fraction of a cent, not $0.00
    total = page.get_by_test_id("stMetric").filter(has_text="Total cost").get_by_test_id("stMetricValue")
    before = total.inner_text()
    rate = page.get_by_role("spinbutton", name="People, $ per hour")
    rate.fill("0")
    rate.press("Enter")
    wait_for_app(page)
    expect(total).not_to_have_text(before)
    no_failure(page)
