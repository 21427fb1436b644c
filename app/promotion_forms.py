"""The forms that start a promotion from the app: a maker's request and an admin's break-glass. Each
calls the job the CLI calls; whether the user may is decided there (and in `governance`), not by
whether the form is shown."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import streamlit as st

from app import queries
from governance.promotion import ALIASES, MIN_BREAK_GLASS_JUSTIFICATION, PRODUCTION_ALIAS


@dataclass(frozen=True)
class PromotionForm:
    """What the user submitted: the version to move, the alias, and the reason they wrote."""

    model: str
    version: str
    alias: str
    reason: str


def _choose_version(home: str, models: Sequence[str], *, key: str) -> tuple[str | None, str | None]:
    """Model and version pickers (outside the form, so the versions follow the chosen model)."""
    left, right = st.columns(2)
    model = left.selectbox("Model", models, key=f"{key}.model")
    if model is None:
        return None, None
    detail = queries.model_detail(home, model)
    versions = [v.version for v in sorted(detail.versions, key=lambda v: int(v.version), reverse=True)]
    version = right.selectbox(
        "Version",
        versions,
        key=f"{key}.version.{model}",
        format_func=lambda v: f"{v} (champion)" if v == detail.champion else v,
    )
    return model, version


def render_request_form(home: str, models: Sequence[str], *, key: str) -> PromotionForm | None:
    """A maker's request: model, version, alias (champion serves, challenger is scored in shadow) and reason."""
    model, version = _choose_version(home, models, key=key)
    with st.form(key, clear_on_submit=True):
        alias = st.radio(
            "Alias",
            ALIASES,
            key=f"{key}.alias",
            horizontal=True,
            captions=["serves production", "scored in shadow beside the champion"],
        )
        reason = st.text_area(
            "Reason (required, kept in the audit trail)",
            key=f"{key}.reason",
            placeholder="What changed, and why this version should take the alias",
            height=80,
        )
        pressed = st.form_submit_button("Request promotion", key=f"{key}.submit", type="primary")
    if not pressed or model is None or version is None:
        return None
    return PromotionForm(model=model, version=version, alias=alias or PRODUCTION_ALIAS, reason=reason or "")


def render_break_glass_form(home: str, models: Sequence[str], *, key: str) -> PromotionForm | None:
    """An admin's break-glass: the version becomes champion now, with a written justification."""
    st.warning(
        "Break-glass moves the champion alias now, without approvals. It is flagged in the audit trail "
        "and stays open until reviewers approve it after the fact."
    )
    model, version = _choose_version(home, models, key=key)
    with st.form(key, clear_on_submit=True):
        reason = st.text_area(
            f"Justification (at least {MIN_BREAK_GLASS_JUSTIFICATION} characters, kept in the audit trail)",
            key=f"{key}.reason",
            placeholder="The incident, why it cannot wait for review, and who will review it",
            height=80,
        )
        pressed = st.form_submit_button("Force promotion", key=f"{key}.submit", type="primary")
    if not pressed or model is None or version is None:
        return None
    return PromotionForm(model=model, version=version, alias=PRODUCTION_ALIAS, reason=reason or "")
