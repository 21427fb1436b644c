"""Generate a lakehouse at the scale of issue #5, for timing the app's pages on it.

    .venv/bin/python bench/make_scale_lakehouse.py --home /tmp/scale   # 50 models, 1,000 versions,
                                                                      # 10M predictions, 1M audit records
    .venv/bin/python bench/make_scale_lakehouse.py --home /tmp/scale-small \
        --models 8 --versions 60 --predictions 300000 --audit-events 50000   # a quick look

The sizes are totals, the demo's included. It starts from the real demo (`pipelines.demo.story.run_demo`)
and tells the year after it, week by week: the platform grows from the demo's three models to
--models. Everything is written through our own code: MLflow through its client, tables through
`DeltaStore` (which checks each write against `lakehouse.schemas`), governance steps through the real
jobs, and the audit trail through `AuditLog.append_many` (chained after the tip, in bulk), so that
`mlgov audit verify` holds.

* data: each week, 1,000 new rows per demo data set land through the real `ingest` job (the demo's
  own generator, drifting from mid-year on), so every batch's window holds real rows;
* models: each new model is a segment variant of a demo model (`loan_default_fr`, ...), classified
  with `set_model_policy`; its versions are registered with `MlflowClient.create_model_version`,
  reusing the demo's logged artifacts and runs, with the recipe tags `pipelines.jobs.train` writes;
* promotions: launches, challengers in shadow, upgrades, rejections, rollbacks and requests left open
  go through `pipelines.jobs.promote` (evidence, approvals, MLflow aliases, governance/aliases);
* scoring and monitoring: predictions, batches, lineage, drift, quality, estimated performance and
  ops/runs rows are derived from the demo's own rows of the same model, role and drift regime
  (scores perturbed in logit space; drift statistics perturbed, then judged by `governance.drift`);
  labels arrive two weeks later, and realized performance is computed from them;
* audit: every derived job gets the record its real job would write, and the trail is filled up to
  --audit-events with records drawn from the demo's own mix of records that carry no governed rows
  (sign-ins, jobs, reads, refusals), naming objects that exist; they are chained and committed a week at
  a time. Every grant, request, approval and alias move on the chain is one the real jobs made: a drawn
  copy of one would be a second governance decision (a model promoted thousands of times over).

Not real: a batch's `rows` (its predictions) exceeds the 1,000 input rows its window holds, and the
predictions' entity keys are not in the input table.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import peak_rss_mb

from governance.audit.canonical import canonical_json
from governance.audit.chain import AuditEntry
from governance.drift import judge_feature
from governance.errors import MlgovError
from governance.promotion import PRODUCTION_ALIAS, SHADOW_ALIAS, PromotionStatus, fold_requests
from lakehouse.delta import CommitInfo
from lakehouse.ledger import GOVERNED
from lakehouse.records import LineageEdge, lineage_frame, promotion_events
from lakehouse.schemas import AUDIT, BATCHES, DRIFT, LABELS, LINEAGE, PERFORMANCE, PREDICTIONS, QUALITY, RUNS, SCHEMAS
from pipelines.context import Context, build_context
from pipelines.demo.data import DemoDataset, build_demo_datasets
from pipelines.demo.story import DRIFT_FROM_WEEK, MAKERS, POLICIES, REVIEWS, START, WEEKS, SimulatedClock, run_demo
from pipelines.jobs.ingest import ingest
from pipelines.jobs.models import set_model_policy
from pipelines.jobs.promote import approve, reject, request_promotion, rollback
from pipelines.jobs.score import batch_identity
from pipelines.ml.modeling import DECISION_THRESHOLD, classification_metrics
from pipelines.reads.promotions import PromotionResult
from pipelines.reads.versions import (
    TAG_ALGORITHM,
    TAG_CATEGORICAL,
    TAG_NUMERIC,
    TAG_TABLE,
    TAG_TABLE_VERSION,
    TAG_TARGET,
    TAG_TRAINER,
)

SCALE_START = START + timedelta(weeks=WEEKS)  # the Monday after the demo's last week
WEEK = timedelta(weeks=1)
INPUT_ROWS_PER_WEEK = 1_000  # as in the demo
KEY_OFFSET = 100_000  # new input keys start above the demo's (which stop at 13,000)
LABEL_DELAY_WEEKS = 2
ADMIN, ANALYST = "ada", "ana"
GENERATOR = CommitInfo(run_id=uuid.uuid4().hex, job="make_scale_lakehouse", actor=ADMIN)
SEGMENTS = ("fr", "de", "es", "it", "nl", "be", "pt", "pl", "se", "dk", "fi", "at", "ie", "cz", "gr", "ro")
RECIPE_TAGS = (TAG_TABLE, TAG_TABLE_VERSION, TAG_NUMERIC, TAG_CATEGORICAL, TAG_TARGET, TAG_ALGORITHM)


# --- command line and progress ------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Generate a valid mlgov home at scale (issue #5): the demo, then a year of growth.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--home", type=Path, required=True, help="the new MLGOV_HOME; must be empty or absent")
    parser.add_argument("--models", type=int, default=50, help="registered models in total (the demo has 3)")
    parser.add_argument("--versions", type=int, default=1_000, help="model versions in total (the demo has 7)")
    parser.add_argument(
        "--predictions", type=int, default=10_000_000, help="prediction rows in total (the demo has 40,000)"
    )
    parser.add_argument("--audit-events", type=int, default=1_000_000, help="audit records in total")
    parser.add_argument("--weeks", type=int, default=52, help="weeks of history after the demo (one batch a week)")
    parser.add_argument("--seed", type=int, default=7, help="seed of the new input rows and derived values")
    args = parser.parse_args(argv)
    if args.models < 3 or args.weeks < 8:
        parser.error("--models must be at least 3 (the demo's) and --weeks at least 8")
    if args.versions < 7 + (args.models - 3):
        parser.error("--versions must leave at least one version per new model (the demo has 7 versions)")
    return args


class Progress:
    def __init__(self) -> None:
        self.started = time.perf_counter()

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def __call__(self, line: str) -> None:
        print(f"[{self.elapsed:7.1f}s] {line}", flush=True)


def refusal(home: Path) -> str | None:
    """Why `home` cannot hold a new lakehouse, or None."""
    if home.exists() and (not home.is_dir() or any(home.iterdir())):
        return f"--home {home} is not empty: give a new or empty folder"
    seals = home.parent / f"{home.name}-seals"  # where lakehouse.settings keeps this home's seals
    if seals.exists() and any(seals.iterdir()):
        return f"{seals} holds seals of an earlier lakehouse, which would fail verification: remove it first"
    return None


# --- what the demo gives ------------------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    """A demo version whose logged artifact and run new versions reuse."""

    version: str
    uri: str
    run_id: str
    tags: dict[str, str]
    roc_auc: float


@dataclass
class Family:
    """A demo model, and what new models of its kind are made from."""

    name: str
    maker: str
    tier: str
    purpose: str
    dataset: DemoDataset  # the weekly input rows of the year after the demo
    sources: list[Source]
    key_prefix: str

    @property
    def input_table(self) -> str:
        return f"{self.dataset.table}_incoming"  # the demo scores from this table

    @property
    def upgrade(self) -> Source:
        return max(self.sources, key=lambda s: s.roc_auc)

    @property
    def challenger(self) -> Source:
        other = [s for s in self.sources if s.tags[TAG_ALGORITHM] != self.sources[0].tags[TAG_ALGORITHM]]
        return (other or self.sources)[-1]


def demo_families(ctx: Context, *, weeks: int, seed: int) -> dict[str, Family]:
    datasets = build_demo_datasets(
        start=SCALE_START,
        seed=seed,
        history_rows=KEY_OFFSET,
        batch_rows=INPUT_ROWS_PER_WEEK,
        n_weeks=weeks,
        drift_from_week=weeks // 2,
    )
    families = {}
    for dataset in datasets:
        tier, purpose = POLICIES[dataset.model]
        families[dataset.model] = Family(
            name=dataset.model,
            maker=MAKERS[dataset.model],
            tier=tier,
            purpose=purpose,
            dataset=dataset,
            sources=_sources(ctx, dataset.model),
            key_prefix=dataset.weeks[0][dataset.key][0].split("-")[0],
        )
    return families


def _sources(ctx: Context, model: str) -> list[Source]:
    found = []
    for info in ctx.registry.versions(model):
        uri = str(ctx.registry.client.get_model_version(model, info.version).source)
        tags = {tag: info.tags[tag] for tag in RECIPE_TAGS}
        found.append(Source(info.version, uri, info.run_id, tags, info.metrics.get("roc_auc", 0.0)))
    return found


@dataclass
class Templates:
    """The demo's own rows, by (model, role, drift regime), to derive new rows from."""

    batches: dict[tuple[str, str, bool], list[str]]
    scores: dict[tuple[str, str, bool], np.ndarray]
    drift: dict[str, pl.DataFrame]
    quality: dict[str, pl.DataFrame]
    estimated: dict[str, pl.DataFrame]
    runs: dict[str, dict[str, float]]  # job -> mean wall, cpu, bytes and rows of its demo runs
    audit: list[AuditEntry]

    def key(self, model: str, role: str, drifted: bool) -> tuple[str, str, bool]:
        wanted = (model, role, drifted)
        return wanted if wanted in self.batches else (model, PRODUCTION_ALIAS, drifted)


def demo_templates(ctx: Context) -> Templates:
    drift_week = START + timedelta(weeks=DRIFT_FROM_WEEK)
    batches = ctx.store.read(BATCHES).with_columns(drifted=pl.col("window_start") >= drift_week)
    grouped = batches.group_by("model", "role", "drifted").agg("batch_id")
    by_key = {(r["model"], r["role"], r["drifted"]): sorted(r["batch_id"]) for r in grouped.iter_rows(named=True)}
    scored = ctx.store.read(PREDICTIONS).join(batches.select("batch_id", "drifted"), on="batch_id")
    scores = {
        (m, r, d): part["score"].to_numpy()
        for (m, r, d), part in scored.partition_by("model", "role", "drifted", as_dict=True).items()
    }
    performance = ctx.store.read(PERFORMANCE).filter(pl.col("kind") == "estimated")
    runs = (
        ctx.store.read(RUNS).group_by("job").agg(pl.col("wall_seconds", "cpu_seconds", "bytes_written", "rows").mean())
    )
    return Templates(
        batches=by_key,
        scores=scores,
        drift=_by_batch(ctx.store.read(DRIFT)),
        quality=_by_batch(ctx.store.read(QUALITY)),
        estimated=_by_batch(performance),
        runs={row.pop("job"): row for row in runs.iter_rows(named=True)},
        audit=[record.entry for record in ctx.audit.records()],
    )


def _by_batch(frame: pl.DataFrame) -> dict[str, pl.DataFrame]:
    return {str(key[0]): part for key, part in frame.partition_by("batch_id", as_dict=True).items()}


# --- the plan: which models exist, when they launch, which versions and promotions they get ------


@dataclass
class ModelPlan:
    name: str
    number: int  # in entity keys
    family: Family
    weight: float  # its share of the traffic
    created_week: int
    launch_week: int | None  # its first champion; None: still in development
    stop_week: int  # no scoring from this week on (a zombie, if it stays champion)
    versions: list[tuple[int, Source]] = field(default_factory=list)  # (week made, source) of v1, v2, ...
    actions: dict[int, list[tuple[str, str]]] = field(default_factory=dict)  # week -> [(kind, version)]
    shadow_week: int | None = None  # from when the plan expects a challenger
    demo: bool = False
    next_key: int = 1  # serial of its next entity key

    def versions_by(self, week: int, source: Source | None = None) -> list[str]:
        """The versions made up to `week` (of `source`, if given), oldest first."""
        return [
            str(number)
            for number, (made, made_from) in enumerate(self.versions, start=1)
            if made <= week and (source is None or made_from == source)
        ]

    def planned_batches(self, week: int) -> int:
        """How many batches (champion, challenger) the plan expects this model to score in `week`."""
        if self.launch_week is None or not self.launch_week <= week < self.stop_week:
            return 0
        return 2 if self.shadow_week is not None and week >= self.shadow_week else 1


def make_plan(ctx: Context, families: dict[str, Family], args: argparse.Namespace) -> list[ModelPlan]:
    rng = np.random.default_rng(args.seed)
    plans = [_demo_plan(ctx, family, number, args.weeks, rng) for number, family in enumerate(families.values())]
    new = args.models - len(plans)
    demo_versions = sum(len(family.sources) for family in families.values())
    version_counts = split_total(args.versions - demo_versions, rng.lognormal(0, 0.6, new), minimum=1)
    developing = 2 if new >= 6 else 0  # the last ones: versions, no champion yet
    for i in range(new):
        family = list(families.values())[i % len(families)]
        in_development = i >= new - developing
        first_week = args.weeks - 6 + i % 3 if in_development else i * (args.weeks // 2) // new
        plan = ModelPlan(
            name=f"{family.name}_{segment_name(i // len(families))}",
            number=len(plans),
            family=family,
            weight=float(rng.lognormal(0, 1)),
            created_week=first_week,
            launch_week=None if in_development else first_week,
            stop_week=args.weeks - 5 if i % 12 == 7 else args.weeks,  # not scored for five weeks: a zombie
        )
        plan.versions = version_schedule(family, first_week=first_week, count=version_counts[i], weeks=args.weeks)
        plan.actions = promotion_schedule(plan, index=i, weeks=args.weeks)
        plan.shadow_week = min(
            (w for w, acts in plan.actions.items() for k, _ in acts if k == "challenger"), default=None
        )
        plans.append(plan)
    return plans


def _demo_plan(ctx: Context, family: Family, number: int, weeks: int, rng: np.random.Generator) -> ModelPlan:
    """The demo's models go on being scored with the aliases the demo left them."""
    shadowing = ctx.registry.alias_version(family.name, SHADOW_ALIAS) is not None
    return ModelPlan(
        family.name, number, family, float(rng.lognormal(0, 1)), 0, 0, weeks, shadow_week=0 if shadowing else None
    )


def segment_name(index: int) -> str:
    rounds, position = divmod(index, len(SEGMENTS))
    return SEGMENTS[position] + (str(rounds + 1) if rounds else "")


def split_total(total: int, weights: Sequence[float] | np.ndarray, *, minimum: int = 0) -> list[int]:
    """`total` split in proportion to `weights` (largest remainder), each part at least `minimum`."""
    weights = np.asarray(weights, dtype=float)
    if len(weights) == 0 or weights.sum() <= 0:
        return [0] * len(weights)
    spare = total - minimum * len(weights)
    exact = spare * weights / weights.sum()
    parts = np.floor(exact).astype(int)
    for index in np.argsort(parts - exact)[: spare - int(parts.sum())]:
        parts[index] += 1
    return [int(part) + minimum for part in parts]


def version_schedule(family: Family, *, first_week: int, count: int, weeks: int) -> list[tuple[int, Source]]:
    """v1 made from the demo's v1, v2 from a challenger candidate, the rest cycling over the demo's
    versions; made at even intervals from the model's first week to the year's end."""
    sources = [family.sources[0], family.challenger]
    sources += [family.sources[(n + 1) % len(family.sources)] for n in range(count)]
    span = max(weeks - 1 - first_week, 0)
    return [(first_week + n * span // count, sources[n]) for n in range(count)]


def promotion_schedule(plan: ModelPlan, *, index: int, weeks: int) -> dict[int, list[tuple[str, str]]]:
    """A launch, then, depending on the model: a challenger in shadow, an upgrade to its best version
    (sometimes rolled back), a rejected candidate, a request left open at the end."""
    actions: dict[int, list[tuple[str, str]]] = {}

    def add(week: int, kind: str, candidates: list[str]) -> None:
        if week < weeks and candidates:
            actions.setdefault(week, []).append((kind, candidates[-1]))

    def later_versions(week: int, source: Source | None = None) -> list[str]:
        return [v for v in plan.versions_by(week, source) if v != "1"]

    if plan.launch_week is None:
        add(weeks - 1, "pending", plan.versions_by(weeks - 1))
        return actions
    launch, life = plan.launch_week, weeks - plan.launch_week
    add(launch, "launch", ["1"])
    if index % 4 == 1 and len(plan.versions) > 1:  # v2, made from a challenger candidate, once it exists
        add(max(launch + 2, plan.versions[1][0]), "challenger", ["2"])
    if index % 2 == 0:
        upgrade = launch + life // 2
        add(upgrade, "upgrade", later_versions(upgrade, plan.family.upgrade))
        if index % 10 == 2 and upgrade in actions:
            add(upgrade + 3, "rollback", ["1"])
    if index % 6 == 3:
        add(launch + life // 3, "reject", later_versions(launch + life // 3))
    if index % 8 == 5:
        add(weeks - 2, "pending", later_versions(weeks - 2))
    return actions


# --- writing --------------------------------------------------------------------------------------


class AuditWriter:
    """Appends records to the audit trail in groups, through `AuditLog.append_many`: chained after the
    tip, under the writers' lock, so the real jobs' records and ours form one chain."""

    GROUP = 100_000  # records per Delta commit

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def count(self) -> int:
        highest = self.ctx.store.scan(AUDIT).select(pl.col("seq").max()).collect().item()
        return highest or 0  # seq is gap-free from 1

    def append(self, entries: Sequence[AuditEntry]) -> None:
        ordered = sorted(entries, key=lambda e: e.at)
        for first in range(0, len(ordered), self.GROUP):
            self.ctx.audit.append_many(ordered[first : first + self.GROUP], commit=GENERATOR)


def audit_entry(
    *, at: datetime, actor: str, action: str, object_type: str, object_id: str, **details: Any
) -> AuditEntry:
    """A record as `JobRun.audit` writes it."""
    return AuditEntry(
        event_id=uuid.uuid4().hex,
        at=at,
        actor=actor,
        action=action,
        object_type=object_type,
        object_id=object_id,
        outcome="ok",
        reason="",
        details=canonical_json(details),
    )


class ObjectPool:
    """Ids of real objects by type, so records drawn from the demo's mix name objects that exist."""

    def __init__(self) -> None:
        self._ids: dict[str, list[tuple[str, str]]] = {}

    def add(self, object_type: str, object_id: str, model: str = "") -> None:
        self._ids.setdefault(object_type, []).append((object_id, model))

    def pick(self, object_type: str, rng: np.random.Generator) -> tuple[str, str] | None:
        ids = self._ids.get(object_type)
        return ids[int(rng.integers(len(ids)))] if ids else None


def drawn_entries(
    templates: Sequence[AuditEntry],
    pool: ObjectPool,
    rng: np.random.Generator,
    *,
    count: int,
    start: datetime,
    end: datetime,
) -> list[AuditEntry]:
    """`count` records drawn from the demo's records, at times spread over [start, end), each naming
    an existing object of its template's type and its own run id."""
    drawable = [(t, details) for t in templates if GOVERNED not in (details := json.loads(t.details))]
    templates, parsed = [t for t, _ in drawable], [details for _, details in drawable]
    span = int((end - start) / timedelta(microseconds=1))
    offsets = np.sort(rng.integers(0, span, count))
    entries = []
    for offset, pick in zip(offsets.tolist(), rng.integers(0, len(templates), count).tolist(), strict=True):
        template, details = templates[pick], dict(parsed[pick], run_id=uuid.uuid4().hex)
        found = pool.pick(template.object_type, rng)
        object_id = template.object_id
        if found is not None:
            object_id = found[0]
            if found[1] and "model" in details:
                details["model"] = found[1]
        entries.append(
            AuditEntry(
                event_id=uuid.uuid4().hex,
                at=start + timedelta(microseconds=offset),
                actor=template.actor,
                action=template.action,
                object_type=template.object_type,
                object_id=object_id,
                outcome=template.outcome,
                reason=template.reason,
                details=canonical_json(details),
            )
        )
    return entries


class WeekRows:
    """The rows a week adds to each table, appended once at the week's end (one commit per table)."""

    def __init__(self) -> None:
        self.frames: dict[str, list[pl.DataFrame]] = {}
        self.audit: list[AuditEntry] = []

    def add(self, table: str, frame: pl.DataFrame | list[dict[str, Any]]) -> None:
        schema = SCHEMAS[table]
        if isinstance(frame, list):
            frame = pl.DataFrame(frame, schema=schema)
        # columns added to a table since this generator was written are nullable: left empty here
        columns = [pl.col(n).cast(t) if n in frame.columns else pl.lit(None, t).alias(n) for n, t in schema.items()]
        self.frames.setdefault(table, []).append(frame.select(columns))

    def flush(self, ctx: Context, audit: AuditWriter) -> int:
        """Append everything; returns the predictions written."""
        predictions = 0
        for table, frames in self.frames.items():
            frame = pl.concat(frames)
            ctx.store.append(table, frame, commit=GENERATOR)
            predictions += frame.height if table == PREDICTIONS else 0
        audit.append(self.audit)
        self.frames, self.audit = {}, []
        return predictions


# --- derived rows ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scored:
    """One batch as written, kept until its labels arrive."""

    plan: ModelPlan
    role: str
    version: str
    batch_id: str
    keys: pl.Series
    scores: np.ndarray


def perturbed(scores: np.ndarray, rng: np.random.Generator, spread: float = 0.25) -> np.ndarray:
    """Scores moved a little in logit space: same shape of distribution, no two batches alike."""
    clipped = np.clip(scores, 1e-6, 1 - 1e-6)
    logit = np.log(clipped / (1 - clipped)) + rng.normal(0, spread, len(scores))
    return 1 / (1 + np.exp(-logit))


SCALED_JOBS = frozenset({"score", "labels"})  # jobs whose work grows with their rows


def run_row(job: str, *, actor: str, model: str, ended: datetime, rows: int, costs: dict[str, float]) -> dict[str, Any]:
    """An ops/runs row costing what the demo's runs of `job` cost on average (per row, if its work grows with them)."""
    factor = rows / max(costs["rows"], 1.0) if job in SCALED_JOBS else 1.0
    wall = costs["wall_seconds"] * factor
    return {
        "run_id": uuid.uuid4().hex,
        "job": job,
        "actor": actor,
        "model": model,
        "started_at": ended - timedelta(seconds=wall),
        "ended_at": ended,
        "wall_seconds": wall,
        "cpu_seconds": costs["cpu_seconds"] * factor,
        "rows": rows,
        "bytes_written": int(costs["bytes_written"] * factor),
        "status": "succeeded",
        "error": "",
    }


def monitor_entry(run: dict[str, Any], *, drift: int, performance: int) -> AuditEntry:
    """The record `monitor` writes: how many batches got drift, quality and estimates, or realized performance."""
    return audit_entry(
        at=run["ended_at"],
        actor=run["actor"],
        action="monitor",
        object_type="model",
        object_id=run["model"],
        drift_batches=drift,
        estimated_batches=drift,
        performance_batches=performance,
        quality_batches=drift,
        run_id=run["run_id"],
    )


@dataclass(frozen=True)
class ModelWeek:
    """A model's scoring of one week's window: the same rows, scored by each of its roles in one run."""

    plan: ModelPlan
    week: int
    window: tuple[datetime, datetime]
    table: str
    table_version: int
    keys: pl.Series
    event_ts: pl.Series
    score_run: dict[str, Any]
    monitor_run: dict[str, Any]

    @property
    def scored_at(self) -> datetime:
        return self.score_run["ended_at"]

    def batch_id(self, version: str) -> str:
        return batch_identity(
            model=self.plan.name,
            version=version,
            table=self.table,
            table_version=self.table_version,
            start=self.window[0],
            end=self.window[1],
        )


def prediction_frame(scoring: ModelWeek, role: str, version: str, scores: np.ndarray) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "model": scoring.plan.name,
            "model_version": version,
            "role": role,
            "batch_id": scoring.batch_id(version),
            "scored_at": scoring.scored_at,
            "entity_key": scoring.keys,
            "event_ts": scoring.event_ts,
            "score": scores,
            "predicted_label": (scores >= DECISION_THRESHOLD).astype(np.int64),
            "input_table": scoring.table,
            "input_version": scoring.table_version,
            "run_id": scoring.score_run["run_id"],
        }
    )


def batch_row(scoring: ModelWeek, role: str, version: str) -> dict[str, Any]:
    return {
        "batch_id": scoring.batch_id(version),
        "model": scoring.plan.name,
        "model_version": version,
        "role": role,
        "input_table": scoring.table,
        "input_version": scoring.table_version,
        "window_start": scoring.window[0],
        "window_end": scoring.window[1],
        "rows": len(scoring.keys),
        "scored_at": scoring.scored_at,
        "actor": scoring.score_run["actor"],
        "run_id": scoring.score_run["run_id"],
    }


def scoring_lineage(scoring: ModelWeek, version: str) -> pl.DataFrame:
    batch_id = scoring.batch_id(version)
    edges = [
        LineageEdge("model_version", f"{scoring.plan.name}/{version}", "scored", "batch", batch_id),
        LineageEdge("table", f"{scoring.table}@{scoring.table_version}", "scored_in", "batch", batch_id),
    ]
    return lineage_frame(edges, at=scoring.scored_at, run_id=scoring.score_run["run_id"])


def score_entry(scoring: ModelWeek, role: str, version: str) -> AuditEntry:
    return audit_entry(
        at=scoring.scored_at,
        actor=scoring.score_run["actor"],
        action="score",
        object_type="batch",
        object_id=scoring.batch_id(version),
        model=scoring.plan.name,
        role=role,
        rows=len(scoring.keys),
        run_id=scoring.score_run["run_id"],
        table=f"{scoring.table}@{scoring.table_version}",
        version=version,
    )


def drift_rows(template: pl.DataFrame, rng: np.random.Generator, **columns: Any) -> pl.DataFrame:
    """The template batch's drift rows with statistics perturbed by up to 15%, judged again."""
    before = template["statistic"].to_numpy()
    after = before * rng.uniform(0.85, 1.15, len(before))
    after = np.where(before <= 1.0, np.minimum(after, 1.0), after)  # p-values and bounded distances stay in [0, 1]
    drifted = [
        judge_feature(feature=f, method=m, statistic=s, threshold=t).drifted
        for f, m, s, t in zip(
            template["feature"], template["method"], after.tolist(), template["threshold"], strict=True
        )
    ]
    return template.with_columns(
        pl.Series("statistic", after), pl.Series("drifted", drifted), *(pl.lit(v).alias(k) for k, v in columns.items())
    )


# --- the year after the demo, week by week ---------------------------------------------------------


class ScaleBuilder:
    """The year after the demo, one week at a time, in the order things happen in a week: versions are
    made (and the audit trail grows), promotions are decided, input rows land, batches are scored and
    monitored, labels of two weeks ago arrive; then the week's rows are appended."""

    def __init__(self, ctx: Context, clock: SimulatedClock, args: argparse.Namespace, say: Progress) -> None:
        self.ctx, self.clock, self.args, self.say = ctx, clock, args, say
        self.rng = np.random.default_rng(args.seed)
        self.families = demo_families(ctx, weeks=args.weeks, seed=args.seed)
        self.templates = demo_templates(ctx)
        self.plans = make_plan(ctx, self.families, args)
        self.audit = AuditWriter(ctx)
        self.pool = ObjectPool()
        self.rows = WeekRows()
        self.input_versions: dict[str, int] = {}
        self.aliases: dict[str, dict[str, str]] = {}
        self.awaiting_labels: dict[int, list[Scored]] = {}
        self.predictions = ctx.store.scan(PREDICTIONS).select(pl.len()).collect().item()  # the demo's
        self.outcomes: Counter[str] = Counter()
        self.refusals: dict[str, str] = {}
        self.audit_base = self.audit.count()
        self._seed_pool()

    def week_start(self, week: int) -> datetime:
        return SCALE_START + week * WEEK

    def _seed_pool(self) -> None:
        for entry in self.templates.audit:
            if entry.object_type in ("promotion_request", "batch", "model_version", "model"):
                model = entry.object_id.split("/")[0] if entry.object_type in ("model_version", "model") else ""
                self.pool.add(entry.object_type, entry.object_id, model)

    def run(self, scratch: Path) -> None:
        for week in range(self.args.weeks):
            made = self.register_versions(week)
            self.fill_audit(week, made)
            self.promote(week)
            self.ingest_inputs(week, scratch)
            batches = self.score(week)
            self.labels_arrive(week)
            self.predictions += self.rows.flush(self.ctx, self.audit)
            self.say(
                f"week {week + 1}/{self.args.weeks}: {made} versions made, {batches} batches scored, "
                f"{self.predictions:,} predictions and {self.audit.count():,} audit records so far"
            )
        self.top_up_audit()

    # --- models and versions ---

    def register_versions(self, week: int) -> int:
        made = 0
        for plan in self.plans:
            for number, (week_made, source) in enumerate(plan.versions, start=1):
                if week_made == week:
                    self.register(plan, number, source, at=self.week_start(week) + timedelta(days=4, seconds=made))
                    made += 1
        return made

    def register(self, plan: ModelPlan, number: int, source: Source, *, at: datetime) -> None:
        """A new version of the demo's artifact, tagged as `pipelines.jobs.train` tags what it trains."""
        client = self.ctx.registry.client
        if number == 1:
            client.create_registered_model(plan.name)
        train = self.job_row("train", plan, ended=at, rows=2)  # rows: its lineage edges
        tags = {**source.tags, TAG_TRAINER: plan.family.maker, "mlgov.run_id": train["run_id"]}
        client.create_model_version(plan.name, source=source.uri, run_id=source.run_id, tags=tags)
        version_id = f"{plan.name}/{number}"
        edge = LineageEdge("mlflow_run", source.run_id, "registered", "model_version", version_id)
        self.rows.add(LINEAGE, lineage_frame([edge], at=at, run_id=train["run_id"]))
        self.rows.add(RUNS, [train])
        self.rows.audit.append(
            audit_entry(
                at=at,
                actor=plan.family.maker,
                action="train",
                object_type="model_version",
                object_id=version_id,
                algorithm=source.tags[TAG_ALGORITHM],
                mlflow_run_id=source.run_id,
                roc_auc=f"{source.roc_auc:.6f}",
                run_id=train["run_id"],
                table=f"{source.tags[TAG_TABLE]}@{source.tags[TAG_TABLE_VERSION]}",
            )
        )
        self.pool.add("model_version", version_id, plan.name)
        if number == 1:
            self.pool.add("model", plan.name, plan.name)

    def fill_audit(self, week: int, made: int) -> None:
        """Records drawn from the demo's mix, before this week's jobs, so the trail grows evenly towards its
        target; a last share is left for after the year, so that the jobs' own records do not overshoot it."""
        target = self.args.audit_events
        goal = self.audit_base + (target - self.audit_base) * (week + 1) // (self.args.weeks + 1)
        count = max(0, goal - self.audit.count() - made)
        start = self.week_start(week) + timedelta(hours=12)  # after the demo's last record
        drawn = drawn_entries(
            self.templates.audit, self.pool, self.rng, count=count, start=start, end=start + timedelta(days=3)
        )
        self.audit.append([*drawn, *self.rows.audit])
        self.rows.audit = []

    def top_up_audit(self) -> None:
        missing = self.args.audit_events - self.audit.count()
        if missing < 0:
            self.say(f"the audit trail holds {-missing} records more than --audit-events: the jobs wrote them")
        start = self.week_start(self.args.weeks) + timedelta(hours=12)
        count = max(missing, 0)
        drawn = drawn_entries(self.templates.audit, self.pool, self.rng, count=count, start=start, end=start + WEEK / 2)
        self.audit.append(drawn)

    # --- promotions, through the real jobs ---

    def promote(self, week: int) -> None:
        at = self.week_start(week) + timedelta(days=5)
        for plan in self.plans:
            if not plan.demo and plan.created_week == week:
                self.clock.set(at)
                segment = plan.name.removeprefix(plan.family.name + "_")
                purpose = f"{plan.family.purpose} Segment {segment}."
                set_model_policy(self.ctx, model=plan.name, tier=plan.family.tier, purpose=purpose, actor=ADMIN)
            for kind, version in plan.actions.get(week, []):
                self.clock.set(at)
                try:
                    outcome = self.act(plan, kind, version)
                except MlgovError as refused:  # audited by the job as a refusal, as it would be for real
                    outcome = "refused"
                    self.refusals.setdefault(kind, f"{plan.name} v{version}: {refused}")
                self.outcomes[f"{kind}: {outcome}"] += 1
        self.aliases = {m.name: dict(m.aliases) for m in self.ctx.registry.models()}

    def act(self, plan: ModelPlan, kind: str, version: str) -> str:
        maker = plan.family.maker
        if kind == "rollback":
            rollback(
                self.ctx, model=plan.name, reason="alert volume up since the upgrade; back while we look", actor="raj"
            )
            return "rolled back"
        alias = SHADOW_ALIAS if kind == "challenger" else PRODUCTION_ALIAS
        reasons = {
            "launch": "first production model",
            "challenger": "watch it in shadow",
            "upgrade": "best holdout so far",
        }
        reason = reasons.get(kind, "retrained on the latest data")
        request = request_promotion(self.ctx, model=plan.name, version=version, reason=reason, actor=maker, alias=alias)
        self.pool.add("promotion_request", request.request_id, plan.name)
        if kind == "reject":
            reject(self.ctx, request_id=request.request_id, reason="recall too low for this segment", actor="sofia")
            return "rejected"
        if kind == "pending":
            if plan.number % 2:
                approve(self.ctx, request_id=request.request_id, reason=REVIEWS[0][1], actor=REVIEWS[0][0])
            return "left open"
        return self.review(request)

    def review(self, request: PromotionResult) -> str:
        """Reviewers approve in turn until the alias moves or the policy blocks it."""
        result = request
        for reviewer, reason in REVIEWS:
            if result.status is not PromotionStatus.PENDING or len(result.approvals) >= result.required:
                break
            result = approve(self.ctx, request_id=request.request_id, reason=reason, actor=reviewer)
        if result.alias_moved:
            return "alias moved"
        self.refusals.setdefault("blocked", f"{request.model} v{request.version}: {'; '.join(result.blocked_by)}")
        return "blocked by policy"

    # --- data, scoring and monitoring ---

    def ingest_inputs(self, week: int, scratch: Path) -> None:
        """The week's input rows land through the real ingest job, one table version per week."""
        self.clock.set(self.week_start(week + 1) + timedelta(hours=1))
        for family in self.families.values():
            dataset = family.dataset
            path = scratch / f"{dataset.table}_scale_week{week}.parquet"
            dataset.weeks[week].drop(dataset.target).write_parquet(path)
            result = ingest(
                self.ctx,
                table=family.input_table,
                path=path,
                key=dataset.key,
                timestamp=dataset.timestamp,
                actor=family.maker,
            )
            self.input_versions[family.name] = result.version

    def week_rows(self, week: int) -> int:
        """This week's share of the predictions still to write, by the batches the plan expects."""
        remaining = max(self.args.predictions - self.predictions, 0)
        expected = [sum(p.weight * p.planned_batches(w) for p in self.plans) for w in range(week, self.args.weeks)]
        if week == self.args.weeks - 1 or sum(expected) == 0:
            return remaining
        return round(remaining * expected[0] / sum(expected))

    def score(self, week: int) -> int:
        live = []
        for plan in self.plans:
            roles = {r: v for r, v in self.aliases.get(plan.name, {}).items() if r in (PRODUCTION_ALIAS, SHADOW_ALIAS)}
            if roles.get(SHADOW_ALIAS) == roles.get(PRODUCTION_ALIAS):
                roles.pop(SHADOW_ALIAS, None)
            if PRODUCTION_ALIAS in roles and plan.launch_week is not None and week < plan.stop_week:
                live.append((plan, roles))
        shares = split_total(self.week_rows(week), [plan.weight * len(roles) for plan, roles in live])
        entities = [share // len(roles) for share, (_, roles) in zip(shares, live, strict=True)]
        if live:  # what halving left over goes to the first model scored by its champion alone
            left = sum(shares) - sum(n * len(roles) for n, (_, roles) in zip(entities, live, strict=True))
            single = next((i for i, (_, roles) in enumerate(live) if len(roles) == 1), None)
            if single is not None:
                entities[single] += left
        scored = []
        for (plan, roles), count in zip(live, entities, strict=True):
            if count:
                scored += self.score_model(plan, roles, week=week, count=count)
        self.awaiting_labels[week] = scored
        return len(scored)

    def job_row(self, job: str, plan: ModelPlan, *, ended: datetime, rows: int = 0) -> dict[str, Any]:
        actor = ANALYST if job == "monitor" else plan.family.maker  # as in the demo
        return run_row(job, actor=actor, model=plan.name, ended=ended, rows=rows, costs=self.templates.runs[job])

    def score_model(self, plan: ModelPlan, roles: dict[str, str], *, week: int, count: int) -> list[Scored]:
        """One week of a model: the same rows scored by its champion and, in shadow, its challenger,
        then monitored; what `score` and `monitor` would write, derived from the demo's rows."""
        window = (self.week_start(week), self.week_start(week + 1))
        scored_at = window[1] + timedelta(hours=2, seconds=plan.number)
        scoring = ModelWeek(
            plan=plan,
            week=week,
            window=window,
            table=f"raw/{plan.family.input_table}",
            table_version=self.input_versions[plan.family.name],
            keys=self.entity_keys(plan, count),
            event_ts=self.event_times(window, count),
            score_run=self.job_row("score", plan, ended=scored_at, rows=count * len(roles)),
            monitor_run=self.job_row("monitor", plan, ended=scored_at + timedelta(minutes=5)),
        )
        pool = self.templates.scores[self.templates.key(plan.family.name, PRODUCTION_ALIAS, self.drifted(week))]
        base = self.rng.choice(pool, count)  # both roles score the same entities: correlated scores
        scored = [self.score_role(scoring, role, version, perturbed(base, self.rng)) for role, version in roles.items()]
        self.rows.add(RUNS, [scoring.score_run, scoring.monitor_run])
        self.rows.audit.append(monitor_entry(scoring.monitor_run, drift=len(roles), performance=0))
        return scored

    def score_role(self, scoring: ModelWeek, role: str, version: str, scores: np.ndarray) -> Scored:
        batch_id = scoring.batch_id(version)
        self.rows.add(PREDICTIONS, prediction_frame(scoring, role, version, scores))
        self.rows.add(BATCHES, [batch_row(scoring, role, version)])
        self.rows.add(LINEAGE, scoring_lineage(scoring, version))
        self.monitor_batch(scoring, role, version)
        self.rows.audit.append(score_entry(scoring, role, version))
        self.pool.add("batch", batch_id, scoring.plan.name)
        return Scored(scoring.plan, role, version, batch_id, scoring.keys, scores)

    def drifted(self, week: int) -> bool:
        return week >= self.args.weeks // 2  # as the input rows: see demo_families

    def monitor_batch(self, scoring: ModelWeek, role: str, version: str) -> None:
        """Drift, quality and estimated performance of a batch, from a demo batch of the same model,
        role and drift regime (each model walks through them in its own order)."""
        plan, week = scoring.plan, scoring.week
        templates = self.templates.batches[self.templates.key(plan.family.name, role, self.drifted(week))]
        template = templates[(week + plan.number) % len(templates)]
        run = scoring.monitor_run
        same = {"batch_id": scoring.batch_id(version), "model": plan.name}
        same |= {"computed_at": run["ended_at"], "run_id": run["run_id"]}
        rows = len(scoring.keys)
        drift = drift_rows(self.templates.drift[template], self.rng, **same, model_version=version, current_rows=rows)
        quality = self.templates.quality[template].with_columns(pl.lit(v).alias(k) for k, v in same.items())
        estimated = {**same, "model_version": version, "batch_rows": rows}
        performance = self.templates.estimated[template].with_columns(pl.lit(v).alias(k) for k, v in estimated.items())
        self.rows.add(DRIFT, drift)
        self.rows.add(QUALITY, quality)
        self.rows.add(PERFORMANCE, performance)

    def entity_keys(self, plan: ModelPlan, count: int) -> pl.Series:
        first, plan.next_key = plan.next_key, plan.next_key + count
        serials = pl.int_range(first, first + count, eager=True).cast(pl.String).str.zfill(8)
        return (f"{plan.family.key_prefix}-{plan.number:02d}-" + serials).alias("entity_key")

    def event_times(self, window: tuple[datetime, datetime], count: int) -> pl.Series:
        span = int((window[1] - window[0]) / timedelta(microseconds=1))
        offsets = np.sort(self.rng.integers(0, span, count))
        start = pl.Series([window[0]]).dt.epoch("us")[0]
        return pl.Series("event_ts", start + offsets).cast(pl.Datetime("us", "UTC"))

    def labels_arrive(self, week: int) -> None:
        """Labels of the batches scored two weeks ago arrive (most of them); realized performance follows."""
        arrived_at = self.week_start(week + 1) + timedelta(hours=2, minutes=30)
        by_plan: dict[str, list[Scored]] = {}
        for batch in self.awaiting_labels.pop(week - LABEL_DELAY_WEEKS, []):
            by_plan.setdefault(batch.plan.name, []).append(batch)
        for batches in by_plan.values():
            self.label_model_week(batches, at=arrived_at)

    def label_model_week(self, batches: list[Scored], *, at: datetime) -> None:
        """Most of a model-week's entities get a label (drawn from the champion's score, so the scores are
        calibrated); `labels` writes them, then `monitor` computes each batch's realized performance."""
        plan = batches[0].plan
        champion = next(b for b in batches if b.role == PRODUCTION_ALIAS)
        labelled = np.flatnonzero(self.rng.random(len(champion.keys)) < self.rng.uniform(0.85, 1.0))
        truth = (self.rng.random(len(labelled)) < champion.scores[labelled]).astype(np.int64)
        labels_run = self.job_row("labels", plan, ended=at, rows=len(labelled))
        monitor_run = self.job_row("monitor", plan, ended=at + timedelta(minutes=5))
        labels = {"model": plan.name, "entity_key": champion.keys.gather(labelled), "label": truth}
        self.rows.add(LABELS, pl.DataFrame({**labels, "arrived_at": at, "run_id": labels_run["run_id"]}))
        for batch in batches:
            same: dict[str, Any] = {"batch_id": batch.batch_id, "model": plan.name, "model_version": batch.version}
            same |= {"kind": "realized", "labelled_rows": len(labelled), "batch_rows": len(batch.keys)}
            same |= {"computed_at": monitor_run["ended_at"], "run_id": monitor_run["run_id"]}
            metrics = classification_metrics(truth, batch.scores[labelled])
            self.rows.add(PERFORMANCE, [{**same, "metric": name, "value": value} for name, value in metrics.items()])
        self.rows.add(RUNS, [labels_run, monitor_run])
        source = f"{plan.name}_labels_{at:%Y%m%d}.parquet"
        self.rows.audit.append(
            audit_entry(
                at=at,
                actor=plan.family.maker,
                action="load_labels",
                object_type="model",
                object_id=plan.name,
                rows=len(labelled),
                run_id=labels_run["run_id"],
                source=source,
            )
        )
        self.rows.audit.append(monitor_entry(monitor_run, drift=0, performance=len(batches)))


# --- the summary ----------------------------------------------------------------------------------

SUMMARY_TABLES = (PREDICTIONS, BATCHES, LABELS, DRIFT, QUALITY, PERFORMANCE, LINEAGE, RUNS, AUDIT)


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def summarize(ctx: Context, builder: ScaleBuilder, say: Progress) -> None:
    ctx.store.forget_handles()
    for table in SUMMARY_TABLES:
        say(f"{table}: {ctx.store.scan(table).select(pl.len()).collect().item():,} rows")
    models = ctx.registry.models()
    versions = sum(int(m.latest_version or 0) for m in models)
    champions = sum(PRODUCTION_ALIAS in m.aliases for m in models)
    challengers = sum(SHADOW_ALIAS in m.aliases for m in models)
    pending = sum(r.status is PromotionStatus.PENDING for r in fold_requests(promotion_events(ctx.ledger)).values())
    say(f"registry: {len(models)} models, {versions:,} versions, {champions} champions, {challengers} challengers")
    say(f"promotion requests pending: {pending}; scale-period actions: {dict(sorted(builder.outcomes.items()))}")
    for kind, example in sorted(builder.refusals.items()):
        say(f"  e.g. {kind}: {example}")
    home = ctx.settings.home
    tables, everything = folder_bytes(ctx.settings.lakehouse_root) / 1e9, folder_bytes(home) / 1e9
    say(f"on disk: Delta tables {tables:.2f} GB, the whole home {everything:.2f} GB")
    say(f"done in {say.elapsed:.0f} s, peak RSS {peak_rss_mb():,.0f} MB")
    print(f"open it: MLGOV_HOME={home} .venv/bin/mlgov app   (passwords: {home / 'demo-credentials.txt'})")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    home = args.home.resolve()
    problem = refusal(home)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    say = Progress()
    clock = SimulatedClock(SCALE_START)
    ctx = build_context({"MLGOV_HOME": str(home)}, cwd=home.parent, clock=clock)
    say(f"demo: the real demo story into {home}")
    run_demo(ctx, progress=lambda line: say(f"demo: {line}"))
    grow(ctx, clock, args, say)
    return 0


def grow(ctx: Context, clock: SimulatedClock, args: argparse.Namespace, say: Progress) -> None:
    """The year after the demo, into the demo's lakehouse, then the summary."""
    # create_model_version resolves a "models:/m-..." source through the process's tracking URI
    mlflow.set_tracking_uri(ctx.registry.tracking_uri)
    mlflow.set_registry_uri(ctx.registry.tracking_uri)
    builder = ScaleBuilder(ctx, clock, args, say)
    say(f"plan: {len(builder.plans)} models over {args.weeks} weeks from {SCALE_START:%Y-%m-%d}")
    with tempfile.TemporaryDirectory(prefix="mlgov-scale-") as scratch:
        builder.run(Path(scratch))
    summarize(ctx, builder, say)


if __name__ == "__main__":
    sys.exit(main())
