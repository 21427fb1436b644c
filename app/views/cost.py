from collections.abc import Sequence

import polars as pl
import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from app import charts, page, queries
from app.text import plain
from governance.cost import STAGES, CostRates, ManagedPricing, maturity_stage
from governance.errors import MlgovError
from governance.screens import Screen
from pipelines.reads.costs import model_costs, monthly_totals

home = page.start(Screen.COST, title="Cost vs model count").home
with page.reading():
    usage = queries.cost_usage(home)

st.caption(
    "What running the models costs, month by month, against how many are in production. Usage is measured "
    "from the run records; every price is an assumption below that you can change."
)
if usage.is_empty():
    st.info("No job has run in this lakehouse yet. Run `mlgov demo` to seed a demo.")
    st.stop()

own, managed = CostRates(), ManagedPricing()
# Every rate is an editable assumption: (field, label, step, format, why its default), in screen order.
Assumption = tuple[str, str, float, str, str]
OWN_RATES: tuple[Assumption, ...] = (
    (
        "cpu_hour",
        "Compute, $ per CPU-hour",
        0.01,
        "%.3f",
        "a cloud vCPU-hour. Applied to the CPU seconds of every job run.",
    ),
    (
        "storage_gb_month",
        "Storage, $ per GB-month",
        0.005,
        "%.3f",
        "object storage, standard tier. GB = 10⁹ bytes held at the month's end.",
    ),
    ("minutes_per_review", "Review, minutes per decision", 5.0, "%.0f", "a reviewer's time per approve or reject."),
    ("staff_hourly", "People, $ per hour", 5.0, "%.0f", "loaded hourly cost of a reviewer or engineer."),
    (
        "upkeep_hours_month",
        "Upkeep, hours per month",
        1.0,
        "%.0f",
        "upgrades, backups and on-call for this platform itself.",
    ),
)
MANAGED_PRICES: tuple[Assumption, ...] = (
    (
        "per_model_month",
        "Managed, $ per model-month",
        25.0,
        "%.0f",
        "an assumed managed-platform list price per production model per month (endpoint, registry, monitoring).",
    ),
    (
        "per_1000_predictions",
        "Managed, $ per 1,000 predictions",
        0.01,
        "%.3f",
        "an assumed managed-platform price per 1,000 predictions.",
    ),
)


def assumption_inputs(
    defaults: CostRates | ManagedPricing, fields: tuple[Assumption, ...], columns: Sequence[DeltaGenerator]
) -> dict[str, float]:
    """One number input per field, starting from its default; the values as entered, by field."""
    entered = {}
    for column, (field, label, step, shown_as, why) in zip(columns, fields, strict=True):
        default = getattr(defaults, field)
        entered[field] = column.number_input(
            label,
            min_value=0.0,
            value=default,
            step=step,
            format=shown_as,
            key=f"cost.{field}",
            help=f"Default {shown_as % default}: {why}",
        )
    return entered


with st.expander("Assumptions: prices and effort (edit to reprice)", expanded=True):
    st.caption("This platform")
    first_row, second_row = st.columns(4), st.columns(4)
    own_entered = assumption_inputs(own, OWN_RATES, [*first_row, *second_row[:1]])
    managed_entered = assumption_inputs(managed, MANAGED_PRICES, second_row[1:3])

try:
    rates = CostRates(**own_entered)
    pricing = ManagedPricing(**managed_entered)
except MlgovError as error:
    st.error(plain(str(error)))
    st.stop()

costs = model_costs(usage, rates)
totals = monthly_totals(costs, rates=rates, pricing=pricing)
latest = totals.row(-1, named=True)
stage = maturity_stage(latest["production_models"])
month = f"{latest['month']:%Y-%m}"

in_production, total, per_model, versus = st.columns(4)
in_production.metric(f"Models in production ({month})", latest["production_models"])
total.metric(f"Total cost ({month})", f"${latest['total']:,.2f}")
per_model.metric(
    "Cost per production model",
    f"${latest['per_production_model']:,.2f}" if latest["per_production_model"] is not None else "–",
)
versus.metric(
    "Managed platform, same month",
    f"${latest['managed']:,.2f}",
    delta=f"{'saves' if latest['saving'] >= 0 else 'costs'} ${abs(latest['saving']):,.2f} here",
    delta_color="normal" if latest["saving"] >= 0 else "inverse",
    help="Managed fees plus the same review effort, against this platform's total including upkeep.",
)

st.subheader("Total cost against models in production")
st.altair_chart(charts.cost_vs_models_chart(totals), width="stretch")
st.caption(
    "Bars: the month's cost by part (left axis). Line: models holding the champion alias during the month "
    "(right axis, from governance/aliases). The latest month is still running."
)

st.subheader("Platform maturity")
next_stage = next((s for s in STAGES if s.min_models > latest["production_models"]), None)
st.info(
    plain(
        f"{latest['production_models']} production models: the {stage.stage.value} stage "
        f"({stage.range_text} models). It calls for {'; '.join(stage.calls_for)}."
        + (
            f" Next: the {next_stage.stage.value} stage from {next_stage.min_models} models."
            if next_stage is not None
            else ""
        )
    )
)
st.table(
    pl.DataFrame(
        {
            "Stage": [s.stage.value for s in STAGES],
            "Production models": [s.range_text for s in STAGES],
            "What it calls for": ["; ".join(s.calls_for) for s in STAGES],
            "This platform": ["◀ now" if s.stage is stage.stage else "" for s in STAGES],
        }
    ),
    hide_index=True,
)

st.subheader("Cost per model per month")
per_model_month_table = costs.with_columns(
    cpu_hours=pl.col("cpu_seconds") / 3600, gb_stored=pl.col("bytes_stored") / 1e9
).sort("month", "total", descending=[True, True])
st.dataframe(
    per_model_month_table,
    hide_index=True,
    width="stretch",
    column_order=[
        "month",
        "model",
        "in_production",
        "runs",
        "cpu_hours",
        "gb_stored",
        "reviews",
        "predictions",
        "compute",
        "storage",
        "review",
        "total",
    ],
    column_config={
        "month": st.column_config.DateColumn("Month", format="YYYY-MM"),
        "model": st.column_config.TextColumn("Model", help="(platform): runs of no one model: ingest, sign-in, users"),
        "in_production": st.column_config.CheckboxColumn("In production"),
        "runs": st.column_config.NumberColumn("Job runs"),
        "cpu_hours": st.column_config.NumberColumn("CPU-hours", format="%.4f"),
        "gb_stored": st.column_config.NumberColumn("GB stored", format="%.4f", help="Written by its runs to date"),
        "reviews": st.column_config.NumberColumn("Reviews", help="Approve and reject decisions"),
        "predictions": st.column_config.NumberColumn("Predictions", format="localized"),
        "compute": st.column_config.NumberColumn("Compute", format="$%.4f"),
        "storage": st.column_config.NumberColumn("Storage", format="$%.4f"),
        "review": st.column_config.NumberColumn("Review", format="dollar"),
        "total": st.column_config.NumberColumn("Total", format="$%.2f"),
    },
)

st.subheader("Against a managed platform")
st.altair_chart(charts.platform_comparison_chart(totals), width="stretch")
st.caption(
    "This platform: compute + storage + review + upkeep. Managed platform: its per-model and per-prediction "
    "fees + the same review effort (compute and storage taken as included in its fees)."
)
st.dataframe(
    totals,
    hide_index=True,
    width="stretch",
    column_order=[
        "month",
        "production_models",
        "predictions",
        "compute",
        "storage",
        "review",
        "upkeep",
        "total",
        "per_production_model",
        "managed",
        "saving",
        "stage",
    ],
    column_config={
        "month": st.column_config.DateColumn("Month", format="YYYY-MM"),
        "production_models": st.column_config.NumberColumn("Production models"),
        "predictions": st.column_config.NumberColumn("Predictions", format="localized"),
        "compute": st.column_config.NumberColumn("Compute", format="$%.4f"),
        "storage": st.column_config.NumberColumn("Storage", format="$%.4f"),
        "review": st.column_config.NumberColumn("Review", format="dollar"),
        "upkeep": st.column_config.NumberColumn("Upkeep", format="dollar"),
        "total": st.column_config.NumberColumn("This platform", format="dollar"),
        "per_production_model": st.column_config.NumberColumn("Per production model", format="dollar"),
        "managed": st.column_config.NumberColumn("Managed platform", format="dollar"),
        "saving": st.column_config.NumberColumn("Saved here", format="dollar", help="Negative: costs more here"),
        "stage": st.column_config.TextColumn("Stage"),
    },
)
