"""Races between real processes on one lakehouse (issue #9 item 5): each ends with exactly one valid outcome.

Every race runs its competing commands in separate processes (multiprocessing, spawn) on one copy of
a seeded lakehouse. The processes are started once per module and kept warm: a cold start spends
seconds importing MLflow, with a jitter that would let one competitor finish before the other began.
For each race every competitor takes its command, says it is ready, waits on one start event, then
builds its own context from the home it is given (as a CLI run does from MLGOV_HOME) and calls the
job, or runs the `mlgov` command line (its click entry point, exit code and stderr as a shell sees
them). The lakehouse is then checked as a whole: the chain verifies, each request's state agrees
with its events and the alias moves, and each projection table holds every row of the chain once.
"""

from __future__ import annotations

import json
import multiprocessing
import queue
import shutil
import time
import traceback
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from click.testing import CliRunner

from governance.errors import MlgovError, PolicyViolation
from governance.promotion import PromotionEventKind, PromotionStatus, fold_requests
from governance.roles import GrantChange, Role
from lakehouse.records import access_policy, alias_moves, promotion_events
from lakehouse.schemas import ACCESS, ALIASES, AUDIT, EVIDENCE, PROMOTIONS
from pipelines.cli import main
from pipelines.context import Context
from pipelines.jobs.access import change_role, init_lakehouse
from pipelines.jobs.models import set_model_policy
from pipelines.jobs.promote import approve, reject, request_promotion
from pipelines.jobs.train import train
from pipelines.ml.modeling import Algorithm
from pipelines.reads.promotions import PromotionResult, find_request, show_request
from tests.cli_harness import Cli
from tests.conftest import ADMIN, MAKER, REVIEWER_A, REVIEWER_B, START, FixedClock, Seeded, context_for

MODEL = "loan_default"
SOFIA = "sofia"  # a third reviewer
OMAR = "omar"  # a second admin, with no other role
MALLORY = "mallory"
T1 = START + timedelta(days=1)  # the setup of a race (a first approval, a risk tier)
RACE_AT = T1 + timedelta(minutes=1)  # the instant every competing job call happens at
AFTER = RACE_AT + timedelta(minutes=1)  # when the outcome is read
WORKERS = 8
GRANTS_PER_WORKER = 5
TIMEOUT = 300.0  # seconds a race may take, the workers' first imports included

PROMOTED, REJECTED = PromotionEventKind.PROMOTED, PromotionEventKind.REJECTED

pytestmark = pytest.mark.slow  # about a minute of CPU: eight warm processes, each importing MLflow


# --- the competitors' side: runs in the spawned processes ----------------------------------------


@dataclass(frozen=True)
class Outcome:
    """How one competitor's call ended: what it returned, or the class and message of what it raised."""

    value: Any = None
    error: str = ""
    message: str = ""


@dataclass(frozen=True)
class CliRun:
    exit_code: int
    stdout: str
    stderr: str


def _approve(*, home: str, request_id: str, actor: str) -> PromotionResult:
    ctx = context_for(Path(home), clock=FixedClock(RACE_AT))
    return approve(ctx, request_id=request_id, reason="evidence checked", actor=actor)


def _reject(*, home: str, request_id: str, actor: str) -> PromotionResult:
    ctx = context_for(Path(home), clock=FixedClock(RACE_AT))
    return reject(ctx, request_id=request_id, reason="not convinced", actor=actor)


def _mlgov(*, home: str, commands: Sequence[Sequence[str]]) -> list[CliRun]:
    """`mlgov` command lines, one after another as a shell script runs them, on the wall clock."""
    runner = CliRunner()
    runs = []
    for args in commands:
        result = runner.invoke(main, list(args), env={"MLGOV_HOME": home}, catch_exceptions=False)
        runs.append(CliRun(result.exit_code, result.stdout, result.stderr))
    return runs


def _outcome(call: Callable[..., Any], kwargs: dict[str, Any]) -> Outcome:
    try:
        return Outcome(value=call(**kwargs))
    except MlgovError as error:
        return Outcome(error=type(error).__name__, message=str(error))
    except Exception as error:
        return Outcome(error=f"unexpected {type(error).__name__}", message=traceback.format_exc())


def _serve(inbox: Any, outbox: Any, start: Any) -> None:
    """A competitor: take a call, say ready, wait for the start signal, make the call, report; again."""
    # The warnings pytest hides (pyproject.toml) would otherwise land on a command's stderr.
    for category in (DeprecationWarning, FutureWarning, UserWarning):
        warnings.simplefilter("ignore", category)
    while True:
        index, call, kwargs = inbox.get()
        outbox.put(("ready", index, None))
        start.wait()
        outbox.put(("done", index, _outcome(call, kwargs)))


# --- the test's side ------------------------------------------------------------------------------

Call = tuple[Callable[..., Any], dict[str, Any]]


def call(function: Callable[..., Any], **kwargs: Any) -> Call:
    return function, kwargs


class Racers:
    """Warm processes that make competing calls from one start signal."""

    def __init__(self, count: int) -> None:
        context = multiprocessing.get_context("spawn")
        self._start = context.Event()
        self._outbox = context.Queue()
        self._inboxes = [context.Queue() for _ in range(count)]
        self._processes = [
            context.Process(target=_serve, args=(inbox, self._outbox, self._start), daemon=True)
            for inbox in self._inboxes
        ]
        for process in self._processes:
            process.start()

    def race(self, *calls: Call) -> list[Outcome]:
        """Each call in its own process, all released at once; their outcomes in the order given."""
        assert len(calls) <= len(self._processes)
        for index, (function, kwargs) in enumerate(calls):
            self._inboxes[index].put((index, function, kwargs))
        self._collect("ready", len(calls))
        self._start.set()
        try:
            done = self._collect("done", len(calls))
        finally:
            self._start.clear()
        return [done[index] for index in range(len(calls))]

    def cli(self, home: Path, *commands: Sequence[str]) -> list[CliRun]:
        """Each `mlgov` command line in its own process, all released at once."""
        outcomes = self.race(*(call(_mlgov, home=str(home), commands=[command]) for command in commands))
        assert all(not o.error for o in outcomes), [o.message for o in outcomes]
        return [o.value[0] for o in outcomes]

    def _collect(self, stage: str, count: int) -> dict[int, Outcome]:
        found: dict[int, Outcome] = {}
        deadline = time.monotonic() + TIMEOUT
        while len(found) < count:
            try:
                kind, index, outcome = self._outbox.get(timeout=1.0)
            except queue.Empty:
                dead = [p.exitcode for p in self._processes if not p.is_alive()]
                if dead or time.monotonic() > deadline:
                    pytest.fail(f"racers stuck waiting for {stage!r}: {len(found)} of {count}; exit codes {dead}")
                continue
            assert kind == stage, (kind, stage)
            found[index] = outcome
        return found

    def close(self) -> None:
        # Every call has returned: nothing is left to finish, and MLflow's exit handlers take seconds.
        for process in self._processes:
            process.kill()
        for process in self._processes:
            process.join(timeout=10)


@pytest.fixture(scope="module")
def racers() -> Iterator[Racers]:
    pool = Racers(WORKERS)
    yield pool
    pool.close()


@dataclass(frozen=True)
class Template:
    """The seeded lakehouse plus a third reviewer, a second admin, a pending request and a free version."""

    home: Path
    request_id: str  # version 2 put forward for champion, no approval yet
    free_version: str  # trained, never put forward


@pytest.fixture(scope="module")
def template(racers: Racers, seeded_template: Seeded, tmp_path_factory: pytest.TempPathFactory) -> Template:
    # `racers` first: its processes import while this builds.
    home = tmp_path_factory.mktemp("races") / "home"
    shutil.copytree(seeded_template.home, home)
    ctx = context_for(home, clock=FixedClock(START + timedelta(hours=1)))
    change_role(ctx, user=SOFIA, role="reviewer", change=GrantChange.GRANT, actor=ADMIN, reason="third reviewer")
    change_role(ctx, user=OMAR, role="admin", change=GrantChange.GRANT, actor=ADMIN, reason="second admin")
    versions = [
        train(
            ctx,
            model=MODEL,
            table="loans",
            target=seeded_template.dataset.target,
            features=None,
            algorithm=Algorithm.LOGREG,
            actor=MAKER,
        ).version
        for _ in range(2)
    ]
    assert versions == ["2", "3"]
    request = request_promotion(ctx, model=MODEL, version="2", reason="same AUC, fresher", actor=MAKER)
    return Template(home=home, request_id=request.request_id, free_version="3")


@pytest.fixture
def home(template: Template, tmp_path: Path) -> Path:
    copy = tmp_path / "home"
    shutil.copytree(template.home, copy)
    return copy


def reading(home: Path, *, at: datetime = AFTER) -> Context:
    return context_for(home, clock=FixedClock(at))


def one_winner(outcomes: Sequence[Outcome]) -> tuple[Outcome, Outcome]:
    """The outcome that succeeded and the one refused, of two; fails unless exactly one succeeded."""
    assert sorted(bool(o.error) for o in outcomes) == [False, True], outcomes
    won, lost = sorted(outcomes, key=lambda o: bool(o.error))
    return won, lost


def assert_refused(outcome: Outcome, *, needle: str) -> None:
    assert outcome.error == "PolicyViolation", f"{outcome.error}: {outcome.message}"
    assert needle in outcome.message, outcome.message


def assert_cli_refused(run: CliRun, *, needle: str) -> None:
    message = run.stderr.strip()
    assert run.exit_code == 1, message
    assert message.startswith("error: "), message
    assert "\n" not in message, message
    assert "Traceback" not in message, message
    assert needle in message, message


def refusals(ctx: Context, action: str) -> list[dict[str, Any]]:
    rows = ctx.store.read(AUDIT).filter((pl.col("action") == action) & (pl.col("outcome") == "refused"))
    return rows.to_dicts()


def assert_consistent(home: Path, *, at: datetime = AFTER) -> None:
    """What must hold after any race: the chain verifies; no request is both promoted and rejected, or
    promoted twice; a request moved the alias once if it is promoted and never otherwise; every move
    names the version it replaced; no request that did not move reads as promotable; and each
    projection holds every row of the chain once."""
    verdict = Cli(home).json("audit", "verify")
    assert verdict["ok"], verdict["problem"]
    ctx = reading(home, at=at)
    events = promotion_events(ctx.ledger)
    moves = alias_moves(ctx.ledger, model=MODEL)
    for alias in {m.alias for m in moves}:
        held = [m for m in moves if m.alias == alias]
        assert [m.previous for m in held] == [None, *(m.version for m in held[:-1])], held
    for request_id, request in fold_requests(events).items():
        kinds = [e.kind for e in events if e.request_id == request_id]
        assert not {PROMOTED, REJECTED} <= set(kinds), (request_id, kinds)
        assert kinds.count(PROMOTED) <= 1, (request_id, kinds)
        moved = [m for m in moves if m.request_id == request_id]
        promoted = request.status is PromotionStatus.PROMOTED
        assert len(moved) == int(promoted), (request_id, request.status, moved)
        if show_request(ctx, request_id=request_id)["policy"]["promotable"]:
            assert promoted, (request_id, request.status)
    for table in (ACCESS, PROMOTIONS, ALIASES, EVIDENCE):
        chain = sorted(ctx.ledger.table(table)["audit_seq"].to_list())
        projected = sorted(ctx.store.read(table)["audit_seq"].to_list())
        assert projected == chain, table


def champion_moves(ctx: Context, request_id: str) -> list[tuple[str, str | None]]:
    return [(m.version, m.previous) for m in alias_moves(ctx.ledger, model=MODEL) if m.request_id == request_id]


def approvers(ctx: Context, request_id: str) -> list[str]:
    return sorted(a.actor for a in find_request(ctx, request_id).approvals)


# --- the races ------------------------------------------------------------------------------------


def test_an_approval_and_a_rejection_at_the_same_instant_end_in_one_decision(
    racers: Racers, template: Template, home: Path
) -> None:
    rid = template.request_id
    approve(reading(home, at=T1), request_id=rid, reason="first look", actor=REVIEWER_A)  # the next approval promotes

    approval, rejection = racers.race(
        call(_approve, home=str(home), request_id=rid, actor=REVIEWER_B),
        call(_reject, home=str(home), request_id=rid, actor=SOFIA),
    )

    one_winner([approval, rejection])
    ctx = reading(home)
    request = find_request(ctx, rid)
    if approval.error:
        assert_refused(approval, needle=f"request {rid} is rejected, not open for review")
        assert request.status is PromotionStatus.REJECTED
        assert champion_moves(ctx, rid) == []
        assert approvers(ctx, rid) == [REVIEWER_A]
        assert [r["actor"] for r in refusals(ctx, "approve")] == [REVIEWER_B]
    else:
        assert_refused(rejection, needle=f"request {rid} is promoted, not open for review")
        assert approval.value.alias_moved
        assert request.status is PromotionStatus.PROMOTED
        assert champion_moves(ctx, rid) == [("2", "1")]
        assert request.rejection is None
        assert [r["actor"] for r in refusals(ctx, "reject")] == [SOFIA]
    assert_consistent(home)


def test_two_reviewers_completing_the_quorum_together_move_the_alias_once(
    racers: Racers, template: Template, home: Path
) -> None:
    rid = template.request_id
    approve(reading(home, at=T1), request_id=rid, reason="first look", actor=REVIEWER_A)

    outcomes = racers.race(
        call(_approve, home=str(home), request_id=rid, actor=REVIEWER_B),
        call(_approve, home=str(home), request_id=rid, actor=SOFIA),
    )

    won, lost = one_winner(outcomes)
    assert_refused(lost, needle=f"request {rid} is promoted, not open for review")
    assert won.value.alias_moved
    ctx = reading(home)
    assert find_request(ctx, rid).status is PromotionStatus.PROMOTED
    assert champion_moves(ctx, rid) == [("2", "1")]
    assert [(m.version, m.previous) for m in alias_moves(ctx.ledger, model=MODEL)] == [("1", None), ("2", "1")]
    assert [e.kind for e in promotion_events(ctx.ledger) if e.request_id == rid].count(PROMOTED) == 1
    assert len(approvers(ctx, rid)) == 2
    assert len(refusals(ctx, "approve")) == 1
    assert ctx.registry.alias_version(MODEL, "champion") == "2"
    assert_consistent(home)


def test_one_reviewer_approving_twice_at_once_counts_once(racers: Racers, template: Template, home: Path) -> None:
    rid = template.request_id

    outcomes = racers.race(*[call(_approve, home=str(home), request_id=rid, actor=REVIEWER_A)] * 2)

    won, lost = one_winner(outcomes)
    assert_refused(lost, needle=f"{REVIEWER_A} has already approved request {rid}")
    assert not won.value.alias_moved
    ctx = reading(home)
    assert approvers(ctx, rid) == [REVIEWER_A]
    document = show_request(ctx, request_id=rid)
    assert document["request"]["status"] == "pending"
    assert document["policy"]["counted"] == [REVIEWER_A]
    assert document["policy"]["promotable"] is False
    assert champion_moves(ctx, rid) == []
    assert_consistent(home)


@pytest.mark.parametrize(("tier", "required"), [("medium", 2), ("high", 3)])
def test_two_first_approvals_at_once_both_count_and_promote_only_at_quorum(
    racers: Racers, template: Template, home: Path, tier: str, required: int
) -> None:
    rid = template.request_id
    if tier != "medium":
        set_model_policy(reading(home, at=T1), model=MODEL, actor=ADMIN, tier=tier, reason="raised for the race")

    outcomes = racers.race(
        call(_approve, home=str(home), request_id=rid, actor=REVIEWER_A),
        call(_approve, home=str(home), request_id=rid, actor=REVIEWER_B),
    )

    assert [o.error for o in outcomes] == ["", ""], [o.message for o in outcomes]
    ctx = reading(home)
    assert approvers(ctx, rid) == sorted([REVIEWER_A, REVIEWER_B])
    policy = show_request(ctx, request_id=rid)["policy"]
    assert sorted(policy["counted"]) == sorted([REVIEWER_A, REVIEWER_B])
    assert policy["required"] == required
    if required == 2:
        assert sorted(o.value.alias_moved for o in outcomes) == [False, True]
        assert find_request(ctx, rid).status is PromotionStatus.PROMOTED
        assert champion_moves(ctx, rid) == [("2", "1")]
        assert policy["promotable"] is True
    else:
        assert [o.value.alias_moved for o in outcomes] == [False, False]
        assert find_request(ctx, rid).status is PromotionStatus.PENDING
        assert champion_moves(ctx, rid) == []
        assert policy["promotable"] is False
        assert policy["blocked_by"] == [f"2 of 3 approvals from distinct eligible reviewers ({tier} risk tier)"]
    assert_consistent(home)


def test_two_admins_revoking_each_other_leave_one_admin_and_init_makes_no_other(racers: Racers, home: Path) -> None:
    runs = racers.cli(
        home,
        ["access", "revoke", OMAR, "admin", "--actor", ADMIN, "--reason", "rota"],
        ["access", "revoke", ADMIN, "admin", "--actor", OMAR, "--reason", "rota"],
    )

    assert sorted(run.exit_code for run in runs) == [0, 1], runs
    winner, loser = (ADMIN, OMAR) if runs[0].exit_code == 0 else (OMAR, ADMIN)
    assert_cli_refused(runs[[ADMIN, OMAR].index(loser)], needle=loser)
    ctx = reading(home)
    assert access_policy(ctx.ledger).users_with(Role.ADMIN) == (winner,)

    cli = Cli(home)
    cli.refused("init", "--admin", MALLORY, needle=f"the lakehouse already has an admin ({winner})")
    policy = access_policy(reading(home).ledger)
    assert policy.users_with(Role.ADMIN) == (winner,)
    assert policy.roles_of(MALLORY) == frozenset()
    assert_consistent(home)


def test_two_requests_for_one_version_at_once_open_one(racers: Racers, template: Template, home: Path) -> None:
    version = template.free_version
    command = ["promote", "request", MODEL, version, "--actor", MAKER, "--reason", "fresher data", "--json"]

    runs = racers.cli(home, command, command)

    assert sorted(run.exit_code for run in runs) == [0, 1], runs
    won, lost = sorted(runs, key=lambda run: run.exit_code)
    opened = json.loads(won.stdout)["request_id"]
    assert_cli_refused(lost, needle=f"{MODEL} version {version} already has a pending champion request {opened}")
    ctx = reading(home)
    requests = [r for r in fold_requests(promotion_events(ctx.ledger)).values() if r.version == version]
    assert [(r.request_id, r.status) for r in requests] == [(opened, PromotionStatus.PENDING)]
    assert ctx.ledger.table(EVIDENCE).filter(pl.col("version") == version)["request_id"].to_list() == [opened]
    assert len(refusals(ctx, "request_promotion")) == 1
    assert_consistent(home)


def test_forty_grants_at_once_get_forty_consecutive_sequence_numbers(racers: Racers, home: Path) -> None:
    users = [f"user{i:02d}" for i in range(WORKERS * GRANTS_PER_WORKER)]
    before = reading(home).ledger.table(ACCESS).height

    outcomes = racers.race(
        *[
            call(
                _mlgov,
                home=str(home),
                commands=[["access", "grant", u, "analyst", "--actor", ADMIN, "--reason", "onboarding"] for u in mine],
            )
            for mine in (users[w::WORKERS] for w in range(WORKERS))
        ]
    )

    runs = [run for o in outcomes for run in o.value]
    assert len(runs) == len(users)
    assert [(run.exit_code, run.stderr) for run in runs] == [(0, "")] * len(users)
    total = before + len(users)
    ctx = reading(home)
    chain = ctx.ledger.table(ACCESS)
    assert chain["seq"].to_list() == list(range(1, total + 1))
    assert sorted(chain["user"][before:].to_list()) == users
    projection = ctx.store.read(ACCESS).sort("seq")
    assert projection["seq"].to_list() == list(range(1, total + 1))
    assert projection.select("seq", "user", "audit_seq").equals(chain.select("seq", "user", "audit_seq"))
    policy = access_policy(ctx.ledger)
    assert all(policy.roles_of(user) == {Role.ANALYST} for user in users)
    assert_consistent(home)


# --- what the races showed ------------------------------------------------------------------------


def _revoke_the_last_admin(ctx: Context) -> None:
    change_role(ctx, user=OMAR, role="admin", change=GrantChange.REVOKE, actor=ADMIN, reason="rota")
    change_role(ctx, user=ADMIN, role="admin", change=GrantChange.REVOKE, actor=ADMIN, reason="leaving")


def _take_over_with_init(ctx: Context) -> None:
    init_lakehouse(ctx, admin=MALLORY)


@pytest.mark.parametrize(
    ("attempt", "refused"), [(_revoke_the_last_admin, ADMIN), (_take_over_with_init, MALLORY)], ids=["revoke", "init"]
)
def test_an_access_change_refused_at_commit_time_is_on_the_audit_trail(
    home: Path, attempt: Callable[[Context], None], refused: str
) -> None:
    ctx = reading(home, at=T1)
    with pytest.raises(PolicyViolation):
        attempt(ctx)
    rows = ctx.store.read(AUDIT).filter((pl.col("outcome") == "refused") & (pl.col("object_id") == refused))
    assert rows.height == 1
