"""Cached reads for the views. Each takes primitive arguments only: `home`, the lakehouse path,
keys the cache, so two lakehouses never share an entry; results are plain data or polars frames."""

from __future__ import annotations

import polars as pl
import streamlit as st

from app import services
from pipelines import overview

TTL_SECONDS = 30


@st.cache_data(ttl=TTL_SECONDS, show_spinner="Reading the lakehouse…")
def model_summaries(home: str) -> list[overview.ModelSummary]:
    return overview.model_overview(services.get_context())


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def drift_history(home: str, model: str) -> pl.DataFrame:
    return overview.drift_history(services.get_context(), model)


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def drift_histories(home: str) -> pl.DataFrame:
    """The drift history of every registered model, with a `model` column first."""
    frames = [
        drift_history(home, summary.name).select(pl.lit(summary.name).alias("model"), pl.all())
        for summary in model_summaries(home)
    ]
    if not frames:
        return pl.DataFrame(schema={"model": pl.String, **overview.DRIFT_HISTORY_SCHEMA})
    return pl.concat(frames)
