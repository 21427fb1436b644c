from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app.auth import SESSION_KEY
from app.text import plain
from governance.identity import SignedIn
from governance.roles import Role
from pipelines.jobs.promote import approve
from pipelines.reads.promotions import show_request
from tests.app.conftest import MAIN, captions, metric, open_app
from tests.conftest import ADMIN, AUDITOR, MAKER, REVIEWER_A, REVIEWER_B, FixedClock, Seeded, context_for
from tests.review_setup import REQUEST_REASON, Pending

PAGE = "views/approvals.py"


def decide(at: AppTest, pending: Pending, action: str, reason: str) -> AppTest:
    form = f"approvals.decide.{pending.request_id}"
    at.text_area(key=f"{form}.reason").input(reason)
    return at.button(key=f"{form}.{action}").click().run()


def buttons(at: AppTest, pending: Pending) -> dict[str, bool]:
    """Approve/Reject -> disabled?"""
    prefix = f"approvals.decide.{pending.request_id}."
    return {b.label: b.disabled for b in at.button if str(b.key).startswith(prefix)}


def test_a_reviewer_sees_the_request_with_its_evidence(pending: Pending) -> None:
    at = open_app(REVIEWER_A, Role.REVIEWER, page=PAGE)

    assert not at.exception
    assert not at.error
    queue = at.dataframe[0].value
    assert queue["request_id"].tolist() == [pending.request_id]  # the seeded, promoted request is not listed
    assert queue["status"].tolist() == ["awaiting approvals"]
    assert at.selectbox(key="approvals.request").value == pending.request_id
    assert metric(at, "Status") == "awaiting approvals"
    assert metric(at, "Approvals") == "0/2"
    assert metric(at, "Risk tier") == "medium"
    assert f"Reason given: {REQUEST_REASON}" in [t.value for t in at.text]  # Markdown shown as typed
    # the evidence: candidate vs champion on the same holdout, with the gate
    assert plain(f"Candidate version {pending.version} vs champion version 1") in captions(at)
    comparison = next(d.value for d in at.dataframe if "candidate" in d.value.columns)
    gate = comparison[comparison["metric"] == "roc_auc"].iloc[0]
    assert gate["candidate"] == pytest.approx(gate["champion"])
    assert gate["gate"] == "passed"
    assert any(m.label == "Dataset drift" for m in at.metric)
    assert any("No challenger in shadow" in i.value for i in at.info)
    assert any("0 of 2 approvals" in w.value for w in at.warning)
    assert buttons(at, pending) == {"Approve": False, "Reject": False}


def test_a_reviewer_approving_through_the_page_records_the_approval(pending: Pending) -> None:
    at = open_app(REVIEWER_A, Role.REVIEWER, page=PAGE)

    at = decide(at, pending, "approve", "metrics hold on the same holdout")

    assert not at.exception
    assert not at.error
    document = show_request(context_for(pending.home), request_id=pending.request_id)
    assert [(a["actor"], a["reason"], a["counts"]) for a in document["approvals"]] == [
        (REVIEWER_A, "metrics hold on the same holdout", True)
    ]
    assert context_for(pending.home).registry.alias_version("loan_default", "champion") == "1"  # not moved
    outcome = next(i.value for i in at.info if "Approved" in i.value)
    assert "1/2 approvals" in outcome
    assert "has not moved" in outcome
    assert metric(at, "Approvals") == "1/2"  # the page read the new state
    # and rita may not approve twice: no Approve button, the reason instead
    assert buttons(at, pending) == {"Reject": False}
    assert f"Approve is not available: {REVIEWER_A} has already approved request {pending.request_id}." in captions(
        at
    ).replace("\\", "")


def test_the_second_approval_moves_the_alias(pending: Pending) -> None:
    # now, as the app's clock: an approval older than the tier allows would no longer count
    now = FixedClock(datetime.now(UTC))
    approve(context_for(pending.home, clock=now), request_id=pending.request_id, reason="fine", actor=REVIEWER_A)
    at = open_app(REVIEWER_B, Role.REVIEWER, page=PAGE)

    at = decide(at, pending, "approve", "agree")

    assert not at.exception
    assert context_for(pending.home).registry.alias_version("loan_default", "champion") == pending.version
    assert any(f"version {pending.version} is now the champion" in s.value for s in at.success)
    assert metric(at, "Status") == "approved and promoted"  # the decided request stays selected
    assert buttons(at, pending) == {}  # a final state: nothing left to press
    assert "This request is approved and promoted: there is nothing left to decide." in captions(at).replace("\\", "")


@pytest.mark.parametrize(
    ("user", "role", "offered"),
    [
        (MAKER, Role.MAKER, {"Withdraw": False}),  # maya requested it: she may only take it back
        (AUDITOR, Role.AUDITOR, {}),
        (ADMIN, Role.ADMIN, {}),
    ],
)
def test_those_the_policy_forbids_see_the_reason_instead_of_a_button(
    pending: Pending, user: str, role: Role, offered: dict[str, bool]
) -> None:
    at = open_app(user, role, page=PAGE)

    assert not at.exception
    assert metric(at, "Approvals") == "0/2"  # they still see the request and its evidence
    assert buttons(at, pending) == offered
    refusal = f"{user} does not hold the reviewer role"
    assert f"Approve is not available: {refusal}." in captions(at).replace("\\", "")
    assert f"Reject is not available: {refusal}." in captions(at).replace("\\", "")


def test_a_reason_is_required(pending: Pending) -> None:
    at = open_app(REVIEWER_A, Role.REVIEWER, page=PAGE)

    at = decide(at, pending, "reject", "   ")

    assert not at.exception
    assert len(at.error) == 1
    assert "a reason is required" in at.error[0].value
    assert show_request(context_for(pending.home), request_id=pending.request_id)["request"]["status"] == "pending"


def test_a_rejection_is_recorded_and_shown(pending: Pending) -> None:
    at = open_app(REVIEWER_B, Role.REVIEWER, page=PAGE)

    at = decide(at, pending, "reject", "drift on the latest batch")

    assert not at.exception
    document = show_request(context_for(pending.home), request_id=pending.request_id)
    assert document["request"]["status"] == "rejected"
    assert document["rejection"]["actor"] == REVIEWER_B
    assert any("Rejected request" in w.value for w in at.warning)
    assert metric(at, "Status") == "rejected"
    assert f"Rejected by {REVIEWER_B}" in "\n".join(t.value for t in at.text)


def test_without_open_requests_the_page_says_so(seeded: Seeded, serve_home: Callable[[Path], None]) -> None:
    serve_home(seeded.home)
    at = open_app(REVIEWER_A, Role.REVIEWER, page=PAGE)

    assert not at.exception
    assert any("No request is waiting" in i.value for i in at.info)

    at.toggle(key="approvals.show_decided").set_value(True).run()

    assert at.dataframe[0].value["request_id"].tolist() == [seeded.request_id]
    assert metric(at, "Status") == "approved and promoted"


REFUSED = "You may not open Approvals: it needs one of the roles admin, auditor, maker, reviewer, and you hold analyst."


def test_an_analyst_is_refused(pending: Pending) -> None:
    at = open_app("ana", Role.ANALYST)
    at.switch_page(PAGE).run()  # a link to it: the page is found, and refuses with its reason
    assert [e.value.replace("\\", "") for e in at.error] == [REFUSED]

    page = AppTest.from_file(str(MAIN.parent / "views" / "approvals.py"), default_timeout=60)
    page.session_state[SESSION_KEY] = SignedIn(user="ana", roles=frozenset({Role.ANALYST}))
    page.run()

    assert [e.value.replace("\\", "") for e in page.error] == [REFUSED]
    assert not page.dataframe
