"""An admin uses break-glass from the Approvals page: a justification too short is refused with its
reason; a written one moves the champion alias at once, and the request stays open for review after
the fact, flagged as break-glass there and on the audit trail.

The server runs on this module's own copy of the seeded lakehouse with version 2 of loan_default
trained and put forward (tests.review_setup).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from governance.promotion import PromotionStatus, fold_requests
from lakehouse.records import promotion_events
from tests.conftest import ADMIN, Seeded, context_for
from tests.e2e.conftest import ServedApp, no_failure, open_page, serve_app, sign_in, wait_for_app
from tests.review_setup import PASSWORDS, Pending, copy_pending, give_passwords, pending_template

JUSTIFICATION_LABEL = "Justification (at least 20 characters, kept in the audit trail)"
JUSTIFICATION = "INC-4711: v1 approves fraudulent loans; v2 fixes it, reviewed after the fact"


@pytest.fixture(scope="module")
def glass_app(seeded_template: Seeded, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServedApp, Pending]]:
    folder = tmp_path_factory.mktemp("break-glass-e2e")
    pending = copy_pending(pending_template(seeded_template, tmp_path_factory), folder / "home")
    give_passwords(pending.home)
    with serve_app(pending.home, log=folder / "server.log") as served:
        yield served, pending


def force(page: Page, justification: str) -> None:
    form = page.get_by_test_id("stExpander").filter(has_text="Break-glass promotion")
    form.get_by_label(JUSTIFICATION_LABEL).fill(justification)
    form.get_by_role("button", name="Force promotion").click()
    wait_for_app(page)


def test_an_admin_forces_a_promotion_with_a_justification(page: Page, glass_app: tuple[ServedApp, Pending]) -> None:
    app, pending = glass_app
    registry = context_for(pending.home).registry
    sign_in(page, app, ADMIN, PASSWORDS[ADMIN])
    open_page(page, "Approvals")
    page.get_by_text("Break-glass promotion").click()

    force(page, "urgent")
    expect(page.get_by_test_id("stAlertContentError")).to_have_text(
        "a break-glass promotion needs a written justification of at least 20 characters"
    )
    assert registry.alias_version("loan_default", "champion") == "1"

    force(page, JUSTIFICATION)
    expect(
        page.get_by_text(f"Break-glass: loan_default version {pending.version} is the champion now.").first
    ).to_be_visible()
    expect(
        page.get_by_text("Break-glass: an admin forced this promotion; it awaits review after the fact.")
    ).to_be_visible()
    no_failure(page)

    ctx = context_for(pending.home)
    assert ctx.registry.alias_version("loan_default", "champion") == pending.version
    forced = [
        r for r in fold_requests(promotion_events(ctx.ledger)).values() if r.status is PromotionStatus.BREAK_GLASS
    ]
    assert [r.version for r in forced] == [pending.version]
    assert JUSTIFICATION in ctx.audit.frame()["reason"].to_list()  # the justification is on the trail
