"""Components that own a piece of session state: each is a `render_...(..., key=...)` function, and
the state it keeps lives under `key` and nowhere else."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

import polars as pl
import streamlit as st

from app.text import plain
from pipelines.reads.monitoring import date_span, production_series, series_order


class Tone(StrEnum):
    SUCCESS = "success"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


@dataclass(frozen=True)
class Outcome:
    """What an action did, in one line, and how to show it."""

    tone: Tone
    message: str


def announce(outcome: Outcome, *, key: str) -> None:
    """Keep `outcome` for the next `render_outcome(key=key)`: it survives the rerun that refreshes the page."""
    st.session_state[key] = outcome


def render_outcome(*, key: str) -> Outcome | None:
    """Show, once, the outcome announced under `key` (user text shown as typed); returns it."""
    outcome = st.session_state.pop(key, None)
    if not isinstance(outcome, Outcome):
        return None
    show = {Tone.SUCCESS: st.success, Tone.INFO: st.info, Tone.WARNING: st.warning, Tone.ERROR: st.error}
    show[outcome.tone](plain(outcome.message))
    st.toast(plain(outcome.message))  # the inline message may be scrolled out of view
    return outcome


@dataclass(frozen=True)
class FormAction:
    """A submit button of a reason form; `refusal` says why it is disabled (None: enabled)."""

    label: str
    refusal: str | None = None
    primary: bool = False


@dataclass(frozen=True)
class Submitted:
    action: str  # the label of the button pressed
    reason: str


def render_reason_form(
    actions: Sequence[FormAction],
    *,
    key: str,
    reason_label: str = "Reason (required, kept in the audit trail)",
    placeholder: str = "",
) -> Submitted | None:
    """A reason box with one submit button per action; the box is emptied once submitted.

    A disabled button's refusal is shown under the form, so the user learns why without hovering;
    when no action is allowed the reason box is disabled too. Returns the press, or None.
    """
    allowed = any(action.refusal is None for action in actions)
    pressed: str | None = None
    with st.form(key, clear_on_submit=True):
        reason = st.text_area(
            reason_label, key=f"{key}.reason", placeholder=placeholder, disabled=not allowed, height=80
        )
        with st.container(horizontal=True):
            for action in actions:
                if st.form_submit_button(
                    action.label,
                    key=f"{key}.{action.label.lower().replace(' ', '_')}",
                    type="primary" if action.primary and action.refusal is None else "secondary",
                    disabled=action.refusal is not None,
                    help=action.refusal,
                ):
                    pressed = action.label
        for action in actions:
            if action.refusal is not None:
                st.caption(plain(f"{action.label} is disabled: {action.refusal}."))
    return None if pressed is None else Submitted(action=pressed, reason=reason or "")


@dataclass(frozen=True)
class BatchFilter:
    """Which batches a monitoring page draws: the chosen series (version · role) and days (UTC, both
    included; None: open)."""

    series: list[str]
    first: date | None
    last: date | None


def render_batch_filter(batches: pl.DataFrame, *, key: str) -> BatchFilter:
    """A choice of series, production's by default, and a date range over `batches` (rows with `series`,
    `role`, `model_version` and `batch_time`, as `pipelines.reads.monitoring` reads them)."""
    pick_series, pick_dates = st.columns([3, 2])
    chosen = pick_series.multiselect(
        "Versions",
        series_order(batches),
        default=production_series(batches),
        key=f"{key}.series",
        help="Each version in each role is its own series: the champion's batches are what production served, "
        "a challenger's were scored in shadow beside them.",
    )
    span = date_span(batches)
    if span is None:
        return BatchFilter(series=chosen, first=None, last=None)
    picked = pick_dates.date_input(
        "Batch dates (UTC)",
        value=(span.first, span.last),
        min_value=span.first,
        max_value=span.last,
        format="YYYY-MM-DD",
        key=f"{key}.dates",
        help="The days of the batches' data windows to show.",
    )
    days = [d for d in (picked if isinstance(picked, tuple | list) else (picked,)) if isinstance(d, date)]
    # while someone is picking a range it has one end: show up to the last batch meanwhile
    return BatchFilter(
        series=chosen,
        first=days[0] if days else span.first,
        last=days[1] if len(days) > 1 else span.last,
    )
