"""A request that met its quorum but failed its metric gate ends in its final state in the browser: it
says so with its reason and what to do, and offers Reject, not Approve."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from playwright.sync_api import Page, expect

from pipelines.jobs.promote import approve, request_promotion
from pipelines.jobs.train import train
from pipelines.ml.modeling import Algorithm
from tests.conftest import MAKER, REVIEWER_A, REVIEWER_B, FixedClock, Seeded, context_for
from tests.e2e.conftest import ServedApp, serve_app, sign_in, wait_for_app
from tests.review_setup import PASSWORDS, give_passwords


@pytest.fixture(scope="module")
def gate_failed(seeded_template: Seeded, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServedApp, str]]:
    folder = tmp_path_factory.mktemp("gate-failed")
    home = folder / "home"
    shutil.copytree(seeded_template.home, home)
    give_passwords(home)
    # today, as the server's clock reads it: approvals given at the seeded lakehouse's time would have expired
    ctx = context_for(home, clock=FixedClock(datetime.now(UTC)))
    # the seeded champion is a logistic regression; a boosted model is clearly worse on the same holdout
    worse = train(
        ctx,
        model="loan_default",
        table="loans",
        target=seeded_template.dataset.target,
        features=None,
        algorithm=Algorithm.HGB,
        actor=MAKER,
    )
    request = request_promotion(ctx, model="loan_default", version=worse.version, reason="try boosting", actor=MAKER)
    approve(ctx, request_id=request.request_id, reason="metrics look fine to me", actor=REVIEWER_A)
    approve(ctx, request_id=request.request_id, reason="agree", actor=REVIEWER_B)
    with serve_app(home, log=folder / "server.log") as served:
        yield served, request.request_id


def test_a_gate_failed_request_shows_its_final_state_and_only_reject(
    page: Page, gate_failed: tuple[ServedApp, str]
) -> None:
    app, request_id = gate_failed

    sign_in(page, app, REVIEWER_A, PASSWORDS[REVIEWER_A], path=f"/approvals?request={request_id}")
    wait_for_app(page)

    status = page.get_by_test_id("stMetric").filter(has_text="Status").get_by_test_id("stMetricValue")
    expect(status).to_have_text("blocked by a failed gate")
    expect(page.get_by_test_id("stMetric").filter(has_text="Approvals").get_by_test_id("stMetricValue")).to_have_text(
        "2/2"
    )
    expect(page.get_by_text("Gate failed: roc_auc").first).to_be_visible()
    expect(page.get_by_text("reject it, or ask for a new version").first).to_be_visible()
    expect(page.get_by_role("button", name="Approve", exact=True)).to_have_count(0)
    expect(page.get_by_role("button", name="Reject", exact=True)).to_be_enabled()
    expect(page.get_by_test_id("stException")).to_have_count(0)
