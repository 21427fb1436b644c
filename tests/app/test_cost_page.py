from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app.auth import SESSION_KEY
from app.money import money
from governance.cost import CostRates, ManagedPricing
from governance.identity import SignedIn
from governance.roles import Role
from pipelines.reads.costs import model_costs, monthly_totals, monthly_usage
from tests.app.conftest import MAIN, chart_rows, metric, open_app
from tests.conftest import ANALYST, Seeded, context_for

PAGE = "views/cost.py"
MONTH = "2026-06"  # every job of the seeded lakehouse ran on its fixed clock's day


def expected_june(seeded: Seeded, rates: CostRates) -> dict[str, object]:
    usage = monthly_usage(context_for(seeded.home))
    return monthly_totals(model_costs(usage, rates), rates=rates, pricing=ManagedPricing()).row(-1, named=True)


def test_the_cost_page_prices_the_seeded_runs_with_the_stated_defaults(
    seeded: Seeded, serve_home: Callable[[Path], None]
) -> None:
    serve_home(seeded.home)
    june = expected_june(seeded, CostRates())

    at = open_app(ANALYST, Role.ANALYST, page=PAGE)

    assert not at.exception
    assert not at.error
    assert at.title[0].value == "Cost vs model count"
    assert metric(at, f"Models in production ({MONTH})") == "1"
    assert metric(at, f"Total cost ({MONTH})") == money(june["total"])
    assert metric(at, "Cost per production model") == money(june["total"])
    assert metric(at, "Managed platform, same month (assumed)") == money(june["managed"])
    assert "starter stage" in at.info[0].value
    assert "cron" in at.info[0].value
    assert len(at.table) == 1  # every stage, with what it calls for
    # every rate is an editable, labelled assumption with its default
    inputs = {n.key: n for n in at.number_input}
    assert inputs["cost.cpu_hour"].value == CostRates().cpu_hour
    assert inputs["cost.per_model_month"].value == ManagedPricing().per_model_month
    assert all("$" in n.label or "minutes" in n.label or "hours" in n.label for n in at.number_input)
    assert len(at.number_input) == 7
    assert len(at.get("vega_lite_chart")) == 2
    models = [r for r in chart_rows(at, 0) if "production_models" in r]
    assert [(r["label"], r["production_models"]) for r in models] == [(MONTH, 1)]
    per_model = at.dataframe[0].value
    assert list(per_model["model"]) == ["loan_default", "platform (shared)"]
    assert per_model.loc[per_model["model"] == "loan_default", "reviews"].item() == 2


@pytest.mark.parametrize("role", [Role.ANALYST, Role.AUDITOR, Role.ADMIN])
def test_the_rows_add_up_to_the_headline_and_measured_compute_is_not_rounded_away(
    seeded: Seeded, serve_home: Callable[[Path], None], role: Role
) -> None:
    serve_home(seeded.home)
    june = expected_june(seeded, CostRates())

    at = open_app("someone", role, page=PAGE)

    assert not at.exception
    lines = at.dataframe[0].value
    # the table shows the measured parts in cents and the rest in dollars; together they are the headline
    parts = lines["compute"] / 100 + lines["storage"] / 100 + lines["review"] + lines["upkeep"]
    assert parts.sum() == pytest.approx(june["total"])
    assert metric(at, f"Total cost ({MONTH})") == money(parts.sum())
    shared = lines[lines["model"] == "platform (shared)"].iloc[0]
    assert shared["upkeep"] == CostRates().upkeep_hours_month * CostRates().staff_hourly
    assert "platform (shared)" in set(lines["model"])
    assert 0 < june["compute"] < 0.01  # the seeded runs take seconds: a fraction of a cent
    compute = metric(at, f"Measured compute ({MONTH})")
    assert compute == money(june["compute"])
    assert compute not in ("$0.00", "$0.0000")
    assert metric(at, f"Measured storage ({MONTH})") == money(june["storage"])
    assert metric(at, f"Assumed people's time ({MONTH})") == money(june["review"] + june["upkeep"])
    assert list(at.selectbox(key="cost.month").options) == [MONTH]


def test_changing_a_rate_reprices_the_month(seeded: Seeded, serve_home: Callable[[Path], None]) -> None:
    serve_home(seeded.home)
    free_people = CostRates(staff_hourly=0.0)
    june = expected_june(seeded, free_people)
    at = open_app(ANALYST, Role.ANALYST, page=PAGE)
    before = metric(at, f"Total cost ({MONTH})")

    at.number_input(key="cost.staff_hourly").set_value(0.0).run()

    assert not at.exception
    after = metric(at, f"Total cost ({MONTH})")
    assert after == money(june["total"])
    assert after != before


@pytest.mark.parametrize("role", [Role.AUDITOR, Role.ADMIN])
def test_auditors_and_admins_may_read_the_cost(seeded: Seeded, serve_home: Callable[[Path], None], role: Role) -> None:
    serve_home(seeded.home)

    at = open_app("someone", role, page=PAGE)

    assert not at.exception
    assert not at.error
    assert metric(at, f"Models in production ({MONTH})") == "1"


@pytest.mark.parametrize("role", [Role.MAKER, Role.REVIEWER])
def test_makers_and_reviewers_are_refused(seeded: Seeded, serve_home: Callable[[Path], None], role: Role) -> None:
    serve_home(seeded.home)
    page = AppTest.from_file(str(MAIN.parent / "views" / "cost.py"), default_timeout=60)
    page.session_state[SESSION_KEY] = SignedIn(user="someone", roles=frozenset({role}))

    page.run()

    assert "You may not open Cost: it needs" in page.error[0].value.replace("\\", "")
    assert not page.metric
    assert not page.number_input


def test_a_lakehouse_without_models_costs_only_its_upkeep(empty_home: Path, serve_home: Callable[[Path], None]) -> None:
    serve_home(empty_home)

    at = open_app(ANALYST, Role.ANALYST, page=PAGE)

    assert not at.exception
    production = next(m for m in at.metric if m.label.startswith("Models in production"))
    assert production.value == "0"
    assert metric(at, "Cost per production model") == "–"
