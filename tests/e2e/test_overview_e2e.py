from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import ADMIN, ANALYST, Seeded
from tests.e2e.conftest import ServedApp, dataframe_cells, no_failure, screenshot, serve_seeded_copy, sign_in

PASSWORD = "amber-Falcon-93-tide"


@pytest.fixture(scope="module")
def overview_app(seeded_template: Seeded, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedApp]:
    """`mlgov app` over a copy of the seeded lakehouse where ana (analyst) signs in with a password."""
    passwords = {ADMIN: f"{PASSWORD}-admin", ANALYST: PASSWORD}
    with serve_seeded_copy(seeded_template, tmp_path_factory.mktemp("overview-e2e"), passwords=passwords) as served:
        yield served


def open_overview(page: Page, app: ServedApp) -> None:
    sign_in(page, app, ANALYST, PASSWORD)


def test_overview_shows_the_model_in_production(page: Page, overview_app: ServedApp) -> None:
    open_overview(page, overview_app)

    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    in_production = page.get_by_test_id("stMetric").filter(has_text="In production")
    expect(in_production.get_by_test_id("stMetricValue")).to_have_text("1")
    models = page.get_by_test_id("stDataFrame").first  # the models; the open alerts follow
    expect(models).to_be_visible()
    expect(dataframe_cells(models, "loan_default")).to_have_count(1)
    expect(dataframe_cells(models, "medium")).to_have_count(1)  # its risk tier
    expect(page.get_by_test_id("stVegaLiteChart").get_by_role("img")).to_be_visible()  # drawn, not just placed

    screenshot(page, "overview")


def test_overview_raises_no_exception(page: Page, overview_app: ServedApp) -> None:
    open_overview(page, overview_app)

    expect(page.get_by_test_id("stMetric")).to_have_count(4)
    no_failure(page)
