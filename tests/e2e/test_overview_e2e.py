from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.e2e.conftest import ServedApp, dataframe_cells, screenshot, wait_for_app


def open_overview(page: Page, app_server: ServedApp) -> None:
    page.goto(app_server.url)
    wait_for_app(page)


def test_overview_shows_the_model_in_production(page: Page, app_server: ServedApp) -> None:
    open_overview(page, app_server)

    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    in_production = page.get_by_test_id("stMetric").filter(has_text="In production")
    expect(in_production.get_by_test_id("stMetricValue")).to_have_text("1")
    models = page.get_by_test_id("stDataFrame")
    expect(models).to_be_visible()
    expect(dataframe_cells(models, "loan_default")).to_have_count(1)
    expect(page.get_by_test_id("stVegaLiteChart").get_by_role("img")).to_be_visible()  # drawn, not just placed

    screenshot(page, "overview")


def test_overview_raises_no_exception(page: Page, app_server: ServedApp) -> None:
    open_overview(page, app_server)

    expect(page.get_by_test_id("stMetric")).to_have_count(4)
    expect(page.locator('[data-testid="stException"]')).to_have_count(0)
    expect(page.get_by_test_id("stAlertContentError")).to_have_count(0)
