"""The Evidently adapter: per-column drift statistics with Evidently's own method selection.

Evidently sees pandas only here. The verdict is not taken from Evidently's output but decided by
governance.drift from the method, statistic and threshold, so every caller judges drift the same way.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl

from governance.drift import FeatureDrift, judge_feature
from governance.features import FeatureSpec


def _to_pandas(frame: pl.DataFrame, spec: FeatureSpec) -> pd.DataFrame:
    return frame.select(
        *(pl.col(c).cast(pl.Float64) for c in spec.numeric),
        *(pl.col(c).cast(pl.String) for c in spec.categorical),
    ).to_pandas()


def _report(reference: pl.DataFrame, current: pl.DataFrame, spec: FeatureSpec) -> Any:
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    definition = DataDefinition(numerical_columns=list(spec.numeric), categorical_columns=list(spec.categorical))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = Dataset.from_pandas(_to_pandas(reference, spec), data_definition=definition)
        cur = Dataset.from_pandas(_to_pandas(current, spec), data_definition=definition)
        return Report([DataDriftPreset(columns=list(spec.columns))]).run(current_data=cur, reference_data=ref)


def evidently_drift(reference: pl.DataFrame, current: pl.DataFrame, *, spec: FeatureSpec) -> list[FeatureDrift]:
    """Per-feature drift of `current` against `reference`, as Evidently's DataDriftPreset computes it.

    Calls the per-column step of Evidently's drift metric directly (its default test selection by
    size, type and distinct values; its default thresholds; NaN and inf dropped first). A whole
    Report computes the same numbers but also renders every plot, ~2.5 s a batch for nothing.
    """
    from evidently.legacy.calculations.stattests.registry import get_stattest
    from evidently.legacy.core import ColumnType

    ref, cur = _to_pandas(reference, spec), _to_pandas(current, spec)
    drifts: list[FeatureDrift] = []
    for feature in spec.columns:
        column_type = ColumnType.Numerical if feature in spec.numeric else ColumnType.Categorical
        ref_column = ref[feature].replace([-np.inf, np.inf], np.nan).dropna()
        cur_column = cur[feature].replace([-np.inf, np.inf], np.nan).dropna()
        if ref_column.empty or cur_column.empty:
            continue  # Evidently refuses an empty column; no verdict is better than a made-up one
        test = get_stattest(ref_column, cur_column, column_type, None)
        result = test(ref_column, cur_column, column_type, None)
        drifts.append(
            judge_feature(
                feature=feature,
                method=test.display_name,
                statistic=float(result.drift_score),
                threshold=float(result.actual_threshold),
            )
        )
    return drifts


def evidently_report_drift(reference: pl.DataFrame, current: pl.DataFrame, *, spec: FeatureSpec) -> list[FeatureDrift]:
    """The same drift read from a full Evidently Report: slower; the reference our fast path must equal."""
    snapshot = _report(reference, current, spec)
    drifts: list[FeatureDrift] = []
    for metric in snapshot.dict()["metrics"]:
        config = metric["config"]
        if not config.get("type", "").endswith(":ValueDrift"):
            continue
        drifts.append(
            judge_feature(
                feature=config["column"],
                method=config["method"],
                statistic=float(metric["value"]),
                threshold=float(config["threshold"]),
            )
        )
    order = {name: i for i, name in enumerate(spec.columns)}
    return sorted(drifts, key=lambda d: order[d.feature])


def save_evidently_report(reference: pl.DataFrame, current: pl.DataFrame, *, spec: FeatureSpec, path: Path) -> Path:
    """Evidently's own HTML drift report for one batch, written to `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    _report(reference, current, spec).save_html(str(path))
    return path
