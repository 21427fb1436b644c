"""The four-eyes review in a real browser: a maker may not approve, two reviewers approve, the alias moves.

The server runs on this module's own copy of the seeded lakehouse with a pending request (version 2 of
loan_default, trained by maya) and passwords for the seeded users.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Locator, Page, expect

from pipelines.reads.promotions import show_request
from tests.conftest import ADMIN, MAKER, REVIEWER_A, REVIEWER_B, Seeded, context_for
from tests.e2e.conftest import (
    ServedApp,
    dataframe_cells,
    no_failure,
    open_page,
    screenshot,
    serve_app,
    sign_in,
    wait_for_app,
    whole_page_screenshot,
)
from tests.review_setup import PASSWORDS, Pending, copy_pending, give_passwords, pending_template

REASON_LABEL = "Reason (required, kept in the audit trail)"
MLFLOW_UI = "http://127.0.0.1:5000"


@pytest.fixture(scope="module")
def review_app(
    seeded_template: Seeded, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ServedApp, Pending]]:
    folder = tmp_path_factory.mktemp("review-e2e")
    pending = copy_pending(pending_template(seeded_template, tmp_path_factory), folder / "home")
    give_passwords(pending.home)
    with serve_app(pending.home, log=folder / "server.log", env={"MLGOV_MLFLOW_UI_URL": MLFLOW_UI}) as served:
        yield served, pending


def champion(pending: Pending) -> str | None:
    return context_for(pending.home).registry.alias_version("loan_default", "champion")


def approvals_metric(page: Page) -> Locator:
    # by its exact label: the Status metric's value ("awaiting approvals") holds the word too
    label = page.get_by_test_id("stMetricLabel").get_by_text("Approvals", exact=True)
    return page.get_by_test_id("stMetric").filter(has=label).get_by_test_id("stMetricValue")


def test_two_reviewers_approve_and_the_alias_moves_only_then(page: Page, review_app: tuple[ServedApp, Pending]) -> None:
    app, pending = review_app

    page.goto(app.url)
    expect(page.get_by_role("heading", name="Sign in to mlgov")).to_be_visible()
    screenshot(page, "login", streamlit=False)

    # the maker sees her request, but may not approve it: the reason stands where the button would
    sign_in(page, app, MAKER, PASSWORDS[MAKER])
    open_page(page, "Approvals")
    expect(dataframe_cells(page.get_by_test_id("stDataFrame").first, pending.request_id)).to_have_count(1)
    expect(page.get_by_role("button", name="Approve", exact=True)).to_have_count(0)
    expect(page.get_by_role("button", name="Reject", exact=True)).to_have_count(0)
    expect(page.get_by_role("button", name="Withdraw", exact=True)).to_be_enabled()  # her own request
    expect(page.get_by_text(f"Approve is not available: {MAKER} does not hold the reviewer role.")).to_be_visible()
    no_failure(page)
    whole_page_screenshot(page, "approvals-maker", height=2900)
    page.get_by_role("button", name="Sign out").click()
    wait_for_app(page)

    # the first reviewer reads the evidence and approves: 1/2, the alias stays
    sign_in(page, app, REVIEWER_A, PASSWORDS[REVIEWER_A])
    open_page(page, "Approvals")
    expect(page.get_by_text("Candidate vs champion")).to_be_visible()
    metrics = page.get_by_test_id("stDataFrame").filter(has_text="Candidate")
    expect(dataframe_cells(metrics, "ROC AUC")).to_have_count(1)  # the gate metric, named as the task names it
    expect(approvals_metric(page)).to_have_text("0/2")
    reason = page.get_by_label(REASON_LABEL)
    reason.fill("AUC equal to the champion's on the same holdout; drift stable")
    page.get_by_role("button", name="Approve", exact=True).click()
    wait_for_app(page)
    expect(approvals_metric(page)).to_have_text("1/2")
    expect(page.get_by_text("Approved (1/2 approvals). The alias has not moved").first).to_be_visible()
    expect(page.get_by_label(REASON_LABEL)).to_have_value("")  # cleared once acted on
    expect(page.get_by_role("button", name="Approve", exact=True)).to_have_count(0)  # not twice
    expect(page.get_by_text(f"Approve is not available: {REVIEWER_A} has already approved")).to_be_visible()
    no_failure(page)
    assert champion(pending) == "1"
    written = show_request(context_for(pending.home), request_id=pending.request_id)["approvals"]
    assert [(a["actor"], a["counts"]) for a in written] == [(REVIEWER_A, True)]
    whole_page_screenshot(page, "approvals", height=2900)
    page.get_by_role("button", name="Sign out").click()
    wait_for_app(page)

    # the second reviewer approves: the policy is met and the alias moves
    sign_in(page, app, REVIEWER_B, PASSWORDS[REVIEWER_B])
    open_page(page, "Approvals")
    expect(approvals_metric(page)).to_have_text("1/2")
    page.get_by_label(REASON_LABEL).fill("agree with rita")
    page.get_by_role("button", name="Approve", exact=True).click()
    wait_for_app(page)
    expect(page.get_by_text(f"version {pending.version} is now the champion").first).to_be_visible()
    expect(approvals_metric(page)).to_have_text("2/2")
    no_failure(page)
    assert champion(pending) == pending.version

    # the registry shows the new champion, its history and a link to its run
    open_page(page, "Models")
    champion_metric = page.get_by_test_id("stMetric").filter(has_text="Champion").get_by_test_id("stMetricValue")
    expect(champion_metric).to_have_text(f"v{pending.version}")
    expect(page.get_by_test_id("stVegaLiteChart").first.get_by_role("img")).to_be_visible()
    registry = context_for(pending.home).registry
    run_id = registry.version("loan_default", pending.version).run_id
    experiment = registry.experiment_ids([run_id])[run_id]
    run_link = f"{MLFLOW_UI}/#/experiments/{experiment}/runs/{run_id}"
    expect(dataframe_cells(page.get_by_test_id("stDataFrame").first, run_link)).to_have_count(1)
    no_failure(page)
    whole_page_screenshot(page, "models", height=1500)


def test_an_admin_manages_access(page: Page, review_app: tuple[ServedApp, Pending]) -> None:
    app, _ = review_app

    sign_in(page, app, ADMIN, PASSWORDS[ADMIN])
    open_page(page, "Access")

    users = page.get_by_test_id("stDataFrame").first
    for user in (ADMIN, MAKER, REVIEWER_A, REVIEWER_B):
        expect(dataframe_cells(users, user)).to_have_count(1)
    expect(page.get_by_text("Add a user")).to_be_visible()
    expect(page.get_by_label("Initial password", exact=True)).to_have_attribute("type", "password")
    no_failure(page)
    whole_page_screenshot(page, "access", height=1500)
