"""The demo: a deterministic governance story over five models, told through the real jobs.

Every step goes through the same job functions as the CLI (so it writes real Delta tables, MLflow
versions, audit records and run records), under a simulated clock that walks from two months of
history through ten weekly scoring cycles. Along the way: a refused self-approval, a rejected
candidate, a champion replaced mid-way, a regression model (house prices) and a multiclass one
(support tickets: LightGBM from a notebook, logged with plain MLflow and brought in by `register`)
beside the three classifiers, a drift episode from week 6 on the loan, churn,
house and ticket populations, labels that arrive two weeks late, a retrained candidate waiting for its second
approval, and a churn candidate waiting for its first.
"""

from __future__ import annotations

import secrets
import tempfile
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl

from governance.errors import PermissionDenied, PolicyViolation
from governance.promotion import SHADOW_ALIAS, PromotionStatus, RiskTier, fold_requests, tier_policy
from governance.roles import Role
from governance.tasks import Task, gate_metric
from lakehouse.records import access_policy, promotion_events
from lakehouse.schemas import BATCHES
from pipelines.context import Context
from pipelines.demo.data import DemoDataset, build_demo_datasets
from pipelines.demo.notebook import fit_and_log_lightgbm
from pipelines.jobs.access import init_lakehouse
from pipelines.jobs.ingest import ingest
from pipelines.jobs.labels import load_labels
from pipelines.jobs.models import set_model_policy
from pipelines.jobs.monitor import monitor
from pipelines.jobs.promote import approve, reject, request_promotion, rollback
from pipelines.jobs.register import RegisterResult, register
from pipelines.jobs.score import score
from pipelines.jobs.train import TrainResult, train
from pipelines.jobs.users import add_user
from pipelines.ml.modeling import Algorithm

START = datetime(2026, 6, 1, tzinfo=UTC)  # the fixed start tests and benchmarks tell the story from
WEEKS = 10
DRIFT_FROM_WEEK = 6
LABEL_DELAY_WEEKS = 2
RETRAIN_WEEK = 9
DEFAULT_ADMIN = "ada"
CREDENTIALS_FILE = "demo-credentials.txt"
POLICIES = {
    "loan_default": ("high", "Decide consumer loan applications: probability of default within 12 months."),
    "churn": ("medium", "Prioritise retention offers: probability a subscriber cancels next month."),
    "fraud": ("low", "Queue card transactions for manual review: probability of fraud."),
    "house_price": ("medium", "Suggest an asking price for new listings: expected sale price in euros."),
    "ticket_router": ("low", "Route support tickets to a queue: billing, technical, sales or account."),
}
REVIEWS = [
    ("rita", "holdout metrics and model card reviewed"),
    ("raj", "agree; no quality alerts on the training data"),
    ("sofia", "risk sign-off: features are permissible for this purpose"),
]
MAKERS = {"loan_default": "maya", "churn": "omar", "fraud": "maya", "house_price": "omar", "ticket_router": "maya"}
# Boosted models are LightGBM (one thread): scikit-learn's HGB, refitted five times for its label-free
# estimator, took half the demo's time on a busy machine.
FIRST_ALGORITHM = {"house_price": Algorithm.LIGHTGBM}  # others: logreg
BOOSTED = Algorithm.LIGHTGBM
FROM_NOTEBOOK = {"ticket_router"}  # v1 is LightGBM from a notebook, logged with plain MLflow
USERS = {
    "maya": Role.MAKER,
    "omar": Role.MAKER,
    "rita": Role.REVIEWER,
    "raj": Role.REVIEWER,
    "sofia": Role.REVIEWER,
    "aiko": Role.AUDITOR,
    "ana": Role.ANALYST,
}

Progress = Callable[[str], None]


class SimulatedClock:
    """The demo's clock: it moves only when the story says so, a second per reading."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        self.at += timedelta(seconds=1)
        return self.at

    def set(self, at: datetime) -> None:
        self.at = max(self.at, at)


@dataclass(frozen=True)
class DemoSummary:
    home: str
    models: int
    versions: int
    batches: int
    pending_requests: int


def _is_empty(ctx: Context) -> bool:
    return not ctx.registry.models() and not ctx.store.list_tables("raw")


def demo_start(now: datetime) -> datetime:
    """A start from which the story ends on the day before `now`: its champions are freshly scored and
    monitored, so none is a zombie until its batches really are two weeks old."""
    today = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - timedelta(weeks=WEEKS, days=1)


def run_demo(ctx: Context, *, start: datetime = START, progress: Progress | None = None) -> DemoSummary:
    """Seed an empty lakehouse with the demo story told from `start`; refuses a lakehouse that already has data."""
    say = progress or (lambda _line: None)
    clock = SimulatedClock(start - timedelta(weeks=1))
    ctx = replace(ctx, clock=clock)
    init_lakehouse(ctx, admin=None)
    if not _is_empty(ctx):
        raise PolicyViolation(
            f"the lakehouse at {ctx.settings.home} already has data: point MLGOV_HOME at a new folder"
        )
    admins = access_policy(ctx.ledger).users_with(Role.ADMIN)
    admin = admins[0] if admins else DEFAULT_ADMIN
    if not admins:
        init_lakehouse(ctx, admin=admin)
    passwords = {user: secrets.token_urlsafe(12) for user in (admin, *USERS)}
    for user, role in ((admin, Role.ADMIN), *USERS.items()):
        add_user(ctx, user=user, role=role.value, password=passwords[user], actor=admin)
    credentials = _write_credentials(ctx, passwords)
    say(f"users: {admin} (admin), " + ", ".join(f"{u} ({r.value})" for u, r in USERS.items()))
    say(f"their sign-in passwords, random for this lakehouse: {credentials}")

    datasets = build_demo_datasets(
        start=start, history_rows=3000, batch_rows=1000, n_weeks=WEEKS, drift_from_week=DRIFT_FROM_WEEK, tasks=True
    )
    with tempfile.TemporaryDirectory(prefix="mlgov-demo-") as scratch:
        files = Path(scratch)
        for dataset in datasets:
            _launch(ctx, clock, dataset, files, say, admin=admin, start=start)
        for week in range(WEEKS):
            for dataset in datasets:
                _weekly_cycle(ctx, clock, dataset, week, files, say, start=start)
        _retrain_after_drift(ctx, clock, datasets[0], files, say, start=start)
    request = request_promotion(ctx, model="churn", version="2", reason="ten weeks in shadow beside v1", actor="omar")
    say(f"churn: v2 put forward for champion with its shadow record ({request.request_id} awaits review)")

    batches = ctx.store.read(BATCHES).height
    versions = sum(int(m.latest_version or 0) for m in ctx.registry.models())
    requests = fold_requests(promotion_events(ctx.ledger)).values()
    pending = sum(r.status is PromotionStatus.PENDING for r in requests)
    return DemoSummary(
        home=str(ctx.settings.home), models=len(datasets), versions=versions, batches=batches, pending_requests=pending
    )


def _write_credentials(ctx: Context, passwords: dict[str, str]) -> Path:
    """The demo users' random passwords, readable only by the owner of the lakehouse."""
    path = ctx.settings.home / CREDENTIALS_FILE
    path.touch(mode=0o600, exist_ok=True)
    path.write_text("".join(f"{user} {password}\n" for user, password in passwords.items()), encoding="utf-8")
    return path


def _launch(
    ctx: Context,
    clock: SimulatedClock,
    dataset: DemoDataset,
    files: Path,
    say: Progress,
    *,
    admin: str,
    start: datetime,
) -> None:
    """History lands, v1 is trained and approved by its tier's reviewers; a second candidate is judged."""
    model, maker = dataset.model, MAKERS[dataset.model]
    clock.set(start - timedelta(days=6))
    history = files / f"{dataset.table}_history.parquet"
    dataset.history.write_parquet(history)
    ingest(ctx, table=dataset.table, path=history, key=dataset.key, timestamp=dataset.timestamp, actor=maker)
    v1: TrainResult | RegisterResult
    if model in FROM_NOTEBOOK:  # trained in a notebook, logged with plain MLflow, brought in by register
        uri = fit_and_log_lightgbm(dataset, tracking_uri=ctx.registry.tracking_uri)
        v1 = register(ctx, model=model, model_uri=uri, table=dataset.table, target=dataset.target, actor=maker)
        say(f"{model}: a LightGBM model from {maker}'s notebook registered as v{v1.version} ({uri})")
    else:
        v1 = train(
            ctx,
            model=model,
            table=dataset.table,
            target=dataset.target,
            features=None,
            algorithm=FIRST_ALGORITHM.get(model, Algorithm.LOGREG),
            actor=maker,
        )
    tier, purpose = POLICIES[model]
    set_model_policy(ctx, model=model, tier=tier, purpose=purpose, actor=admin)
    request = request_promotion(ctx, model=model, version=v1.version, reason="first production model", actor=maker)
    with suppress(PermissionDenied):  # the maker tries to approve their own request: refused and audited
        approve(ctx, request_id=request.request_id, reason="looks good to me", actor=maker)
    for reviewer, reason in REVIEWS[: tier_policy(RiskTier(tier)).required_approvals]:
        approve(ctx, request_id=request.request_id, reason=reason, actor=reviewer)
    gate = gate_metric(Task(v1.task))
    holdout = f"holdout {gate.label} {v1.metrics[gate.name]:.3f}"
    say(f"{model}: v{v1.version} ({v1.task}) promoted to champion ({tier} risk; {holdout})")
    if model in ("fraud", "house_price", "ticket_router"):
        return  # fraud's candidate comes in week 4, once fresh labels exist

    clock.set(start - timedelta(days=3))
    v2 = train(
        ctx,
        model=model,
        table=dataset.table,
        target=dataset.target,
        features=None,
        algorithm=BOOSTED,
        actor=maker,
    )
    if model == "churn":  # watched in shadow first; put forward once there is evidence
        shadow = request_promotion(
            ctx, model=model, version=v2.version, reason="boosting: watch it in shadow", actor=maker, alias=SHADOW_ALIAS
        )
        approve(ctx, request_id=shadow.request_id, reason="shadow serves nothing; worth watching", actor="sofia")
        say(f"{model}: v{v2.version} scored in shadow as challenger from week 0")
        return
    candidate = request_promotion(
        ctx, model=model, version=v2.version, reason="gradient boosting candidate", actor=maker
    )
    if model == "loan_default":
        approve(ctx, request_id=candidate.request_id, reason="better recall", actor="rita")
        reject(ctx, request_id=candidate.request_id, reason="AUC below the champion on holdout", actor="sofia")
        say(f"{model}: v{v2.version} rejected by sofia")


def _weekly_cycle(
    ctx: Context, clock: SimulatedClock, dataset: DemoDataset, week: int, files: Path, say: Progress, *, start: datetime
) -> None:
    """A week's data is scored after the week closes; labels of two weeks ago arrive; monitoring runs."""
    model, maker = dataset.model, MAKERS[dataset.model]
    week_start = start + timedelta(weeks=week)
    clock.set(week_start + timedelta(weeks=1, hours=2))
    incoming = files / f"{dataset.table}_week{week}.parquet"
    dataset.weeks[week].drop(dataset.target).write_parquet(incoming)
    scoring_table = f"{dataset.table}_incoming"
    ingest(ctx, table=scoring_table, path=incoming, key=dataset.key, timestamp=dataset.timestamp, actor=maker)
    if model == "fraud" and week == 4:
        _retrain_fraud(ctx, dataset, files, say)
    if model == "fraud" and week == 8:
        rollback(ctx, model=model, reason="alert volume doubled after v2; back to v1 while we investigate", actor="raj")
        say("fraud: raj rolled the champion back to v1 in week 8")
    score(ctx, model=model, table=scoring_table, start=week_start, end=week_start + timedelta(weeks=1), actor=maker)
    labelled_week = week - LABEL_DELAY_WEEKS
    if labelled_week >= 0:
        labels = files / f"{dataset.table}_labels{labelled_week}.csv"
        dataset.weeks[labelled_week].select(dataset.key, dataset.target).write_csv(labels)
        load_labels(ctx, model=model, path=labels, key=dataset.key, label=dataset.target, actor=maker)
    report = monitor(ctx, model=model, actor="ana")
    latest = report.batches[-1]
    if latest.drifted:
        say(f"{model}: week {week} drifted (share {latest.drift_share:.2f})")


def _retrain_fraud(ctx: Context, dataset: DemoDataset, files: Path, say: Progress) -> None:
    """Labels of weeks 0-2 have arrived: retrain on them too and put the result forward (low risk)."""
    labelled = files / f"{dataset.table}_labelled_w4.parquet"
    pl.concat(dataset.weeks[: 4 - LABEL_DELAY_WEEKS + 1]).write_parquet(labelled)
    ingest(ctx, table=dataset.table, path=labelled, key=dataset.key, timestamp=dataset.timestamp, actor="maya")
    v2 = train(
        ctx,
        model="fraud",
        table=dataset.table,
        target=dataset.target,
        features=None,
        algorithm=Algorithm.LOGREG,
        actor="maya",
    )
    pending = request_promotion(
        ctx, model="fraud", version=v2.version, reason="retrained with three more weeks", actor="maya"
    )
    result = approve(ctx, request_id=pending.request_id, reason="same features, more data; gate passed", actor="sofia")
    state = "replaced v1 as champion" if result.alias_moved else f"is blocked: {'; '.join(result.blocked_by)}"
    say(f"fraud: v{v2.version} {state} in week 4")


def _retrain_after_drift(
    ctx: Context, clock: SimulatedClock, dataset: DemoDataset, files: Path, say: Progress, *, start: datetime
) -> None:
    """Labels of the drifted weeks have arrived: the retraining policy, run by the maker, retrains
    on the latest data and opens a request, which one reviewer approves so far."""
    clock.set(start + timedelta(weeks=WEEKS, hours=6))
    labelled = files / f"{dataset.table}_labelled.parquet"
    pl.concat(dataset.weeks[: WEEKS - LABEL_DELAY_WEEKS]).write_parquet(labelled)
    ingest(ctx, table=dataset.table, path=labelled, key=dataset.key, timestamp=dataset.timestamp, actor="maya")
    report = monitor(ctx, model=dataset.model, actor="maya", retrain=True)
    if report.retrained is None:
        say(f"{dataset.model}: the retraining policy did not fire")
        return
    result = approve(ctx, request_id=report.retrained.request_id, reason="recent data looks right", actor="rita")
    approvals = f"{len(result.approvals)} of {result.required} approvals so far"
    say(f"{dataset.model}: {report.retrained.trigger} -> v{result.version} retrained; {approvals}")
