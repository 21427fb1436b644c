"""Shared fixtures: one real lakehouse (Delta + SQLite MLflow) built per session, copied per test.

Building a registry and logging a model costs seconds, so the seeded lakehouse is made once and each
test gets its own copy in tmp_path (MLflow's artifact paths still point at the session copy, which is
read-only in practice: versions are immutable).
"""

from __future__ import annotations

import os

# Two test workers share two cores: OpenMP threads (HistGradientBoosting, LightGBM, XGBoost) would
# only wait on each other. Set before anything imports them.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import secrets
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from governance.roles import GrantChange
from pipelines.context import Context, build_context
from pipelines.demo.data import DemoDataset, build_demo_datasets
from tests.servers import Postgres, S3Server, postgres_cluster, s3_server

if TYPE_CHECKING:
    from pipelines.jobs.train import TrainResult
    from tests.cli_harness import Cli

START = datetime(2026, 6, 1, tzinfo=UTC)
ADMIN, MAKER, REVIEWER_A, REVIEWER_B, AUDITOR, ANALYST = "ada", "maya", "rita", "raj", "aiko", "ana"


class FixedClock:
    """A settable clock, so tests and the demo control the time written to every record."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


@dataclass(frozen=True)
class Seeded:
    """A lakehouse with users, a trained and promoted loan model, and two scored batches."""

    home: Path
    dataset: DemoDataset
    request_id: str
    batch_ids: tuple[str, ...]
    files: Path


def context_for(home: Path, *, clock: FixedClock | None = None) -> Context:
    environ = {"MLGOV_HOME": str(home)}
    return build_context(environ, cwd=home, clock=clock or FixedClock(START))


_CHANGED = "# changed behind mlgov's back\n"


def flip_artifact(ctx: Context, model: str, version: str) -> None:
    """Change the stored model files of a version, or change them back: its subject changes each time."""
    uri = ctx.registry.client.get_model_version_download_uri(model, version)
    requirements = Path(uri.removeprefix("file://")) / "requirements.txt"
    text = requirements.read_text(encoding="utf-8")
    requirements.write_text(text.removesuffix(_CHANGED) if text.endswith(_CHANGED) else text + _CHANGED, "utf-8")


def _write_inputs(dataset: DemoDataset, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    dataset.history.write_csv(folder / "history.csv")
    for i, week in enumerate(dataset.weeks[:8]):
        week.drop(dataset.target).write_parquet(folder / f"week{i}.parquet")
        week.select(dataset.key, dataset.target).write_csv(folder / f"labels{i}.csv")


def loop_inputs(folder: Path) -> DemoDataset:
    """A small loan dataset's files in `folder` (history.csv, week0.parquet, labels0.csv): inputs of one
    turn of the CLI loop against real servers."""
    dataset = build_demo_datasets(start=START, history_rows=800, batch_rows=300, n_weeks=1, drift_from_week=1)[0]
    _write_inputs(dataset, folder)
    return dataset


def init_loop_team(cli: Cli) -> None:
    """`mlgov init` with ADMIN, then the maker and two reviewers of the CLI loop, through `cli`."""
    assert cli.json("init", "--admin", ADMIN)["admins"] == [ADMIN]
    for user, role in ((MAKER, "maker"), (REVIEWER_A, "reviewer"), (REVIEWER_B, "reviewer")):
        password = f"{secrets.token_hex(8)}\n"
        cli("users", "add", user, "--role", role, "--actor", ADMIN, "--password-stdin", input=password)


def train_loan_model(ctx: Context, dataset: DemoDataset) -> TrainResult:
    """Another version of loan_default: logistic regression on the loans table, trained by the maker."""
    from pipelines.jobs.train import train
    from pipelines.ml.modeling import Algorithm

    return train(
        ctx,
        model="loan_default",
        table="loans",
        target=dataset.target,
        features=None,
        algorithm=Algorithm.LOGREG,
        actor=MAKER,
    )


def build_seeded(home: Path) -> Seeded:
    from pipelines.jobs.access import change_role, init_lakehouse
    from pipelines.jobs.ingest import ingest
    from pipelines.jobs.labels import load_labels
    from pipelines.jobs.monitor import monitor
    from pipelines.jobs.promote import approve, request_promotion
    from pipelines.jobs.score import score

    dataset = build_demo_datasets(start=START, history_rows=1500, batch_rows=400, n_weeks=8, drift_from_week=6)[0]
    files = home / "inputs"
    _write_inputs(dataset, files)
    ctx = context_for(home)
    init_lakehouse(ctx, admin=ADMIN)
    for user, role in (
        (MAKER, "maker"),
        (REVIEWER_A, "reviewer"),
        (REVIEWER_B, "reviewer"),
        (AUDITOR, "auditor"),
        (ANALYST, "analyst"),
    ):
        change_role(ctx, user=user, role=role, change=GrantChange.GRANT, actor=ADMIN)
    ingest(ctx, table="loans", path=files / "history.csv", key=dataset.key, timestamp=dataset.timestamp, actor=MAKER)
    trained = train_loan_model(ctx, dataset)
    request = request_promotion(ctx, model="loan_default", version=trained.version, reason="first model", actor=MAKER)
    approve(ctx, request_id=request.request_id, reason="holdout AUC fine", actor=REVIEWER_A)
    approve(ctx, request_id=request.request_id, reason="agree", actor=REVIEWER_B)
    batch_ids = []
    for week in (0, 7):
        ingest(
            ctx,
            table="applications",
            path=files / f"week{week}.parquet",
            key=dataset.key,
            timestamp=dataset.timestamp,
            actor=MAKER,
        )
    for week in (0, 7):
        start = START + timedelta(weeks=week)
        result = score(
            ctx, model="loan_default", table="applications", start=start, end=start + timedelta(weeks=1), actor=MAKER
        )
        batch_ids.append(result.batch_id)
    load_labels(
        ctx, model="loan_default", path=files / "labels0.csv", key=dataset.key, label=dataset.target, actor=MAKER
    )
    monitor(ctx, model="loan_default")
    return Seeded(home=home, dataset=dataset, request_id=request.request_id, batch_ids=tuple(batch_ids), files=files)


@pytest.fixture(scope="session")
def seeded_template(tmp_path_factory: pytest.TempPathFactory) -> Seeded:
    return build_seeded(tmp_path_factory.mktemp("seeded") / "home")


@pytest.fixture
def seeded(seeded_template: Seeded, tmp_path: Path) -> Seeded:
    home = tmp_path / "home"
    shutil.copytree(seeded_template.home, home)
    return Seeded(
        home=home,
        dataset=seeded_template.dataset,
        request_id=seeded_template.request_id,
        batch_ids=seeded_template.batch_ids,
        files=home / "inputs",
    )


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    """A throwaway PostgreSQL cluster on 127.0.0.1, one per test process; tests create their own databases."""
    with postgres_cluster() as server:
        yield server


@pytest.fixture(scope="session")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """An S3-compatible server (moto) on 127.0.0.1, one per test process; tests create their own buckets."""
    with s3_server(tmp_path_factory.mktemp("moto")) as server:
        yield server


@pytest.fixture
def empty_home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    ctx = context_for(home)
    from pipelines.jobs.access import init_lakehouse

    init_lakehouse(ctx, admin=ADMIN)
    return home
