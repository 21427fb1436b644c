"""The Approvals page as each role works there: a maker requests and withdraws, a reviewer sees what
waits for them, an admin breaks glass. Every action goes through the job the CLI runs."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from governance.roles import Role
from pipelines.reads.promotions import show_request
from tests.app.conftest import captions, metric, open_app
from tests.conftest import ADMIN, MAKER, REVIEWER_A, REVIEWER_B, context_for
from tests.review_setup import Pending

PAGE = "views/approvals.py"
JUSTIFICATION = "scoring outage: v1 crashes on null incomes, review tomorrow"


def subheaders(at: AppTest) -> list[str]:
    return [s.value for s in at.subheader]


def unescaped(text: str) -> str:
    return text.replace("\\", "")


def request_from_the_page(at: AppTest, version: str, alias: str, reason: str) -> AppTest:
    at.selectbox(key="approvals.new.model").select("loan_default").run()
    at.selectbox(key="approvals.new.version.loan_default").select(version)
    at.radio(key="approvals.new.alias").set_value(alias)
    at.text_area(key="approvals.new.reason").input(reason)
    return at.button(key="approvals.new.submit").click().run()


def test_a_maker_requests_a_promotion_from_the_page(pending: Pending) -> None:
    at = open_app(MAKER, Role.MAKER, page=PAGE)
    assert "My requests · 1 open" in subheaders(at)
    assert not any(s.startswith("Waiting for me") for s in subheaders(at))  # a maker reviews nothing

    at = request_from_the_page(at, pending.version, "challenger", "shadow it beside v1 for a month")

    assert not at.exception
    assert not at.error
    outcome = next(s.value for s in at.success)
    assert unescaped(outcome).startswith(f"Requested: loan_default version {pending.version} as challenger.")
    assert "My requests · 2 open" in subheaders(at)
    rid = at.selectbox(key="approvals.request").value  # the new request is the one shown
    assert rid != pending.request_id
    request = show_request(context_for(pending.home), request_id=rid)["request"]
    assert (request["requester"], request["alias"], request["status"]) == (MAKER, "challenger", "pending")
    assert request["reason"] == "shadow it beside v1 for a month"


def test_a_refused_request_is_one_line_in_the_apps_words(pending: Pending) -> None:
    at = open_app(MAKER, Role.MAKER, page=PAGE)

    at = request_from_the_page(at, pending.version, "champion", "again")  # it already has a pending request

    assert [unescaped(e.value) for e in at.error] == [
        f"loan_default version {pending.version} already has a pending champion request {pending.request_id}"
    ]
    at = request_from_the_page(at, pending.version, "challenger", "   ")
    assert len(at.error) == 1
    assert "a reason is required" in at.error[0].value
    assert "--reason" not in unescaped(at.error[0].value)


def test_a_maker_withdraws_their_own_pending_request(pending: Pending) -> None:
    at = open_app(MAKER, Role.MAKER, page=PAGE)
    form = f"approvals.decide.{pending.request_id}"
    assert at.selectbox(key="approvals.request").value == pending.request_id

    at.text_area(key=f"{form}.reason").input("trained on the wrong month")
    at = at.button(key=f"{form}.withdraw").click().run()

    assert not at.exception
    assert not at.error
    assert any(f"Withdrew request {pending.request_id}" in unescaped(i.value) for i in at.info)
    document = show_request(context_for(pending.home), request_id=pending.request_id)
    assert document["request"]["status"] == "withdrawn"
    assert document["withdrawal"]["actor"] == MAKER
    assert metric(at, "Status") == "withdrawn"
    assert "This request is withdrawn: there is nothing left to decide." in unescaped(captions(at))
    assert any(t.value.startswith(f"Withdrawn by {MAKER}") for t in at.text)
    assert "My requests · 0 open" in subheaders(at)


def test_a_reviewer_sees_what_waits_for_them_until_they_approve(pending: Pending) -> None:
    at = open_app(REVIEWER_A, Role.REVIEWER, page=PAGE)

    assert "Waiting for me · 1" in subheaders(at)
    assert at.dataframe[0].value["request_id"].tolist() == [pending.request_id]
    assert "alias" in at.dataframe[0].value.columns
    assert not any(s.startswith("My requests") for s in subheaders(at))
    assert not [b for b in at.button if str(b.key).startswith("approvals.new")]  # reviewers request nothing

    form = f"approvals.decide.{pending.request_id}"
    at.text_area(key=f"{form}.reason").input("evidence checked")
    at = at.button(key=f"{form}.approve").click().run()

    assert not at.error
    assert "Waiting for me · 0" in subheaders(at)
    assert "No open request is waiting for your review." in captions(at)
    # and the other reviewer still has it waiting
    other = open_app(REVIEWER_B, Role.REVIEWER, page=PAGE)
    assert "Waiting for me · 1" in subheaders(other)


def break_glass(at: AppTest, version: str, justification: str) -> AppTest:
    at.selectbox(key="approvals.force.model").select("loan_default").run()
    at.selectbox(key="approvals.force.version.loan_default").select(version)
    at.text_area(key="approvals.force.reason").input(justification)
    return at.button(key="approvals.force.submit").click().run()


def test_an_admin_breaks_glass_with_a_written_justification(pending: Pending) -> None:
    at = open_app(ADMIN, Role.ADMIN, page=PAGE)

    at = break_glass(at, pending.version, "outage")  # too short to justify anything
    assert len(at.error) == 1
    assert "at least 20 characters" in at.error[0].value
    assert context_for(pending.home).registry.alias_version("loan_default", "champion") == "1"

    at = break_glass(at, pending.version, JUSTIFICATION)

    assert not at.exception
    assert not at.error
    assert context_for(pending.home).registry.alias_version("loan_default", "champion") == pending.version
    assert any("Break-glass" in w.value and "after the fact" in w.value for w in at.warning)
    rid = at.selectbox(key="approvals.request").value
    document = show_request(context_for(pending.home), request_id=rid)
    assert document["request"]["break_glass"] is True
    assert document["request"]["reason"] == JUSTIFICATION


def test_only_an_admin_may_break_glass_whatever_the_page_shows(pending: Pending) -> None:
    reviewer = open_app(REVIEWER_A, Role.REVIEWER, page=PAGE)
    assert not [b for b in reviewer.button if str(b.key).startswith("approvals.force")]

    # a session that claims admin, for a user the access table holds as a maker: the job refuses
    at = open_app(MAKER, Role.ADMIN, page=PAGE)
    at = break_glass(at, pending.version, JUSTIFICATION)

    assert [unescaped(e.value) for e in at.error] == [f"{MAKER} (maker) may not force promotion: needs role admin"]
    assert context_for(pending.home).registry.alias_version("loan_default", "champion") == "1"
