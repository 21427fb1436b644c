"""A regression and a multiclass model beside the seeded binary one, built through the CLI as a team would:
ingest, train, two approvals, a second version in shadow, two weeks scored, labels for the first,
monitor, and a pending request to make the second version champion (so the Approvals page has a gate
and a shadow table).

Shared by the app's AppTests and the browser test of a regression model's Performance page. Training
and evidence cost seconds, so callers build it once per module on a copy of the seeded lakehouse.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import numpy as np
import polars as pl

from tests.cli_harness import Cli
from tests.conftest import MAKER, REVIEWER_A, REVIEWER_B, Seeded
from tests.task_data import T0, features, price, queue

REGRESSION, MULTICLASS = "price_model", "queue_model"
_TARGETS = {REGRESSION: "price", MULTICLASS: "queue"}


@dataclass(frozen=True)
class TaskModel:
    """One model of a task: its champion (v1), its challenger scored in shadow (v2), and the pending
    request to make v2 the champion. Both scored two weeks: batches 1 (v1) and 2 (v2) are labelled,
    batches 3 (v1) and 4 (v2) are not."""

    name: str
    target: str
    champion: str
    challenger: str
    request_id: str


@dataclass(frozen=True)
class TaskHome:
    home: Path
    models: dict[str, TaskModel]


def _ingest(cli: Cli, table: str, frame: pl.DataFrame, folder: Path) -> None:
    path = folder / f"{table}.parquet"
    frame.write_parquet(path)
    cli("ingest", table, str(path), "--key", "id", "--timestamp", "at", "--actor", MAKER)


def _approved(cli: Cli, model: str, version: str, *, alias: str, approvers: tuple[str, ...]) -> None:
    request = ("promote", "request", model, version, "--alias", alias, "--actor", MAKER, "--reason", "as trained")
    rid = cli.json(*request)["request_id"]
    for approver in approvers:
        cli("promote", "approve", rid, "--actor", approver, "--reason", "ok")


def add_task_model(cli: Cli, model: str, folder: Path) -> TaskModel:
    """Train `model` (REGRESSION or MULTICLASS) through the CLI, take it through review, shadow, scoring,
    labels and monitoring, and leave a request open to make its challenger the champion."""
    target = _TARGETS[model]
    make = price if model == REGRESSION else queue
    rng = np.random.default_rng(7)
    history = features(rng, 1500, start=T0, shift=0.0)
    history = history.with_columns(pl.Series(target, make(history, rng)))
    week = features(rng, 600, start=T0 + timedelta(days=30), shift=1.5)  # x1 shifted: drift
    truth = week.select("id", pl.Series(target, make(week, rng)))
    later = features(rng, 400, start=T0 + timedelta(days=37), shift=0.0)  # scored, its labels not yet arrived
    _ingest(cli, f"{target}_history", history, folder)
    _ingest(cli, f"{target}_week", week, folder)
    _ingest(cli, f"{target}_later", later, folder)

    train = ("train", model, "--table", f"{target}_history", "--target", target, "--actor", MAKER)
    champion = cli.json(*train)["version"]
    _approved(cli, model, champion, alias="champion", approvers=(REVIEWER_A, REVIEWER_B))
    challenger = cli.json(*train, "--algorithm", "logreg")["version"]
    _approved(cli, model, challenger, alias="challenger", approvers=(REVIEWER_A,))

    cli("score", model, "--table", f"{target}_week", "--actor", MAKER)  # the champion, and the challenger in shadow
    labels = folder / f"{target}_labels.parquet"
    truth.write_parquet(labels)
    cli("labels", model, str(labels), "--key", "id", "--label", target, "--actor", MAKER)
    cli("score", model, "--table", f"{target}_later", "--actor", MAKER)
    cli("monitor", model)
    reason = "shadow looked good"
    request = cli.json("promote", "request", model, challenger, "--actor", MAKER, "--reason", reason)
    return TaskModel(model, target, champion, challenger, request["request_id"])


def build_task_home(seeded: Seeded, home: Path, *, models: tuple[str, ...] = (REGRESSION, MULTICLASS)) -> TaskHome:
    """A copy of the seeded lakehouse at `home` with `models` added."""
    shutil.copytree(seeded.home, home)
    folder = home / "task-inputs"
    folder.mkdir()
    cli = Cli(home)
    return TaskHome(home=home, models={model: add_task_model(cli, model, folder) for model in models})
