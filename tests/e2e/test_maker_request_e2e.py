"""A maker works in the app: withdraws a request, requests promotion from the page, and two reviewers
approve it there, each finding it under "Waiting for me"; the alias moves only then.

The server runs on this module's own copy of the seeded lakehouse with a pending request (version 2 of
loan_default, requested by maya) and passwords for the seeded users.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Locator, Page, expect

from governance.promotion import PromotionStatus, fold_requests
from lakehouse.records import promotion_events
from tests.conftest import MAKER, REVIEWER_A, REVIEWER_B, Seeded, context_for
from tests.e2e.conftest import ServedApp, no_failure, open_page, serve_app, sign_in, wait_for_app
from tests.review_setup import PASSWORDS, Pending, copy_pending, give_passwords, pending_template

REASON_LABEL = "Reason (required, kept in the audit trail)"


@pytest.fixture(scope="module")
def maker_app(seeded_template: Seeded, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServedApp, Pending]]:
    folder = tmp_path_factory.mktemp("maker-e2e")
    pending = copy_pending(pending_template(seeded_template, tmp_path_factory), folder / "home")
    give_passwords(pending.home)
    with serve_app(pending.home, log=folder / "server.log") as served:
        yield served, pending


def statuses(pending: Pending) -> dict[str, PromotionStatus]:
    return {rid: r.status for rid, r in fold_requests(promotion_events(context_for(pending.home).ledger)).items()}


def decision_form(page: Page, button: str) -> Locator:
    return page.get_by_test_id("stForm").filter(has=page.get_by_role("button", name=button, exact=True))


def sign_out(page: Page) -> None:
    page.get_by_role("button", name="Sign out").click()
    wait_for_app(page)


def approve_as(page: Page, app: ServedApp, reviewer: str, reason: str) -> None:
    sign_in(page, app, reviewer, PASSWORDS[reviewer])
    open_page(page, "Approvals")
    expect(page.get_by_role("heading", name="Waiting for me · 1")).to_be_visible()
    decision_form(page, "Approve").get_by_label(REASON_LABEL).fill(reason)
    page.get_by_role("button", name="Approve", exact=True).click()
    wait_for_app(page)
    expect(page.get_by_role("heading", name="Waiting for me · 0")).to_be_visible()
    no_failure(page)


def test_a_maker_requests_from_the_app_and_two_reviewers_approve(
    page: Page, maker_app: tuple[ServedApp, Pending]
) -> None:
    app, pending = maker_app

    # the maker takes her earlier request back...
    sign_in(page, app, MAKER, PASSWORDS[MAKER])
    open_page(page, "Approvals")
    expect(page.get_by_role("heading", name="My requests · 1 open")).to_be_visible()
    expect(page.get_by_role("button", name="Approve", exact=True)).to_have_count(0)  # she reviews nothing
    decision_form(page, "Withdraw").get_by_label(REASON_LABEL).fill("evidence was computed before the fix")
    page.get_by_role("button", name="Withdraw", exact=True).click()
    wait_for_app(page)
    expect(page.get_by_text(f"Withdrew request {pending.request_id}").first).to_be_visible()
    expect(page.get_by_role("heading", name="My requests · 0 open")).to_be_visible()
    no_failure(page)
    assert statuses(pending)[pending.request_id] is PromotionStatus.WITHDRAWN

    # ...and requests the promotion again, from the page
    page.get_by_text("Request a promotion").click()
    form = page.get_by_test_id("stExpander").filter(has_text="Request a promotion")
    form.get_by_label(REASON_LABEL).fill("retrained with the null-income fix")
    form.get_by_role("button", name="Request promotion").click()
    wait_for_app(page)
    expect(page.get_by_text(f"Requested: loan_default version {pending.version} as champion").first).to_be_visible()
    expect(page.get_by_role("heading", name="My requests · 1 open")).to_be_visible()
    no_failure(page)
    (new,) = [rid for rid, status in statuses(pending).items() if status is PromotionStatus.PENDING]
    sign_out(page)

    # two reviewers find it waiting for them and approve; the alias moves with the second
    approve_as(page, app, REVIEWER_A, "AUC equal to the champion's on the same holdout")
    registry = context_for(pending.home).registry
    assert registry.alias_version("loan_default", "champion") == "1"
    sign_out(page)
    approve_as(page, app, REVIEWER_B, "agree with rita")
    expect(page.get_by_text(f"version {pending.version} is now the champion").first).to_be_visible()
    assert statuses(pending)[new] is PromotionStatus.PROMOTED
    assert context_for(pending.home).registry.alias_version("loan_default", "champion") == pending.version
