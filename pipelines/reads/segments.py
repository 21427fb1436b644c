"""Segments and fairness as the CLI and the app read them: the latest computation of each batch from
monitoring/segments and monitoring/fairness, and the validation of the columns a model is sliced by
against its training data."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl

from governance.errors import InputError
from governance.fairness import FairnessPolicy, parse_protected, protected_attributes, protected_problem
from governance.segments import ColumnSummary, parse_segment, segment_problem
from governance.versions import VersionRecipe
from lakehouse.schemas import FAIRNESS, SEGMENTS
from pipelines.context import Context
from pipelines.ml.fairness import LABEL, judge_attribute
from pipelines.ml.segments import row_loss
from pipelines.ml.tasks import prediction_frame
from pipelines.reads.governed import model_settings
from pipelines.reads.versions import kind_for, latest_recipe, version_model


def slicing_settings(ctx: Context, model: str, *, segments: Sequence[str], protected: Sequence[str]) -> dict[str, str]:
    """Policy settings for segment columns (`COLUMN[:BUCKETS]`) and protected attributes
    (`COLUMN[=REFERENCE]`), each checked against the latest version's training table; InputError names
    the first that does not fit."""
    recipe = latest_recipe(ctx, model)
    schema = ctx.store.scan(recipe.table, version=recipe.table_version).collect_schema()
    columns = list(schema.names())

    def read(column: str) -> pl.Series:
        return ctx.store.read(recipe.table, version=recipe.table_version, columns=[column])[column]

    settings: dict[str, str] = {}
    for text in segments:
        segment = parse_segment(text)
        summary = None
        if segment.column in schema:
            values = read(segment.column)
            summary = ColumnSummary(
                column=segment.column,
                dtype=str(values.dtype),
                numeric=values.dtype.is_numeric(),
                distinct=values.drop_nulls().n_unique(),
            )
        problem = segment_problem(segment, summary, columns=columns)
        if problem:
            raise InputError(problem)
        settings[segment.setting] = segment.value
    for text in protected:
        attribute = parse_protected(text)
        groups = None
        if attribute.column in schema:
            groups = read(attribute.column).drop_nulls().cast(pl.String).unique().sort().to_list()
        problem = protected_problem(attribute, groups, columns=columns)
        if problem:
            raise InputError(problem)
        settings[attribute.setting] = attribute.value
    return settings


def _latest(ctx: Context, table: str, model: str) -> pl.DataFrame:
    """Each batch's rows of its latest computation: the last committed (computed_at cannot tell under a
    fixed clock; a log entry that expired counts as older than every one the log still holds)."""
    frame = ctx.store.scan(table).filter(pl.col("model") == model).collect()
    if frame.is_empty():
        return frame
    versions = ctx.store.commit_versions(table) if ctx.store.exists(table) else {}
    order = pl.col("run_id").replace_strict(versions, default=-1, return_dtype=pl.Int64)
    best = frame.group_by("batch_id").agg(pl.col("run_id").sort_by(["computed_at", order]).last())
    return frame.join(best, on=["batch_id", "run_id"], how="semi", maintain_order="left")


def segment_rows(ctx: Context, model: str) -> pl.DataFrame:
    """Every batch's latest rows of monitoring/segments."""
    return _latest(ctx, SEGMENTS, model)


def fairness_rows(ctx: Context, model: str) -> pl.DataFrame:
    """Every batch's latest rows of monitoring/fairness."""
    return _latest(ctx, FAIRNESS, model)


def segment_documents(ctx: Context, model: str) -> dict[str, dict[str, Any]]:
    """Per batch id, `mlgov monitor --json`'s "segments" and "fairness" of that batch."""
    documents: dict[str, dict[str, Any]] = {}
    segments = segment_rows(ctx, model).drop("model", "computed_at", "run_id")
    for row in segments.iter_rows(named=True):
        entry = documents.setdefault(row["batch_id"], {"segments": [], "segment_findings": [], "fairness": []})
        if row["kind"].startswith("search"):
            if row["reported"]:
                entry["segment_findings"].append(_without(row, "batch_id", "model_version", "reported"))
        else:
            entry["segments"].append(
                _without(row, "batch_id", "model_version", "reported", "adjusted_p", "labelled_rows")
            )
    for row in fairness_rows(ctx, model).drop("model", "computed_at", "run_id").iter_rows(named=True):
        entry = documents.setdefault(row["batch_id"], {"segments": [], "segment_findings": [], "fairness": []})
        entry["fairness"].append(_without(row, "batch_id", "model_version"))
    return documents


def _without(row: dict[str, Any], *names: str) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k not in names}


# --- what the Drift and Performance pages show -------------------------------------------------------


def segment_batches(segments: pl.DataFrame, fairness: pl.DataFrame, batches: pl.DataFrame) -> list[str]:
    """Batch ids with segment or fairness rows, newest first in scoring order (`batches`: the page's
    batch list, with `batch_id` in its order)."""
    present = set(segments["batch_id"].to_list()) | set(fairness["batch_id"].to_list())
    return [b for b in reversed(batches["batch_id"].to_list()) if b in present]


def chosen_segments(segments: pl.DataFrame, batch_id: str, *, kinds: Sequence[str]) -> pl.DataFrame:
    """The chosen segment columns' rows of one batch of `kinds`, one row per segment and metric."""
    return (
        segments.filter((pl.col("batch_id") == batch_id) & pl.col("kind").is_in(list(kinds)))
        .select("kind", "columns", "segment", "metric", "value", "whole", "std_error", "rows")
        .sort("columns", "segment", "kind", "metric")
    )


def segment_drift_table(segments: pl.DataFrame, batch_id: str) -> pl.DataFrame:
    """Per chosen segment of a batch: its share of rows now and in training, and its drift share."""
    rows = chosen_segments(segments, batch_id, kinds=["drift"])
    share = rows.filter(pl.col("metric") == "share").select(
        "columns", "segment", "rows", pl.col("value").alias("share"), pl.col("whole").alias("training_share")
    )
    drifted = rows.filter(pl.col("metric") == "drift_share").select("segment", pl.col("value").alias("drift_share"))
    return share.join(drifted, on="segment", how="left", maintain_order="left")


def segment_performance_table(segments: pl.DataFrame, batch_id: str, *, metrics: Sequence[str]) -> pl.DataFrame:
    """Per chosen segment of a batch: each of `metrics`, realized (with the loss's standard error and a
    95% interval) and estimated."""
    rows = chosen_segments(segments, batch_id, kinds=["realized", "estimated"]).filter(
        pl.col("metric").is_in(list(metrics))
    )
    return rows.with_columns(
        low=pl.col("value") - 1.96 * pl.col("std_error"), high=pl.col("value") + 1.96 * pl.col("std_error")
    ).select("columns", "segment", "kind", "metric", "value", "std_error", "low", "high", "rows")


def segment_findings(segments: pl.DataFrame, *, kind: str) -> pl.DataFrame:
    """The search's reported segments of `kind` (search_error, search_shift) over every batch."""
    return (
        segments.filter((pl.col("kind") == kind) & pl.col("reported"))
        .with_columns(
            low=pl.col("value") - 1.96 * pl.col("std_error"), high=pl.col("value") + 1.96 * pl.col("std_error")
        )
        .select("batch_id", "segment", "rows", "value", "low", "high", "whole", "adjusted_p")
    )


def fairness_table(fairness: pl.DataFrame, batch_id: str) -> pl.DataFrame:
    """Every fairness verdict of one batch, with a verdict in words."""
    verdict = (
        pl.when(pl.col("passed").is_null())
        .then(pl.lit("not judged"))
        .when(pl.col("passed"))
        .then(pl.lit("passes"))
        .otherwise(pl.lit("fails"))
    )
    return (
        fairness.filter(pl.col("batch_id") == batch_id)
        .with_columns(verdict.alias("verdict"))
        .select(
            "attribute",
            "group",
            "reference_group",
            "metric",
            "value",
            "verdict",
            "rule",
            "group_rate",
            "reference_rate",
            "support",
        )
        .sort("attribute", "metric", "group")
    )


def holdout_fairness(
    ctx: Context, *, model: str, version: str, recipe: VersionRecipe, holdout: pl.DataFrame
) -> list[dict[str, Any]]:
    """Promotion evidence: the candidate's fairness on its holdout (labelled) for every protected
    attribute declared on the model, each metric with its verdict; [] when none is declared."""
    declared = protected_attributes(model_settings(ctx).get(model, {}))
    present = [a for a in declared if a.column in holdout.columns]
    if not present:
        return []
    kind = kind_for(recipe)
    outputs = kind.outputs(version_model(ctx, model, version, recipe), holdout, recipe.spec, chunk_rows=holdout.height)
    truth = pl.Series(LABEL, kind.target(holdout[recipe.target]))
    frame = prediction_frame(kind.prediction_columns(outputs), rows=holdout.height).with_columns(
        truth, *(holdout[a.column] for a in present)
    )
    frame = frame.with_columns(row_loss(recipe.task, label=LABEL))
    documents = []
    for attribute in present:
        judged = judge_attribute(
            frame, attribute.column, declared=attribute.reference, task=recipe.task, policy=FairnessPolicy()
        )
        checks = [
            {
                "group": m.group,
                "metric": m.metric.value,
                "value": m.value,
                "group_rate": m.group_rate,
                "reference_rate": m.reference_rate,
                "support": m.support,
                "passed": verdict.passed,
                "rule": verdict.rule,
            }
            for m, verdict in judged.metrics
        ]
        documents.append(
            {
                "attribute": attribute.column,
                "reference_group": judged.reference,
                "rows": judged.rows,
                "failing": sum(c["passed"] is False for c in checks),
                "checks": checks,
            }
        )
    return documents


def fairness_checks(attribute: Mapping[str, Any]) -> pl.DataFrame:
    """One attribute's checks of promotion evidence (`holdout_fairness`) as a table, failing first."""
    schema = {
        "group": pl.String,
        "metric": pl.String,
        "value": pl.Float64,
        "verdict": pl.String,
        "rule": pl.String,
        "support": pl.Int64,
    }
    words = {True: "passes", False: "fails", None: "not judged"}
    rows = [{**{k: c.get(k) for k in schema}, "verdict": words[c["passed"]]} for c in attribute["checks"]]
    order = pl.col("verdict").replace_strict({"fails": 0, "not judged": 1, "passes": 2}, return_dtype=pl.Int64)
    return pl.DataFrame(rows, schema=schema).sort(order, "metric", "group")
