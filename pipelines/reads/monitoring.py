"""Read models of the Drift and Performance pages: per-batch drift cells, a feature's reference and
current distributions, Evidently's report of one batch, quality checks, realized and estimated
performance and label coverage, and each batch's distribution of the model's output. How each task's
metrics are shown is `pipelines.reads.task_metrics`'s. Reads only (`pipelines.jobs.reports` writes
Evidently's report). Every verdict shown was decided by `governance` when the monitor job stored it."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import polars as pl

from governance.drift import FeatureDrift, drifts_above
from governance.errors import InputError, NotFoundError
from governance.features import FeatureSpec
from governance.promotion import PRODUCTION_ALIAS
from governance.quality import QualityCheck, QualityResult
from governance.tasks import Task
from lakehouse.schemas import (
    BATCHES,
    DRIFT,
    ESTIMATED,
    OUTPUT_DRIFT,
    PERFORMANCE,
    PREDICTIONS,
    QUALITY,
    REALIZED,
    UTC_TS,
)
from pipelines.context import Context
from pipelines.ml.drift import FEW_VALUES  # a number drift compares per value is drawn per value
from pipelines.reads.batches import BATCH_ORDER, batch_rows
from pipelines.reads.feature_tables import reference_id, training_frame
from pipelines.reads.task_metrics import ModelOutput, TaskMetrics
from pipelines.reads.versions import latest_recipe, version_recipe

HISTOGRAM_BINS = 20
_BATCH_ID = re.compile(r"b-[0-9a-f]{16}")

BATCHES_SCHEMA = pl.Schema(
    {
        "batch": pl.Int64(),
        "batch_id": pl.String(),
        "model_version": pl.String(),
        "role": pl.String(),
        "rows": pl.Int64(),
        "scored_at": UTC_TS,
        "window_start": UTC_TS,
        "window_end": UTC_TS,
        "series": pl.String(),
        "batch_time": UTC_TS,
    }
)


def batch_time() -> pl.Expr:
    """When a batch's data is from, as charts place it on a time axis: its window's start, else its
    window's end, else (a batch scored without a window) when it was scored."""
    return pl.coalesce("window_start", "window_end", "scored_at")


def series_name() -> pl.Expr:
    """One version in one role, as pages name a series: "v2 · challenger". A version promoted later is a
    new series in its new role, so no line mixes what production served with what ran in shadow."""
    return pl.concat_str(pl.lit("v"), pl.col("model_version"), pl.lit(" · "), pl.col("role").fill_null("no role"))


def model_batches(ctx: Context, model: str) -> pl.DataFrame:
    """The model's scored batches, oldest first, numbered from 1 (columns: BATCHES_SCHEMA), each with
    its series (`series_name`) and place in time (`batch_time`)."""
    frame = (
        ctx.store.scan(BATCHES)
        .filter(pl.col("model") == model)
        .sort(BATCH_ORDER, nulls_last=True)
        .with_columns(
            batch=pl.int_range(1, pl.len() + 1, dtype=pl.Int64), series=series_name(), batch_time=batch_time()
        )
        .collect()
    )
    return frame.select(BATCHES_SCHEMA.names()).cast(BATCHES_SCHEMA)


def drift_cells(ctx: Context, model: str) -> pl.DataFrame:
    """One row per batch x feature with drift computed: the batch's number (1 = oldest checked batch)
    and window, the method, statistic, threshold and the stored verdict; by batch, then feature."""
    drift = (
        ctx.store.scan(DRIFT)
        .filter(pl.col("model") == model)
        .select("batch_id", "feature", "method", "statistic", "threshold", "drifted", "reference_id")
        .collect()
    )
    batches = model_batches(ctx, model).select(
        "batch", "batch_id", "model_version", "role", "series", "batch_time", "window_start", "window_end"
    )
    # numbered among the checked batches only, as the drift-share chart numbers them
    checked = batches.join(drift, on="batch_id", how="inner").with_columns(pl.col("batch").rank("dense").cast(pl.Int64))
    return checked.sort("batch", "feature")


def quality_checks(ctx: Context, model: str) -> pl.DataFrame:
    """The model's data-quality check results, newest batch first, failed checks first within it."""
    checks = ctx.store.scan(QUALITY).filter(pl.col("model") == model).collect()
    batches = model_batches(ctx, model).select("batch", "batch_id")
    return checks.join(batches, on="batch_id", how="left").sort(
        ["batch", "passed", "check"], descending=[True, False, False], nulls_last=True
    )


@dataclass(frozen=True)
class BatchFrames:
    """A batch's current rows next to its model version's training rows, for the version's features."""

    batch_id: str
    model_version: str
    reference: pl.DataFrame
    current: pl.DataFrame
    spec: FeatureSpec
    reference_id: str  # table@version the reference was read from


def batch_frames(ctx: Context, *, model: str, batch_id: str) -> BatchFrames:
    """The rows a batch's drift compares: its version's training table at the trained version, and the
    batch's rows of its input table at the scored version and window."""
    found = ctx.store.scan(BATCHES).filter((pl.col("model") == model) & (pl.col("batch_id") == batch_id)).collect()
    if found.height == 0:
        raise NotFoundError(f"no batch {batch_id!r} of model {model!r}")
    batch = found.row(0, named=True)
    recipe = version_recipe(ctx, model, batch["model_version"])
    columns = list(recipe.spec.columns)
    reference = training_frame(ctx, recipe, columns=columns)
    current = batch_rows(ctx, batch, columns)
    return BatchFrames(
        batch_id=batch_id,
        model_version=batch["model_version"],
        reference=reference,
        current=current,
        spec=recipe.spec,
        reference_id=reference_id(recipe),
    )


DISTRIBUTION_SCHEMA = pl.Schema(
    {
        "side": pl.String(),
        "order": pl.Int64(),
        "bin": pl.String(),
        "lower": pl.Float64(),
        "upper": pl.Float64(),
        "rows": pl.Int64(),
        "share": pl.Float64(),
    }
)
SIDES = ("reference", "current")


def feature_distribution(
    reference: pl.Series, current: pl.Series, *, numeric: bool, bins: int = HISTOGRAM_BINS
) -> pl.DataFrame:
    """Both sides' distribution of one feature (columns: DISTRIBUTION_SCHEMA), as shares of each side's
    non-missing rows. A number with more than FEW_VALUES distinct values gets `bins` equal-width bins
    over both sides' range (`lower`, `upper` set); anything else one row per value, in value order."""
    sides = dict(zip(SIDES, (reference, current), strict=True))
    if numeric:
        values = {side: _finite(s) for side, s in sides.items()}
        both = pl.concat(list(values.values()))
        if both.is_empty():
            return pl.DataFrame(schema=DISTRIBUTION_SCHEMA)
        if both.n_unique() > FEW_VALUES:
            return _histogram(values, both, bins=bins)
        return _counts(values)
    return _counts({side: s.cast(pl.String).drop_nulls() for side, s in sides.items()})


def _histogram(values: dict[str, pl.Series], both: pl.Series, *, bins: int) -> pl.DataFrame:
    low, high = float(both.min()), float(both.max())  # type: ignore[arg-type]  # finite numbers, not empty
    width = (high - low) / bins
    edges = [(low + i * width, low + (i + 1) * width) for i in range(bins)]
    frames = []
    for side, series in values.items():
        index = ((series - low) / width).floor().cast(pl.Int64).clip(0, bins - 1)
        counts = dict(zip(*index.value_counts().to_dict(as_series=False).values(), strict=True))
        frames.append(
            pl.DataFrame(
                {
                    "side": side,
                    "order": range(bins),
                    "bin": [f"{_number(lower)} to {_number(upper)}" for lower, upper in edges],
                    "lower": [lower for lower, _ in edges],
                    "upper": [upper for _, upper in edges],
                    "rows": [counts.get(i, 0) for i in range(bins)],
                }
            ).with_columns(share=pl.col("rows") / max(series.len(), 1))
        )
    return pl.concat(frames).select(DISTRIBUTION_SCHEMA.names()).cast(DISTRIBUTION_SCHEMA)


def _counts(values: dict[str, pl.Series]) -> pl.DataFrame:
    categories = pl.concat(list(values.values())).unique().sort()
    frames = []
    for side, series in values.items():
        counts = dict(zip(*series.value_counts().to_dict(as_series=False).values(), strict=True))
        frames.append(
            pl.DataFrame(
                {
                    "side": side,
                    "order": range(categories.len()),
                    "bin": [_number(c) if isinstance(c, float) else str(c) for c in categories],
                    "rows": [counts.get(c, 0) for c in categories],
                }
            ).with_columns(
                share=pl.col("rows") / max(series.len(), 1),
                lower=pl.lit(None, dtype=pl.Float64),
                upper=pl.lit(None, dtype=pl.Float64),
            )
        )
    return pl.concat(frames).select(DISTRIBUTION_SCHEMA.names()).cast(DISTRIBUTION_SCHEMA)


def _number(value: float) -> str:
    return f"{value:,.6g}"


def _finite(series: pl.Series) -> pl.Series:
    numbers = series.cast(pl.Float64).drop_nulls()
    return numbers.filter(numbers.is_finite())


@dataclass(frozen=True)
class OutputDistribution:
    """A batch's distribution of one model output (`distribution`: DISTRIBUTION_SCHEMA, `reference` the
    baseline, `current` the batch) against the first batch its version scored; `reference_batch` is
    that batch's number, None when the batch is the first itself (then `reference` is empty)."""

    output: ModelOutput
    batch: int
    reference_batch: int | None
    model_version: str
    distribution: pl.DataFrame
    verdict: dict[str, Any] | None = None  # monitor's test of the output (method, statistic, threshold, drifted)


def output_distribution(ctx: Context, *, model: str, batch_id: str, output: ModelOutput) -> OutputDistribution:
    """How a batch's `output` (score, predicted class, prediction) is spread, beside the first batch the
    same version scored, with monitor's verdict on it (None until monitor has checked the batch)."""
    batches = model_batches(ctx, model)
    found = batches.filter(pl.col("batch_id") == batch_id)
    if found.height == 0:
        raise NotFoundError(f"no batch {batch_id!r} of model {model!r}")
    batch = found.row(0, named=True)
    first = batches.filter(pl.col("model_version") == batch["model_version"]).row(0, named=True)
    baseline = None if first["batch_id"] == batch_id else first
    ids = [batch_id] if baseline is None else [batch_id, baseline["batch_id"]]
    values = (
        ctx.store.scan(PREDICTIONS)
        .filter((pl.col("model") == model) & pl.col("batch_id").is_in(ids))
        .select("batch_id", output.column)
        .collect()
    )

    current = values.filter(pl.col("batch_id") == batch_id)[output.column]
    reference = current.clear() if baseline is None else values.filter(pl.col("batch_id") == ids[1])[output.column]
    return OutputDistribution(
        output=output,
        batch=batch["batch"],
        reference_batch=None if baseline is None else baseline["batch"],
        model_version=batch["model_version"],
        distribution=feature_distribution(reference, current, numeric=output.numeric),
        verdict=next(
            ctx.store.scan(OUTPUT_DRIFT)
            .filter((pl.col("model") == model) & (pl.col("batch_id") == batch_id))
            .select("method", "statistic", "threshold", "drifted")
            .collect()
            .iter_rows(named=True),
            None,
        ),
    )


def evidently_report_path(ctx: Context, batch_id: str) -> Path:
    """Where the Evidently report of a batch is kept: <MLGOV_HOME>/reports/<batch_id>.html."""
    if not _BATCH_ID.fullmatch(batch_id):
        raise InputError(f"batch id {batch_id!r} is not valid: expected b- and 16 hex digits")
    return ctx.settings.reports_root / f"{batch_id}.html"


PERFORMANCE_SCHEMA = pl.Schema(
    {
        "batch": pl.Int64(),
        "batch_id": pl.String(),
        "model_version": pl.String(),
        "role": pl.String(),
        "kind": pl.String(),
        "metric": pl.String(),
        "value": pl.Float64(),
        "labelled_rows": pl.Int64(),
        "batch_rows": pl.Int64(),
        "series": pl.String(),
        "batch_time": UTC_TS,
    }
)


def performance_history(ctx: Context, model: str) -> pl.DataFrame:
    """The latest computation of every metric of every batch (realized and, where computed, estimated),
    oldest batch first (columns: PERFORMANCE_SCHEMA). Realized metrics are recomputed as labels arrive:
    the computation over the most labelled rows, then the newest, is the one kept."""
    rows = (
        ctx.store.scan(PERFORMANCE)
        .filter(pl.col("model") == model)
        .sort("labelled_rows", "computed_at", nulls_last=False)
        .group_by("batch_id", "kind", "metric", maintain_order=True)
        .last()
        .collect()
    )
    batches = model_batches(ctx, model).select("batch", "batch_id", "role", "series", "batch_time")
    joined = rows.join(batches, on="batch_id", how="inner").sort("batch", "kind", "metric")
    return joined.select(PERFORMANCE_SCHEMA.names()).cast(PERFORMANCE_SCHEMA)


COVERAGE_SCHEMA = pl.Schema(
    {
        "batch": pl.Int64(),
        "batch_id": pl.String(),
        "model_version": pl.String(),
        "role": pl.String(),
        "window_start": UTC_TS,
        "batch_rows": pl.Int64(),
        "labelled_rows": pl.Int64(),
        "coverage": pl.Float64(),
        "series": pl.String(),
        "batch_time": UTC_TS,
    }
)


def label_coverage(ctx: Context, model: str, *, performance: pl.DataFrame | None = None) -> pl.DataFrame:
    """Every scored batch with the share of its rows that have a label (realized metrics' labelled rows
    over the batch's rows; 0 until labels arrive). Columns: COVERAGE_SCHEMA."""
    history = performance_history(ctx, model) if performance is None else performance
    labelled = history.filter(pl.col("kind") == REALIZED).group_by("batch_id").agg(pl.col("labelled_rows").max())
    frame = (
        model_batches(ctx, model)
        .join(labelled, on="batch_id", how="left")
        .with_columns(batch_rows=pl.col("rows"), labelled_rows=pl.col("labelled_rows").fill_null(0))
        .with_columns(
            coverage=pl.when(pl.col("batch_rows") > 0)
            .then(pl.col("labelled_rows") / pl.col("batch_rows"))
            .otherwise(0.0)
        )
    )
    return frame.select(COVERAGE_SCHEMA.names()).cast(COVERAGE_SCHEMA)


def model_task(ctx: Context, model: str) -> Task:
    """The task of `model`: every version shares its latest version's (raises NotFoundError when no
    version was registered through mlgov)."""
    return latest_recipe(ctx, model).task


HEADLINE_SCHEMA = pl.Schema(
    {
        "batch": pl.Int64(),
        "batch_id": pl.String(),
        "model_version": pl.String(),
        "role": pl.String(),
        "labelled_rows": pl.Int64(),
        "batch_rows": pl.Int64(),
        "realized": pl.Float64(),
        "estimated": pl.Float64(),
        "basis": pl.String(),
        "series": pl.String(),
        "batch_time": UTC_TS,
    }
)


def headline_by_batch(performance: pl.DataFrame, coverage: pl.DataFrame, *, metric: str) -> pl.DataFrame:
    """Every scored batch with its realized and estimated `metric` and what the page may say of it
    (`basis`): realized on its labelled rows, estimated only (no labels yet), or neither. Columns:
    HEADLINE_SCHEMA, oldest batch first. `performance` and `coverage` are `performance_history` and
    `label_coverage` of one model."""
    of_metric = performance.filter(pl.col("metric") == metric)
    frame = coverage
    for kind in (REALIZED, ESTIMATED):
        values = of_metric.filter(pl.col("kind") == kind).select("batch_id", pl.col("value").alias(kind))
        frame = frame.join(values.unique("batch_id", keep="last"), on="batch_id", how="left")
    rows = pl.col("batch_rows")
    share = pl.when(rows > 0).then(pl.col("labelled_rows") * 100 / rows).otherwise(0.0).round(0).cast(pl.Int64)
    basis = (
        pl.when(pl.col(REALIZED).is_not_null() & (pl.col("labelled_rows") >= pl.col("batch_rows")))
        .then(pl.lit("realized: every row labelled"))
        .when(pl.col(REALIZED).is_not_null())
        .then(pl.format("realized on the {}% of rows labelled so far", share))
        .when(pl.col(ESTIMATED).is_not_null())
        .then(pl.lit("estimated only: no labels yet"))
        .otherwise(pl.lit("neither: no labels and no estimate"))
    )
    frame = frame.with_columns(basis=basis).sort("batch")
    return frame.select(HEADLINE_SCHEMA.names()).cast(HEADLINE_SCHEMA)


def champion_batches(frame: pl.DataFrame) -> pl.DataFrame:
    """The rows of batches the champion scored, or every row when none was (a champion-less history)."""
    champion = frame.filter(pl.col("role") == PRODUCTION_ALIAS)
    return champion if champion.height else frame


@dataclass(frozen=True)
class Headline:
    """A page's headline metric as its metric card shows it: the value and where it comes from."""

    value: str
    help: str


def latest_headline(per_batch: pl.DataFrame, *, shown: TaskMetrics, kind: str) -> Headline:
    """The realized or estimated (`kind`) headline metric of the latest batch the champion scored that
    has one, from `headline_by_batch`; "–" when none has."""
    lead = shown.headline_display
    rows = champion_batches(per_batch).drop_nulls(kind)
    if rows.height == 0:
        missing = "No labelled batch yet" if kind == REALIZED else "Not estimated"
        return Headline("–", f"{lead.heading}. {missing}")
    last = rows.row(-1, named=True)
    batch = f"batch {last['batch']} (v{last['model_version']}"
    source = (
        f"From the labels of the latest labelled batch: {batch}, {last['basis']})"
        if kind == REALIZED
        else f"From the model's outputs alone, by {shown.estimator}; latest batch: {batch})"
    )
    return Headline(lead.format(last[kind]), f"{lead.heading}. {source}")


def batch_sources(per_batch: pl.DataFrame, *, label: str) -> str:
    """Which batches' `label` is realized and which only estimated, in one line, from `headline_by_batch`."""
    groups = [
        ("Realized", pl.col(REALIZED).is_not_null()),
        ("Estimated only, no labels yet", pl.col(REALIZED).is_null() & pl.col(ESTIMATED).is_not_null()),
        ("Neither realized nor estimated", pl.col(REALIZED).is_null() & pl.col(ESTIMATED).is_null()),
    ]
    parts = []
    for name, where in groups:
        batches = per_batch.filter(where)["batch"].to_list()
        if batches:
            which = "batch" if len(batches) == 1 else "batches"
            parts.append(f"{name}: {which} {', '.join(str(b) for b in batches)}")
    return f"{label} per batch. " + ". ".join(parts) + "." if parts else f"No batch has a {label} yet."


# --- Series and dates: what the Drift and Performance pages draw ---------------------------------


def _version_key(version: str) -> tuple[int, str]:
    return (int(version), version) if version.isdigit() else (-1, version)


def series_order(frame: pl.DataFrame) -> list[str]:
    """The series of `frame` (rows with `series`, `role`, `model_version`): the champion's first, then
    the other roles by name, the newest version first within a role."""
    found = frame.select("series", "role", "model_version").unique("series")
    rows = sorted(found.iter_rows(named=True), key=lambda r: _version_key(str(r["model_version"])), reverse=True)
    rows.sort(key=lambda r: (r["role"] != PRODUCTION_ALIAS, r["role"] or ""))
    return [r["series"] for r in rows]


def production_series(frame: pl.DataFrame) -> list[str]:
    """The series whose batches production served (the champion role, every version that held it), or
    every series when the champion scored none: what a page shows until someone picks others."""
    served = frame.filter(pl.col("role") == PRODUCTION_ALIAS)
    return series_order(served if served.height else frame)


@dataclass(frozen=True)
class DateSpan:
    """The first and last day (UTC) of a set of batches' `batch_time`."""

    first: date
    last: date


def date_span(frame: pl.DataFrame) -> DateSpan | None:
    """The days `frame`'s batches cover (None: no batch)."""
    days = frame["batch_time"].drop_nulls().dt.date()
    if days.is_empty():
        return None
    return DateSpan(first=days.min(), last=days.max())  # type: ignore[arg-type]  # dates, not empty


def time_span(frame: pl.DataFrame) -> tuple[datetime, datetime] | None:
    """The first and last `batch_time` of `frame` (None: no batch): the time axis charts drawn one under
    another share."""
    times = frame["batch_time"].drop_nulls()
    if times.is_empty():
        return None
    return times.min(), times.max()  # type: ignore[return-value]  # datetimes, not empty


def shown_batches(
    frame: pl.DataFrame, *, series: Sequence[str] | None = None, first: date | None = None, last: date | None = None
) -> pl.DataFrame:
    """The rows of `frame` in one of `series` (None: every series) whose batch falls between the days
    `first` and `last`, both included (None: open)."""
    kept = frame if series is None else frame.filter(pl.col("series").is_in(list(series)))
    day = pl.col("batch_time").dt.date()
    if first is not None:
        kept = kept.filter(day >= first)
    if last is not None:
        kept = kept.filter(day <= last)
    return kept


def batches_by_role(frame: pl.DataFrame, *, drifted: str | None = None) -> str:
    """How many batches each role scored, champion first: "10 by the champion (v1), 10 by the challenger
    (v2)". `frame` has one row per batch with `role` and `model_version`; `drifted` names a boolean
    column whose true rows are counted too: "10 by the champion (v1), 3 of them drifted"."""
    parts = []
    for role in sorted(set(frame["role"].to_list()), key=lambda r: (r != PRODUCTION_ALIAS, r or "")):
        own = frame.filter(pl.col("role").is_null() if role is None else pl.col("role") == role)
        versions = ", ".join(f"v{v}" for v in sorted(set(own["model_version"].to_list()), key=_version_key))
        said = f"{own.height} by the {role or 'version without a role'} ({versions})"
        parts.append(said if drifted is None else f"{said}, {int(own[drifted].sum())} of them drifted")
    return "; ".join(parts) if drifted else ", ".join(parts)


def drift_magnitude(cells: pl.DataFrame) -> pl.DataFrame:
    """`drift_cells` with what a chart of each feature's statistic against its threshold needs: `panel`,
    one per feature and method (a p-value and a distance share no axis), and `drifts_when`, the side of
    the threshold that means drift, as `governance.drift` decides it."""
    above = {method: drifts_above(method) for method in cells["method"].unique().to_list()}
    return cells.with_columns(
        panel=pl.concat_str("feature", pl.lit(" · "), "method"),
        drifts_when=pl.col("method").replace_strict(
            {m: "above" if up else "below" for m, up in above.items()}, return_dtype=pl.String
        ),
    )


def feature_drifts(rows: pl.DataFrame | None) -> tuple[FeatureDrift, ...]:
    """The drift findings held in rows of a drift table (feature, method, statistic, threshold, drifted)."""
    if rows is None:
        return ()
    return tuple(
        FeatureDrift(
            feature=row["feature"],
            method=row["method"],
            statistic=row["statistic"],
            threshold=row["threshold"],
            drifted=row["drifted"],
        )
        for row in rows.iter_rows(named=True)
    )


def quality_results(rows: pl.DataFrame) -> tuple[QualityResult, ...]:
    """The quality checks held in rows of a quality table."""
    return tuple(
        QualityResult(
            check=QualityCheck(row["check"]),
            column=row["column"],
            value=row["value"],
            threshold=row["threshold"],
            passed=row["passed"],
            origin=row["threshold_origin"] or "",
        )
        for row in rows.iter_rows(named=True)
    )
