from collections.abc import Sequence

import polars as pl
import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from app import charts, page, queries
from app.money import money
from app.text import plain
from governance.cost import COST_PART_BASIS, STAGES, CostBasis, CostRates, ManagedPricing, maturity_stage
from governance.errors import MlgovError
from governance.screens import Screen
from pipelines.reads.costs import model_costs, month_lines, monthly_totals

home = page.start(Screen.COST, title="Cost vs model count").home
with page.reading():
    usage = queries.cost_usage(home)

st.caption(
    "What running the models costs, month by month, against how many are in production. **Measured**: the "
    "CPU seconds and bytes every job run recorded in ops/runs, priced by the rates below. **Assumed**: "
    "people's time (reviews, upkeep) and the managed platform's list prices, which nothing here can measure. "
    "Every rate is an assumption you can change."
)
if usage.is_empty():
    st.info("No job has run in this lakehouse yet. Run `mlgov demo` to seed a demo.")
    st.stop()

own, managed = CostRates(), ManagedPricing()
# Every rate is an editable assumption: (field, label, step, format, why its default), in screen order.
Assumption = tuple[str, str, float, str, str]
MEASURED_PRICES: tuple[Assumption, ...] = (
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
)
ASSUMED_EFFORT: tuple[Assumption, ...] = (
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


with st.expander("Prices and assumptions (edit to reprice)", expanded=True):
    measured_column, assumed_column, managed_column = st.columns([2, 3, 2])
    measured_column.caption("Prices of measured usage")
    assumed_column.caption("Assumed people's time")
    managed_column.caption("Assumed managed-platform list prices")
    own_entered = assumption_inputs(own, MEASURED_PRICES, measured_column.columns(2))
    own_entered |= assumption_inputs(own, ASSUMED_EFFORT, assumed_column.columns(3))
    managed_entered = assumption_inputs(managed, MANAGED_PRICES, managed_column.columns(2))

try:
    rates = CostRates(**own_entered)
    pricing = ManagedPricing(**managed_entered)
except MlgovError as error:
    st.error(plain(str(error)))
    st.stop()

MEASURED_PARTS = [part for part, basis in COST_PART_BASIS.items() if basis is CostBasis.MEASURED]


def in_cents(columns: list[str]) -> pl.Expr:
    return pl.col(columns) * 100


costs = model_costs(usage, rates)
totals = monthly_totals(costs, rates=rates, pricing=pricing)
months = totals["month"].to_list()
picked = st.selectbox(
    "Month",
    list(reversed(months)),
    format_func=lambda day: f"{day:%Y-%m}",
    key="cost.month",
    help="From the first month any job ran to the last.",
)
shown = totals.row(months.index(picked), named=True)
stage = maturity_stage(shown["production_models"])
month = f"{shown['month']:%Y-%m}"
lines = month_lines(costs, month=shown["month"], rates=rates)
usage_of_month = costs.filter(pl.col("month") == shown["month"])

in_production, total, per_model, versus = st.columns(4)
in_production.metric(f"Models in production ({month})", shown["production_models"])
total.metric(f"Total cost ({month})", money(shown["total"]), help="Measured plus assumed: the rows of the table below.")
per_model.metric(
    "Cost per production model",
    money(shown["per_production_model"]) if shown["per_production_model"] is not None else "–",
    help="The month's total, the shared platform's line included, divided by the models in production.",
)
versus.metric(
    "Managed platform, same month (assumed)",
    money(shown["managed"]),
    delta=f"{'saves' if shown['saving'] >= 0 else 'costs'} {money(abs(shown['saving']))} here",
    delta_color="normal" if shown["saving"] >= 0 else "inverse",
    help="Assumed list prices plus the same review effort, against this platform's total including upkeep.",
)

compute, storage, people = st.columns(3)
cpu_seconds = float(usage_of_month["cpu_seconds"].sum())
bytes_stored = int(usage_of_month["bytes_stored"].sum())
compute.metric(
    f"Measured compute ({month})",
    money(shown["compute"]),
    help=f"{cpu_seconds:,.1f} CPU-seconds recorded by the month's job runs, at {money(rates.cpu_hour)} per CPU-hour.",
)
storage.metric(
    f"Measured storage ({month})",
    money(shown["storage"]),
    help=f"{bytes_stored / 1e6:,.2f} MB held at the month's end, at {money(rates.storage_gb_month)} per GB-month.",
)
people.metric(
    f"Assumed people's time ({month})",
    money(shown["review"] + shown["upkeep"]),
    help=f"Reviews {money(shown['review'])} plus upkeep {money(shown['upkeep'])}, from the stated hours and rate.",
)
st.caption(
    plain(
        f"Measured: {cpu_seconds:,.1f} CPU-seconds and {bytes_stored / 1e6:,.2f} MB cost "
        f"{money(shown['compute'] + shown['storage'])} this month; assumed people's time costs "
        f"{money(shown['review'] + shown['upkeep'])}."
    )
)

st.subheader(f"Where the cost goes ({month})")
# Measured parts in cents: a model's month of compute is a fraction of a cent, which $0.00 would hide.
st.dataframe(
    lines.with_columns(
        in_cents(MEASURED_PARTS), pl.col("total").map_elements(money, return_dtype=pl.String).alias("total_shown")
    ),
    hide_index=True,
    width="stretch",
    column_order=[
        "model",
        "total_shown",
        "compute",
        "storage",
        "review",
        "upkeep",
        "in_production",
        "cpu_seconds",
        "bytes_stored",
        "reviews",
    ],
    column_config={
        "model": st.column_config.TextColumn(
            "Model", help="platform (shared): runs of no one model (ingest, sign-in, users) and the upkeep"
        ),
        "total_shown": st.column_config.TextColumn("Total", help="Its parts, measured and assumed"),
        "compute": st.column_config.NumberColumn("Compute, measured (¢)", format="%.4f¢"),
        "storage": st.column_config.NumberColumn("Storage, measured (¢)", format="%.4f¢"),
        "review": st.column_config.NumberColumn("Review, assumed", format="$%.2f"),
        "upkeep": st.column_config.NumberColumn("Upkeep, assumed", format="$%.2f"),
        "in_production": st.column_config.CheckboxColumn("In production"),
        "cpu_seconds": st.column_config.NumberColumn("CPU-seconds", format="%.1f"),
        "bytes_stored": st.column_config.NumberColumn("Bytes stored", format="localized"),
        "reviews": st.column_config.NumberColumn("Reviews", help="Approve and reject decisions"),
    },
)
st.caption(
    plain(
        f"The rows add up to the month's total, {money(float(lines['total'].sum()))}. Shared costs stay on their own "
        "line rather than being spread over the models."
    )
)

st.subheader("Total cost against models in production")
st.altair_chart(charts.cost_vs_models_chart(totals), width="stretch")
st.caption(
    "Bars: the month's cost by part, measured or assumed (left axis). Line: models holding the champion alias "
    "during the month (right axis, from governance/aliases). Months run from the first job run to the last."
)

st.subheader("Platform maturity")
next_stage = next((s for s in STAGES if s.min_models > shown["production_models"]), None)
st.info(
    plain(
        f"{shown['production_models']} production models: the {stage.stage.value} stage "
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

st.subheader("Against a managed platform")
st.altair_chart(charts.platform_comparison_chart(totals), width="stretch")
st.caption(
    "This platform: compute + storage + review + upkeep. Managed platform: its per-model and per-prediction "
    "fees + the same review effort (compute and storage taken as included in its fees)."
)
st.dataframe(
    totals.with_columns(in_cents(MEASURED_PARTS)),
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
        "compute": st.column_config.NumberColumn("Compute, measured (¢)", format="%.4f¢"),
        "storage": st.column_config.NumberColumn("Storage, measured (¢)", format="%.4f¢"),
        "review": st.column_config.NumberColumn("Review, assumed", format="dollar"),
        "upkeep": st.column_config.NumberColumn("Upkeep, assumed", format="dollar"),
        "total": st.column_config.NumberColumn("This platform", format="dollar"),
        "per_production_model": st.column_config.NumberColumn("Per production model", format="dollar"),
        "managed": st.column_config.NumberColumn("Managed platform (assumed)", format="dollar"),
        "saving": st.column_config.NumberColumn("Saved here", format="dollar", help="Negative: costs more here"),
        "stage": st.column_config.TextColumn("Stage"),
    },
)
