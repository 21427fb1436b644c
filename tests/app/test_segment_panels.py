from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest

from app.text import plain
from governance.roles import Role
from lakehouse.schemas import FAIRNESS
from tests.app.conftest import captions, chart_rows, open_app
from tests.conftest import ADMIN, ANALYST, MAKER, REVIEWER_A, Seeded, context_for, train_loan_model


@pytest.fixture
def sliced(seeded: Seeded) -> Seeded:
    """The seeded lakehouse with loan_default sliced by home ownership and income quartiles, judged for
    fairness across home ownership, and monitored."""
    from pipelines.jobs.models import set_model_policy
    from pipelines.jobs.monitor import monitor

    ctx = context_for(seeded.home)
    set_model_policy(
        ctx,
        model="loan_default",
        actor=ADMIN,
        segments=["home_ownership", "income:4"],
        protected=["home_ownership"],
        reason="lending rules",
    )
    monitor(ctx, model="loan_default")
    return seeded


def _charts_with(at: object, field: str) -> list[list[dict[str, object]]]:
    charts = []
    for index in range(len(at.get("vega_lite_chart"))):  # type: ignore[attr-defined]
        rows = chart_rows(at, index)  # type: ignore[arg-type]
        if rows and field in rows[0]:
            charts.append(rows)
    return charts


def test_the_drift_page_shows_each_segments_share_and_drift(sliced: Seeded, serve_home: Callable[[Path], None]) -> None:
    serve_home(sliced.home)
    at = open_app(ANALYST, Role.ANALYST, page="views/drift.py")

    assert not at.exception
    assert not at.error
    assert "Segments" in [h.value for h in at.subheader]
    (shares,) = _charts_with(at, "when")
    now = {r["segment"]: r["value"] for r in shares if r["when"] == "now"}
    assert {s for s in now if str(s).startswith("home_ownership=")} == {
        "home_ownership=MORTGAGE",
        "home_ownership=OWN",
        "home_ownership=RENT",
    }
    assert sum(v for s, v in now.items() if str(s).startswith("income=")) == pytest.approx(1.0)  # type: ignore[misc]
    tables = [d.value for d in at.dataframe]
    assert any({"segment", "share", "training_share", "drift_share"} <= set(t.columns) for t in tables)
    # the drifted batch's findings: segments whose share moved, with their interval and Holm p-value
    assert {"segment", "low", "high", "adjusted_p"} <= set(tables[-1].columns)
    assert "searched over two and three columns" in "\n".join(m.value for m in at.markdown)


def test_the_performance_page_shows_segment_errors_and_fairness_verdicts(
    sliced: Seeded, serve_home: Callable[[Path], None]
) -> None:
    serve_home(sliced.home)
    stored = context_for(sliced.home).store.read(FAIRNESS)
    at = open_app(ANALYST, Role.ANALYST, page="views/performance.py")

    assert not at.exception
    assert not at.error
    assert {"Segments", "Fairness"} <= {h.value for h in at.subheader}
    at.selectbox(key="performance.segments.loan_default").select(sliced.batch_ids[0]).run()
    assert not at.exception
    (intervals,) = _charts_with(at, "low")
    assert {r["segment"] for r in intervals} >= {"home_ownership=RENT", "home_ownership=OWN"}
    assert all(r["low"] <= r["value"] <= r["high"] for r in intervals)  # type: ignore[operator]
    (verdicts,) = _charts_with(at, "verdict")
    expected = stored.filter(pl.col("batch_id") == sliced.batch_ids[0])
    assert len(verdicts) == expected.height
    assert {r["metric"] for r in verdicts} >= {"disparate_impact_ratio", "statistical_parity_difference"}
    fairness = at.dataframe[-1].value
    assert set(fairness["reference_group"]) == {"MORTGAGE"}  # the largest group
    assert "not judged" in set(fairness["verdict"]) or "passes" in set(fairness["verdict"])


def test_without_chosen_segments_the_pages_say_how_to_choose_them(
    seeded: Seeded, serve_home: Callable[[Path], None]
) -> None:
    serve_home(seeded.home)
    at = open_app(ANALYST, Role.ANALYST, page="views/performance.py")
    assert not at.exception
    assert plain("`mlgov model set loan_default --protected COLUMN[=REFERENCE]`") in captions(at)
    at = open_app(ANALYST, Role.ANALYST, page="views/drift.py")
    assert not at.exception
    assert plain("`mlgov model set loan_default --segment COLUMN[:BUCKETS]`") in captions(at)


@pytest.mark.slow
def test_a_reviewer_sees_the_candidates_fairness_in_its_evidence(
    seeded: Seeded, serve_home: Callable[[Path], None]
) -> None:
    from pipelines.jobs.models import set_model_policy
    from pipelines.jobs.promote import request_promotion

    ctx = context_for(seeded.home)
    set_model_policy(ctx, model="loan_default", actor=ADMIN, protected=["home_ownership=RENT"], reason="lending")
    trained = train_loan_model(ctx, seeded.dataset)
    request_promotion(ctx, model="loan_default", version=trained.version, reason="retrained", actor=MAKER)
    serve_home(seeded.home)

    at = open_app(REVIEWER_A, Role.REVIEWER, page="views/approvals.py")

    assert not at.exception
    assert not at.error
    assert f"**Fairness** · across {plain('home_ownership')}, on the holdout" in [m.value for m in at.markdown]
    table = next(d.value for d in at.dataframe if "verdict" in d.value.columns)
    assert set(table["group"]) == {"MORTGAGE", "OWN"}  # against the declared reference group, RENT
    assert len(table) == 10
    assert table["verdict"].isin(["passes", "fails", "not judged"]).all()
