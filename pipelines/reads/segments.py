"""Segments and fairness as the CLI and the app read them: the latest computation of each batch from
monitoring/segments and monitoring/fairness, and the validation of the columns a model is sliced by
against its training data."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import polars as pl

from governance.errors import InputError
from governance.fairness import parse_protected, protected_problem
from governance.segments import ColumnSummary, parse_segment, segment_problem
from lakehouse.schemas import FAIRNESS, SEGMENTS
from pipelines.context import Context
from pipelines.reads.versions import latest_recipe


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


def _latest(frame: pl.DataFrame) -> pl.DataFrame:
    """Each batch's latest computation: the most labelled, then the newest, then the last committed."""
    if frame.is_empty():
        return frame
    best = frame.group_by("batch_id").agg(
        pl.col("run_id").sort_by(["labelled_rows", "computed_at"], maintain_order=True).last()
    )
    return frame.join(best, on=["batch_id", "run_id"], how="semi")


def segment_rows(ctx: Context, model: str) -> pl.DataFrame:
    """Every batch's latest rows of monitoring/segments."""
    return _latest(ctx.store.scan(SEGMENTS).filter(pl.col("model") == model).collect())


def fairness_rows(ctx: Context, model: str) -> pl.DataFrame:
    """Every batch's latest rows of monitoring/fairness."""
    return _latest(ctx.store.scan(FAIRNESS).filter(pl.col("model") == model).collect())


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
