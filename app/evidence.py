"""The evidence of a promotion request, laid out side by side for a reviewer.

`evidence` is the payload `pipelines.reads.promotions.show_request` returns under "evidence"; every table is
built by `pipelines.reads.reviews`, and text that people or data supplied is shown as text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import streamlit as st

from app import charts
from app.text import plain
from pipelines.reads import reviews, segments
from pipelines.reads.task_metrics import MetricScale, task_metrics


def render_evidence(evidence: Mapping[str, Any], *, version: str, gates: Sequence[Mapping[str, Any]]) -> None:
    """Metrics against the champion and recent drift; below them data quality and the model card."""
    left, right = st.columns(2, gap="medium")
    with left.container(border=True):
        _metrics(evidence, version=version, gates=gates)
    with right.container(border=True):
        _drift(evidence.get("drift"))
    left, right = st.columns(2, gap="medium")
    with left.container(border=True):
        _quality(evidence["quality"])
    with right.container(border=True):
        _model_card(evidence["model_card"])
    for attribute in evidence.get("fairness") or []:  # evidence before fairness has none
        with st.container(border=True):
            _fairness(attribute)


def _metrics(evidence: Mapping[str, Any], *, version: str, gates: Sequence[Mapping[str, Any]]) -> None:
    st.markdown("**Candidate vs champion** · on the same holdout")
    champion = evidence.get("champion")
    if champion is None:
        st.caption("No champion yet: nothing to compare against.")
    else:
        st.caption(plain(f"Candidate version {version} vs champion version {champion['version']}"))
        if "note" in champion:
            st.caption(plain(champion["note"]))
    comparison = reviews.metrics_comparison(evidence, gates=gates)
    shown = task_metrics(reviews.evidence_task(evidence))
    lead = shown.headline_display
    st.altair_chart(
        charts.metrics_comparison_chart(
            comparison,
            metrics=shown.comparable(comparison["metric"]),
            unit_interval=lead.scale is MetricScale.SHARE,
        ),
        width="stretch",
    )
    st.dataframe(
        comparison,
        hide_index=True,
        width="stretch",
        column_order=["label", "candidate", "champion", "difference", "change", "gate"],  # directions: caption
        column_config={
            "label": st.column_config.TextColumn("Metric", width=90),
            "candidate": st.column_config.NumberColumn("Candidate", format="%.4f", width=68),
            "champion": st.column_config.NumberColumn("Champion", format="%.4f", width=68),
            "difference": st.column_config.NumberColumn("Difference", format="%+.4f", width=68),
            "change": st.column_config.TextColumn(
                "Change", width=58, help="The candidate is better or worse than the champion, in the metric's direction"
            ),
            "gate": st.column_config.TextColumn(
                "Gate",
                width=55,
                help="The metric the policy gates on (the policy verdict says the margin it allows)",
            ),
        },
    )
    st.caption(plain(f"{shown.summary} {shown.directions(comparison['metric'])}"))
    holdout = evidence["holdout"]
    st.caption(plain(f"Holdout: {holdout['table']}, {holdout['rows']} rows, {holdout['rule']}."))


def _drift(drift: Mapping[str, Any] | None) -> None:
    st.markdown("**Drift** · recent data vs the candidate's training data")
    if drift is None:
        st.caption("No scored batch yet: no recent data to compare.")
        return
    if "note" in drift:
        st.caption(plain(drift["note"]))
        return
    share, verdict, rows = st.columns(3)
    share.metric("Features drifted", f"{drift['share']:.0%}")
    verdict.metric("Dataset drift", "drifted" if drift["drifted"] else "stable")
    rows.metric("Rows compared", drift["rows"])
    st.caption(plain(f"Latest batch {drift['batch_id']} against {drift['reference']}"))
    st.dataframe(
        reviews.drift_features(drift),
        hide_index=True,
        width="stretch",
        column_config={
            "feature": st.column_config.TextColumn("Feature", width=120),
            "method": st.column_config.TextColumn("Test", width=140),
            "statistic": st.column_config.NumberColumn("Statistic", format="%.3f", width=65),
            "threshold": st.column_config.NumberColumn("Limit", format="%.2f", width=55, help="Drift threshold"),
            "drifted": st.column_config.CheckboxColumn("Drifted", width=55),
        },
    )


def _quality(quality: Mapping[str, Any]) -> None:
    st.markdown("**Data quality** · of the training data")
    for alert in quality["alerts"]:
        st.warning(plain(alert))
    if not quality["alerts"]:
        st.caption(f"No alerts in {quality['rows']} rows: no feature is over the missing-value limit or constant.")
    st.dataframe(
        reviews.quality_table(quality),
        hide_index=True,
        width="stretch",
        column_config={
            "feature": st.column_config.TextColumn("Feature"),
            "missing_share": st.column_config.ProgressColumn("Missing", format="percent", min_value=0.0, max_value=1.0),
            "constant": st.column_config.CheckboxColumn("Single value"),
        },
    )


def _model_card(card: Mapping[str, Any]) -> None:
    st.markdown("**Model card**")
    st.text("\n".join(f"{field}: {value}" for field, value in reviews.model_card_table(card).iter_rows()))
    st.caption("Limitations")
    st.text("\n".join(f"• {limitation}" for limitation in card.get("limitations", [])))


def _fairness(attribute: Mapping[str, Any]) -> None:
    st.markdown(f"**Fairness** · across {plain(attribute['attribute'])}, on the holdout")
    failing = attribute["failing"]
    summary = (
        f"{failing} of {len(attribute['checks'])} checks fail"
        if failing
        else f"all {len(attribute['checks'])} checks pass or are not judged"
    )
    st.caption(plain(f"Every group against {attribute['reference_group']} over {attribute['rows']} rows: {summary}."))
    st.dataframe(
        segments.fairness_checks(attribute),
        hide_index=True,
        width="stretch",
        column_config={
            "group": st.column_config.TextColumn("Group"),
            "metric": st.column_config.TextColumn("Metric"),
            "value": st.column_config.NumberColumn("Value", format="%.3f"),
            "verdict": st.column_config.TextColumn("Verdict"),
            "rule": st.column_config.TextColumn("Rule", width="large"),
            "support": st.column_config.NumberColumn("Support"),
        },
    )
