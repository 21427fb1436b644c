from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from governance.roles import Role
from pipelines.jobs.promote import approve, force_promotion
from tests.app.conftest import metric, open_app
from tests.conftest import (
    ADMIN,
    ANALYST,
    AUDITOR,
    MAKER,
    REVIEWER_A,
    REVIEWER_B,
    FixedClock,
    Seeded,
    context_for,
)
from tests.review_setup import Pending

PAGE = "views/models.py"
SEEDED_USER = {
    Role.ADMIN: ADMIN,
    Role.MAKER: MAKER,
    Role.REVIEWER: REVIEWER_A,
    Role.AUDITOR: AUDITOR,
    Role.ANALYST: ANALYST,
}


def chart_specs(at: AppTest) -> list[str]:
    return [json.dumps(json.loads(chart.proto.spec)) for chart in at.get("vega_lite_chart")]


def rollback_button(at: AppTest):
    return at.button(key="models.rollback.loan_default.roll_back")


def promoted(pending: Pending) -> Pending:
    """Version 2 approved by both reviewers, so the alias moved and version 1 is a rollback target."""
    ctx = context_for(pending.home, clock=FixedClock(datetime.now(UTC)))
    approve(ctx, request_id=pending.request_id, reason="fine", actor=REVIEWER_A)
    approve(ctx, request_id=pending.request_id, reason="agree", actor=REVIEWER_B)
    return pending


@pytest.mark.parametrize("role", list(Role))
def test_every_role_browses_the_registry(seeded: Seeded, serve_home: Callable[[Path], None], role: Role) -> None:
    serve_home(seeded.home)

    at = open_app(SEEDED_USER[role], role, page=PAGE)

    assert not at.exception
    assert not at.error
    assert metric(at, "Champion") == "v1"
    assert metric(at, "Challenger") == "none"
    assert metric(at, "Risk tier") == "medium"
    assert metric(at, "Versions") == "1"
    versions = at.dataframe[0].value
    row = versions.iloc[0]
    assert (row["version"], row["aliases"], row["trainer"], row["approval_status"]) == (
        "1",
        "champion",
        "maya",
        "promoted",
    )
    assert 0.5 < row["roc_auc"] <= 1.0
    assert len(at.get("vega_lite_chart")) == 1  # the champion history
    history = at.dataframe[-1].value
    assert history[["version", "kind", "actor"]].values.tolist() == [["1", "promoted", REVIEWER_B]]
    # the rollback control is there for everyone, and disabled: version 1 is the only champion there has been
    assert rollback_button(at).disabled


def test_others_see_why_they_may_not_roll_back(seeded: Seeded, serve_home: Callable[[Path], None]) -> None:
    serve_home(seeded.home)

    at = open_app("ana", Role.ANALYST, page=PAGE)

    captions = "\n".join(c.value for c in at.caption).replace("\\", "")
    assert "Roll back is disabled: ana (analyst) may not rollback: needs role admin, reviewer." in captions


def test_a_reviewer_rolls_the_champion_back_with_a_reason(pending: Pending) -> None:
    promoted(pending)
    at = open_app(REVIEWER_A, Role.REVIEWER, page=PAGE)
    assert metric(at, "Champion") == f"v{pending.version}"

    at.text_area(key="models.rollback.loan_default.reason").input("v2 misbehaves on new applicants")
    at = rollback_button(at).click().run()

    assert not at.exception
    assert not at.error
    assert context_for(pending.home).registry.alias_version("loan_default", "champion") == "1"
    assert any("champion is version 1 again" in s.value for s in at.success)
    assert metric(at, "Champion") == "v1"
    history = at.dataframe[-1].value
    assert history["kind"].tolist() == ["promoted", "promoted", "rolled_back"]
    assert history["rolled_back"].tolist() == [False, False, True]
    assert history["reason"].tolist()[-1] == "v2 misbehaves on new applicants"
    assert any('"rollback"' in spec for spec in chart_specs(at))  # marked on the timeline


def test_a_rollback_that_can_only_fail_is_disabled_with_its_reason(
    seeded: Seeded, serve_home: Callable[[Path], None]
) -> None:
    serve_home(seeded.home)
    at = open_app(REVIEWER_A, Role.REVIEWER, page=PAGE)

    assert rollback_button(at).disabled  # version 1 is the only champion there has been
    captions = "\n".join(c.value for c in at.caption).replace("\\", "")
    assert "Roll back is disabled: loan_default has no earlier approved champion version to roll back to." in captions
    assert context_for(seeded.home).registry.alias_version("loan_default", "champion") == "1"


def test_a_break_glass_promotion_is_flagged(pending: Pending) -> None:
    force_promotion(
        context_for(pending.home, clock=FixedClock(datetime.now(UTC))),
        model="loan_default",
        version=pending.version,
        reason="outage: the champion fails on every request",
        actor=ADMIN,
    )

    at = open_app(ADMIN, Role.ADMIN, page=PAGE)

    assert not at.exception
    history = at.dataframe[-1].value
    assert history["break_glass"].tolist() == [False, True]
    assert any("BREAK-GLASS" in spec for spec in chart_specs(at))


def test_each_version_links_to_its_run_when_the_mlflow_ui_is_configured(
    seeded: Seeded, serve_home: Callable[[Path], None], monkeypatch: pytest.MonkeyPatch
) -> None:
    serve_home(seeded.home)
    monkeypatch.setenv("MLGOV_MLFLOW_UI_URL", "http://mlflow.example:5000/")
    info = context_for(seeded.home).registry.version("loan_default", "1")

    at = open_app("ana", Role.ANALYST, page=PAGE)

    assert not at.exception
    link = at.dataframe[0].value.iloc[0]["run_link"]
    assert link.startswith("http://mlflow.example:5000/#/experiments/")
    assert link.endswith(f"/runs/{info.run_id}")
    experiment = link.removeprefix("http://mlflow.example:5000/#/experiments/").split("/")[0]
    assert experiment.isdigit()
