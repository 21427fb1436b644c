"""Monitor calculators for segments and fairness (see `pipelines.jobs.calculators`).

`SegmentCalculator` writes, per batch, for each segment column chosen on the model's policy: each
segment's drift (share of features drifted against the same segment of the training data, and its
share of rows then and now) and its realized and estimated performance; and the findings of the
automatic search over two- and three-column segments (worse loss than the rest of the batch, or a share
of rows that moved from training's), with a row "(all)" per search for the whole batch.
`FairnessCalculator` writes each fairness metric of each group of every protected attribute.

Both recompute a batch when more of its rows are labelled, or when the policy names a column the
batch has not been sliced by yet. They read the model's policy, its labels and each batch's rows through
one `SlicingInput` per monitor run, so a batch's million rows are read and joined once for both.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property, partial
from typing import Any

import polars as pl

from governance.drift import drift_share
from governance.fairness import FairnessPolicy, protected_attributes
from governance.segments import MAX_LEVELS, SearchPolicy, SegmentColumn, SegmentTest, segment_columns, segment_reported
from governance.tasks import Task
from governance.versions import VersionRecipe
from lakehouse.records import PolicyScope, policy_settings, require_table_identity
from lakehouse.schemas import FAIRNESS, PREDICTIONS, SEGMENTS
from pipelines.context import Context
from pipelines.jobs.calculators import BatchCalculator, EstimatedPerformance, Row, RunLabels
from pipelines.ml.drift import ReferenceProfile, profile_drift, profile_reference
from pipelines.ml.fairness import LABEL, judge_attribute
from pipelines.ml.segments import (
    LOSS,
    level_losses,
    loss_name,
    row_loss,
    search_segments,
    segment_label,
    slicing_edges,
    without_refinements,
)
from pipelines.ml.tasks import PREDICTION_SCHEMA, TaskKind
from pipelines.reads.batches import batch_rows
from pipelines.reads.versions import kind_for, latest_recipe, version_recipe

ALL = "(all)"
DEFAULT_SEARCH = SearchPolicy()
DEFAULT_FAIRNESS = FairnessPolicy()


class SegmentKind(StrEnum):
    DRIFT = "drift"
    REALIZED = "realized"
    ESTIMATED = "estimated"
    SEARCH_ERROR = "search_error"
    SEARCH_SHIFT = "search_shift"


def _stale(
    ctx: Context, table: str, *, model: str, batches: pl.DataFrame, labelled: dict[str, int], needed: set[str], by: str
) -> pl.DataFrame:
    """`batches` with no row in `table` yet, labelled since, or not yet sliced by every `needed` value of `by`."""
    stored = (
        ctx.store.scan(table)
        .filter(pl.col("model") == model)
        .group_by("batch_id")
        .agg(pl.col("labelled_rows").max(), pl.col(by).unique().alias("seen"))
        .collect()
    )
    known = {row["batch_id"]: row for row in stored.iter_rows(named=True)}
    stale = []
    for batch_id in batches["batch_id"]:
        row = known.get(batch_id)
        if row is None or row["labelled_rows"] != labelled.get(batch_id, 0) or not needed <= set(row["seen"]):
            stale.append(batch_id)
    return batches.filter(pl.col("batch_id").is_in(stale))


def _batch_frame(
    ctx: Context, model: str, batch: dict[str, Any], columns: Sequence[str], labels: pl.DataFrame
) -> pl.DataFrame:
    """The batch's predictions in their order, with `columns` of its input rows (those the input table
    has) and the truth (LABEL, null where no label arrived)."""
    table = str(batch["input_table"])
    key = require_table_identity(ctx.store, table).key
    available = ctx.store.scan(table, version=int(batch["input_version"])).collect_schema()
    wanted = [c for c in dict.fromkeys(columns) if c in available and c != key and c not in PREDICTION_SCHEMA]
    rows = batch_rows(ctx, batch, [key, *wanted]).with_columns(pl.col(key).cast(pl.String).alias("entity_key"))
    if key != "entity_key":
        rows = rows.drop(key)
    predictions = (
        ctx.store.scan(PREDICTIONS)
        .filter((pl.col("model") == model) & (pl.col("batch_id") == batch["batch_id"]))
        .select("entity_key", *PREDICTION_SCHEMA)
        .collect()
    )
    return predictions.join(rows, on="entity_key", how="left", maintain_order="left").join(
        labels, on="entity_key", how="left", maintain_order="left"
    )


class SlicingInput:
    """What the segment and fairness calculators of one monitor run both read, read once: the model's
    policy settings, its labels (the truth, LABEL), how many of each batch's rows are labelled, and each
    batch's frame (`_batch_frame`) with the columns either calculator slices by.

    The segment calculator runs first, over every pending batch; while a protected attribute is declared
    it holds its last batch's frame for the fairness calculator, which lets go of it once used (or, from
    `pending`, when it will not compute that batch). One frame, not one per batch: a first monitor of a
    year of batches would otherwise hold them all at once; the usual run has one new batch."""

    def __init__(self, ctx: Context, model: str, labels: RunLabels) -> None:
        self._ctx, self._model, self._labels = ctx, model, labels
        self._frames: dict[str, pl.DataFrame] = {}

    @cached_property
    def chosen(self) -> tuple[SegmentColumn, ...]:
        return segment_columns(self._settings)

    @cached_property
    def protected(self) -> dict[str, str | None]:
        """Each protected attribute's column and its declared reference group (None: the largest)."""
        return {a.column: a.reference for a in protected_attributes(self._settings)}

    @cached_property
    def truth(self) -> pl.DataFrame:
        return self._labels.latest(self._label_column).select("entity_key", pl.col(self._label_column).alias(LABEL))

    @cached_property
    def labelled(self) -> dict[str, int]:
        """Labelled rows per batch id."""
        return self._labels.labelled_counts(self._label_column)

    @cached_property
    def _label_column(self) -> str:
        return kind_for(latest_recipe(self._ctx, self._model)).label_column

    @cached_property
    def _settings(self) -> dict[str, str]:
        return policy_settings(self._ctx.ledger, scope=PolicyScope.MODEL).get(self._model, {})

    def segment_frame(self, batch: dict[str, Any], columns: Sequence[str]) -> pl.DataFrame:
        """The batch's frame with `columns` and the protected attributes, held (in place of the one held
        before) for `fairness_frame` when any is declared."""
        frame = _batch_frame(self._ctx, self._model, batch, [*columns, *self.protected], self.truth)
        if self.protected:
            self._frames = {str(batch["batch_id"]): frame}
        return frame

    def fairness_frame(self, batch: dict[str, Any]) -> pl.DataFrame:
        """The batch's frame with the protected attributes: the one `segment_frame` held (no longer held
        after this call), or one read now."""
        held = self._frames.pop(str(batch["batch_id"]), None)
        if held is not None:
            return held
        return _batch_frame(self._ctx, self._model, batch, list(self.protected), self.truth)

    def keep_only(self, batch_ids: Sequence[str]) -> None:
        """Drop the frames of every batch but `batch_ids`."""
        for batch_id in set(self._frames) - set(batch_ids):
            del self._frames[batch_id]


@dataclass(frozen=True)
class _SegmentReference:
    """A version's training data as segments need it: the edges of each sliced column (None: by value),
    the training rows' segment labels, and a drift profile of each chosen column's segments."""

    edges: dict[str, list[float] | None]
    labels: pl.DataFrame  # of the chosen columns
    profiles: dict[tuple[str, str], ReferenceProfile]
    search_edges: dict[str, list[float] | None]
    search_rows: pl.DataFrame  # the training rows' searched columns


class SegmentCalculator:
    name, table = "segments", SEGMENTS

    def __init__(
        self, ctx: Context, model: str, slicing: SlicingInput, *, policy: SearchPolicy = DEFAULT_SEARCH
    ) -> None:
        self._ctx, self._model, self._slicing, self._policy = ctx, model, slicing, policy

    def pending(self, batches: pl.DataFrame) -> pl.DataFrame:
        if batches.is_empty():
            return batches
        needed = {s.column for s in self._slicing.chosen} | {SegmentKind.SEARCH_SHIFT}
        return _stale(
            self._ctx,
            SEGMENTS,
            model=self._model,
            batches=batches,
            labelled=self._slicing.labelled,
            needed=needed,
            by="columns",
        )

    def rows(self, batch: dict[str, Any]) -> list[Row]:
        version = batch["model_version"]
        recipe = version_recipe(self._ctx, self._model, version)
        kind = kind_for(recipe)
        chosen = self._slicing.chosen
        reference = self._ctx.remember(
            ("segment_reference", self._model, version, repr(chosen)), partial(self._reference, recipe, chosen)
        )
        # the chosen segments' drift reads every feature; the search alone only its columns
        needed = recipe.spec.columns if chosen else reference.search_edges
        frame = self._slicing.segment_frame(batch, [*needed, *(s.column for s in chosen)])
        sliced = [s.column for s in chosen if s.column in reference.labels.columns and s.column in frame.columns]
        labels = frame.select(segment_label(c, edges=reference.edges[c]) for c in sliced)
        loss = frame.select(row_loss(recipe.task, label=LABEL), pl.col(LABEL).is_not_null().alias("labelled"))
        labelled = int(loss["labelled"].sum())
        stamp = {
            "batch_id": batch["batch_id"],
            "model": self._model,
            "model_version": version,
            "labelled_rows": labelled,
        }
        rows: list[Row] = []
        for segment in chosen:
            if segment.column in sliced:
                rows += self._chosen_rows(stamp, segment.column, frame, labels, loss, reference, recipe, kind)
        search = {c: e for c, e in reference.search_edges.items() if c in frame.columns}
        rows += self._search_rows(stamp, search, frame.select(list(search)), loss, reference, recipe.task)
        return rows

    def _reference(self, recipe: VersionRecipe, chosen: tuple[SegmentColumn, ...]) -> _SegmentReference:
        training = self._ctx.store.read(recipe.table, version=recipe.table_version)
        edges, search = slicing_edges(
            training,
            chosen=[(s.column, s.buckets) for s in chosen],
            candidates=recipe.spec.columns,
            numeric_buckets=self._policy.numeric_buckets,
            max_levels=MAX_LEVELS,
            max_columns=self._policy.max_columns,
        )
        chosen_columns = [s.column for s in chosen if s.column in edges]
        labels = training.select(segment_label(c, edges=edges[c]) for c in chosen_columns)
        profiles = {}
        for segment in chosen:
            if segment.column not in edges:
                continue
            keyed = training.select(recipe.spec.columns).with_columns(labels[segment.column].alias("__segment"))
            for (level,), part in keyed.partition_by("__segment", as_dict=True).items():
                profiles[segment.column, str(level)] = profile_reference(part.drop("__segment"), recipe.spec)
        return _SegmentReference(
            edges=edges,
            labels=labels,
            profiles=profiles,
            search_edges={c: edges[c] for c in search},
            search_rows=training.select(search),
        )

    def _chosen_rows(
        self,
        stamp: Row,
        column: str,
        frame: pl.DataFrame,
        labels: pl.DataFrame,
        loss: pl.DataFrame,
        reference: _SegmentReference,
        recipe: VersionRecipe,
        kind: TaskKind,
    ) -> list[Row]:
        # only what each segment's drift and metrics read: partitioning copies every column it is given
        outputs = [c for c in PREDICTION_SCHEMA if c in frame.columns]
        keyed = frame.select(*dict.fromkeys([*recipe.spec.columns, *outputs, LABEL])).with_columns(
            labels[column].alias("__segment"), loss[LOSS], loss["labelled"]
        )
        shares = reference.labels[column].value_counts(normalize=True, name="share")
        before = dict(zip(shares[column], shares["share"], strict=True))
        losses = level_losses(keyed.filter(pl.col("labelled")).select("__segment", LOSS), "__segment")
        errors = {r["__segment"]: r for r in losses.iter_rows(named=True)}
        calibration = None
        rows: list[Row] = []

        def row(kind_name: str, level: str, size: int, metric: str, value: float, **extra: Any) -> Row:
            return {
                **stamp,
                "kind": kind_name,
                "columns": column,
                "segment": f"{column}={level}",
                "metric": metric,
                "value": value,
                "whole": None,
                "std_error": None,
                "adjusted_p": None,
                "rows": size,
                "reported": None,
                **extra,
            }

        for (name,), part in sorted(keyed.partition_by("__segment", as_dict=True).items()):
            level, size = str(name), part.height
            rows.append(
                row(SegmentKind.DRIFT, level, size, "share", part.height / frame.height, whole=before.get(level, 0.0))
            )
            profile = reference.profiles.get((column, level))
            if profile is not None:
                drifts = profile_drift(profile, part.select(recipe.spec.columns))
                rows.append(row(SegmentKind.DRIFT, level, size, "drift_share", drift_share(drifts)))
            known = part.filter(pl.col("labelled"))
            if known.height:
                truth = known[LABEL].to_numpy()
                for metric, value in kind.metrics(truth, kind.stored_outputs(known)).items():
                    rows.append(row(SegmentKind.REALIZED, level, size, metric, value))
                error = errors[level]
                rows.append(
                    row(
                        SegmentKind.REALIZED,
                        level,
                        size,
                        loss_name(recipe.task),
                        error["value"],
                        std_error=error["std_error"],
                    )
                )
            if part.height >= self._policy.min_rows:
                if calibration is None:
                    calibration = self._ctx.remember(
                        ("calibration", self._model, str(stamp["model_version"])),
                        partial(EstimatedPerformance(self._ctx, self._model).calibration, str(stamp["model_version"])),
                    )
                features = part.select(recipe.spec.columns) if kind.estimate_reads_features else None
                estimate = kind.estimate(kind.stored_outputs(part), calibration=calibration, rows=features)
                rows += [row(SegmentKind.ESTIMATED, level, size, metric, value) for metric, value in estimate.items()]
        return rows

    def _search_rows(
        self,
        stamp: Row,
        edges: dict[str, list[float] | None],
        current: pl.DataFrame,
        loss: pl.DataFrame,
        reference: _SegmentReference,
        task: Task,
    ) -> list[Row]:
        policy = self._policy
        rows: list[Row] = []
        before = reference.search_rows.select(list(edges))
        found = search_segments(current, before, edges, loss=loss[LOSS], min_rows=policy.min_rows)
        rows += self._findings(stamp, SegmentKind.SEARCH_SHIFT, "share", found.shares, whole=1.0, rows=current.height)
        if found.losses is not None:
            known = loss.filter(pl.col("labelled"))
            whole = float(known[LOSS].mean())  # type: ignore[arg-type]
            rows += self._findings(
                stamp, SegmentKind.SEARCH_ERROR, loss_name(task), found.losses, whole=whole, rows=known.height
            )
        return rows

    def _findings(
        self, stamp: Row, kind: str, metric: str, tested: pl.DataFrame, *, whole: float, rows: int
    ) -> list[Row]:
        """A row for the whole batch searched, then the reported segments, most significant first."""
        policy = self._policy
        passed = [
            segment_reported(SegmentTest(rows=n, gap=gap, adjusted_p=p), policy=policy)
            for n, gap, p in tested.select("rows", "gap", "adjusted_p").iter_rows()
        ]
        # a row as a dict only for the few reported: thousands of segments are tested
        reported = {r["segment"]: r for r in tested.filter(pl.Series(passed, dtype=pl.Boolean)).iter_rows(named=True)}
        kept = without_refinements(list(reported))[: policy.max_reported]
        base = {**stamp, "kind": kind, "metric": metric}
        summary: Row = {
            **base,
            "columns": kind,
            "segment": ALL,
            "value": whole,
            "whole": None,
            "std_error": None,
            "adjusted_p": None,
            "rows": rows,
            "reported": False,
        }
        return [summary] + [
            {
                **base,
                "columns": reported[s]["columns"],
                "segment": s,
                "value": reported[s]["value"],
                "whole": reported[s]["rest"],
                "std_error": reported[s]["std_error"],
                "adjusted_p": reported[s]["adjusted_p"],
                "rows": reported[s]["rows"],
                "reported": True,
            }
            for s in kept
        ]


class FairnessCalculator:
    """Fairness per batch for every protected attribute on the model's policy."""

    name, table = "fairness", FAIRNESS

    def __init__(
        self, ctx: Context, model: str, slicing: SlicingInput, *, policy: FairnessPolicy = DEFAULT_FAIRNESS
    ) -> None:
        self._ctx, self._model, self._slicing, self._policy = ctx, model, slicing, policy

    def pending(self, batches: pl.DataFrame) -> pl.DataFrame:
        attributes = self._slicing.protected
        if not attributes or batches.is_empty():
            self._slicing.keep_only([])
            return batches.clear()
        todo = _stale(
            self._ctx,
            FAIRNESS,
            model=self._model,
            batches=batches,
            labelled=self._slicing.labelled,
            needed=set(attributes),
            by="attribute",
        )
        self._slicing.keep_only(todo["batch_id"].to_list())
        return todo

    def rows(self, batch: dict[str, Any]) -> list[Row]:
        recipe = version_recipe(self._ctx, self._model, batch["model_version"])
        frame = self._slicing.fairness_frame(batch)
        frame = frame.with_columns(row_loss(recipe.task, label=LABEL))
        labelled = int(frame[LABEL].is_not_null().sum())
        rows: list[Row] = []
        for attribute, declared in self._slicing.protected.items():
            if attribute not in frame.columns:
                continue
            judged = judge_attribute(frame, attribute, declared=declared, task=recipe.task, policy=self._policy)
            stamp = {
                "batch_id": batch["batch_id"],
                "model": self._model,
                "model_version": batch["model_version"],
                "attribute": attribute,
                "reference_group": judged.reference,
                "labelled_rows": labelled,
            }
            if not judged.metrics:
                rows.append(
                    {
                        **stamp,
                        "group": judged.reference,
                        "metric": "groups",
                        "value": float(judged.groups),
                        "group_rate": None,
                        "reference_rate": None,
                        "threshold": None,
                        "passed": None,
                        "rule": f"{judged.groups} group(s) in this batch, or no reference group: nothing to compare",
                        "support": judged.rows,
                        "rows": judged.rows,
                    }
                )
            for m, verdict in judged.metrics:
                rows.append(
                    {
                        **stamp,
                        "group": m.group,
                        "metric": m.metric.value,
                        "value": m.value,
                        "group_rate": m.group_rate,
                        "reference_rate": m.reference_rate,
                        "threshold": verdict.threshold,
                        "passed": verdict.passed,
                        "rule": verdict.rule,
                        "support": m.support,
                        "rows": m.rows,
                    }
                )
        return rows


def segment_calculators(ctx: Context, model: str, labels: RunLabels) -> list[BatchCalculator]:
    slicing = SlicingInput(ctx, model, labels)
    return [SegmentCalculator(ctx, model, slicing), FairnessCalculator(ctx, model, slicing)]
