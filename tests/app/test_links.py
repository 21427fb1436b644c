"""Links by query parameter open the object they name, for the roles that may open its page."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app.auth import SESSION_KEY
from governance.identity import SignedIn
from governance.roles import Role
from tests.app.conftest import MAIN
from tests.conftest import Seeded, context_for


def follow_link(user: str, role: Role, **params: str) -> AppTest:
    """The app opened as `user` holding `role` from a link carrying `params`."""
    at = AppTest.from_file(str(MAIN), default_timeout=90)
    at.session_state[SESSION_KEY] = SignedIn(user=user, roles=frozenset({role}))
    for key, value in params.items():
        at.query_params[key] = value
    at.run()
    return at


def texts(at: AppTest) -> list[str]:
    return [t.value for t in at.text]


@pytest.fixture
def served(seeded: Seeded, serve_home: Callable[[Path], None]) -> Seeded:
    serve_home(seeded.home)
    return seeded


@pytest.mark.parametrize("role", [Role.AUDITOR, Role.ADMIN])
def test_a_link_to_an_audit_record_shows_the_whole_record(served: Seeded, role: Role) -> None:
    record = context_for(served.home).audit.frame().row(2, named=True)

    at = follow_link("aiko", role, page="audit", record=str(record["seq"]))

    assert not at.exception
    assert not at.error
    assert at.number_input(key="audit.record").value == record["seq"]
    assert f"Hash: {record['hash']}" in texts(at)
    assert f"Reason: {record['reason'] or '(none given)'}" in texts(at)
    assert at.query_params["record"] == str(record["seq"])  # the address bar keeps linking to it


@pytest.mark.parametrize("role", [Role.ANALYST, Role.MAKER, Role.REVIEWER])
def test_a_link_to_a_page_the_role_may_not_open_is_refused_with_its_reason(served: Seeded, role: Role) -> None:
    at = follow_link("someone", role, page="audit", record="1")

    assert not at.exception
    assert [e.value.replace("\\", "") for e in at.error] == [
        f"You may not open Audit: it needs one of the roles admin, auditor, and you hold {role.value}."
    ]
    assert not any(t.value.startswith("Hash:") for t in at.text)  # nothing of the record


@pytest.mark.parametrize("role", [Role.REVIEWER, Role.AUDITOR, Role.MAKER])
def test_a_link_to_a_decided_request_opens_it(served: Seeded, role: Role) -> None:
    at = follow_link("someone", role, page="approvals", request=served.request_id)

    assert not at.exception
    assert at.selectbox(key="approvals.request").value == served.request_id
    assert "loan\\_default version 1 → champion" in [h.value for h in at.subheader]


def test_a_link_to_a_model_version_opens_its_tags(served: Seeded) -> None:
    at = follow_link("ana", Role.ANALYST, page="models", model="loan_default", version="1")

    assert not at.exception
    assert at.selectbox(key="models.model").value == "loan_default"
    assert at.selectbox(key="models.version").value == "1"


def test_a_link_to_a_batch_opens_its_drift(served: Seeded) -> None:
    batch = served.batch_ids[0]
    at = follow_link("ana", Role.ANALYST, page="drift", model="loan_default", batch=batch)

    assert not at.exception
    assert at.selectbox(key="drift.batch.loan_default").value == batch


@pytest.mark.parametrize("role", [Role.AUDITOR, Role.ADMIN])
def test_a_link_to_a_lineage_node_traces_it(served: Seeded, role: Role) -> None:
    batch = served.batch_ids[-1]
    at = follow_link("aiko", role, page="lineage", batch=batch)

    assert not at.exception
    assert at.segmented_control(key="lineage.start").value == "batch"
    assert at.selectbox(key="lineage.batch").value == batch


def test_a_link_naming_nothing_here_says_so(served: Seeded) -> None:
    at = follow_link("rita", Role.REVIEWER, page="approvals", request="no-such-request")

    assert not at.exception
    assert [w.value.replace("\\", "") for w in at.warning] == [
        "The link names promotion request no-such-request, which is not here."
    ]

    at = follow_link("rita", Role.REVIEWER, page="nowhere")
    assert next(e.value.replace("\\", "") for e in at.error).startswith("The link names no page called 'nowhere'")
