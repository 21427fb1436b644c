"""An analyst acknowledges an open alert on Overview, in the browser; the lakehouse records it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from governance.alerts import AlertState
from pipelines.reads.alerts import list_alerts
from tests.conftest import ADMIN, ANALYST, Seeded, context_for
from tests.e2e.conftest import ServedApp, no_failure, serve_seeded_copy, sign_in, wait_for_app

PASSWORD = "cobalt-Heron-41-reef"


@pytest.fixture(scope="module")
def alerts_app(seeded_template: Seeded, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedApp]:
    passwords = {ADMIN: f"{PASSWORD}-admin", ANALYST: PASSWORD}
    with serve_seeded_copy(seeded_template, tmp_path_factory.mktemp("alerts-e2e"), passwords=passwords) as served:
        yield served


def test_an_analyst_acknowledges_an_alert_on_overview(page: Page, alerts_app: ServedApp) -> None:
    before = list_alerts(context_for(alerts_app.home), states=[AlertState.OPEN])
    assert before, "the seeded drift fires by the default rules"

    sign_in(page, alerts_app, ANALYST, PASSWORD)
    expect(page.get_by_role("heading", name="Open alerts")).to_be_visible()
    form = page.get_by_test_id("stForm").filter(has=page.get_by_role("button", name="Acknowledge", exact=True))
    form.get_by_label("Note (kept in the audit trail; resolving needs one)").fill("on it: checking the income feed")
    page.get_by_role("button", name="Acknowledge", exact=True).click()
    wait_for_app(page)

    expect(page.get_by_test_id("stAlertContentSuccess").filter(has_text="acknowledged")).to_be_visible()
    no_failure(page)
    after = {v.alert_id: v for v in list_alerts(context_for(alerts_app.home))}
    acknowledged = [v for v in after.values() if v.state is AlertState.ACKNOWLEDGED]
    assert [(v.handled_by, v.reason) for v in acknowledged] == [(ANALYST, "on it: checking the income feed")]
