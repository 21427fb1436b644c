"""An analyst reads a regression model's Performance page in a real browser: RMSE leads (lower is better),
its realized and DLE-estimated values are shown, and the page says which batches are which."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from pipelines.jobs.users import add_user, set_password
from tests.app.task_models import REGRESSION, build_task_home
from tests.conftest import ADMIN, ANALYST, Seeded, context_for
from tests.e2e.conftest import ServedApp, no_failure, open_page, serve_app, sign_in, wait_for_app, whole_page_screenshot

ADMIN_PASSWORD = "Correct-Horse-Battery-9"
ANALYST_PASSWORD = "Stapled-Lantern-Orbit-7"


@pytest.fixture(scope="module")
def regression_server(seeded_template: Seeded, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedApp]:
    """The app over a copy of the seeded lakehouse with a regression model beside the classifier."""
    folder = tmp_path_factory.mktemp("regression-e2e")
    built = build_task_home(seeded_template, folder / "home", models=(REGRESSION,))
    ctx = context_for(built.home)
    add_user(ctx, user=ADMIN, role="admin", password=ADMIN_PASSWORD, actor=ADMIN)
    set_password(ctx, user=ANALYST, password=ANALYST_PASSWORD, actor=ADMIN)
    with serve_app(built.home, log=folder / "server.log") as served:
        yield served


def test_a_regression_models_performance_page(page: Page, regression_server: ServedApp) -> None:
    sign_in(page, regression_server, ANALYST, ANALYST_PASSWORD)
    open_page(page, "Performance")
    picker = page.get_by_role("combobox", name="Model")
    picker.click()
    page.get_by_role("option", name=REGRESSION).click()
    wait_for_app(page)
    expect(picker).to_have_value(REGRESSION)

    cards = page.get_by_test_id("stMetric")
    # the cards are production's: the champion's two batches, not the challenger's shadow ones too
    expect(cards.filter(has_text="Batches scored").get_by_test_id("stMetricValue")).to_have_text("2")
    for kind in ("Realized", "Estimated"):
        value = cards.filter(has_text=f"{kind} RMSE").get_by_test_id("stMetricValue")
        expect(value).to_have_text(re.compile(r"^\d+\.\d{3}$"))  # a number, not "–"
    expect(page.get_by_text("regression model, watched on RMSE: lower is better", exact=False)).to_be_visible()
    expect(page.get_by_text("direct loss estimation (DLE)", exact=False).first).to_be_visible()
    expect(
        page.get_by_text("RMSE per batch. Realized: batch 1. Estimated only, no labels yet: batch 3.")
    ).to_be_visible()
    charts = page.get_by_test_id("stVegaLiteChart")
    expect(charts).to_have_count(2)  # RMSE and MAE per batch, label coverage
    for index in range(2):
        expect(charts.nth(index).get_by_role("img")).to_be_visible()  # drawn, not just placed
    metrics = page.get_by_test_id("stMultiSelect").filter(has_text="Metrics")
    expect(metrics).to_contain_text("RMSE")
    expect(metrics).to_contain_text("MAE")
    no_failure(page)

    # the challenger, drawn beside the champion as a series of its own
    page.get_by_test_id("stMultiSelect").filter(has_text="Versions").get_by_role("combobox").click()
    page.get_by_role("option", name="v2 · challenger").click()
    page.keyboard.press("Escape")
    wait_for_app(page)
    sources = "RMSE per batch. Realized: batches 1, 2. Estimated only, no labels yet: batches 3, 4."
    expect(page.get_by_text(sources)).to_be_visible()
    expect(charts.first.get_by_role("img")).to_be_visible()
    no_failure(page)
    whole_page_screenshot(page, "performance-regression")
