"""Promotion end to end on real Delta tables and a real SQLite MLflow registry: evidence, approvals
bound to their subject and to the approver's roles, expiry, risk tiers, break-glass, rollback and the
alias history, and a Hypothesis state machine over all of them.

The jobs are called directly with a FixedClock the test moves, so every instant is known; the CLI is
used where its contract (JSON, one-line refusals) is the point. Candidates are logistic regressions
like the seeded champion, so the metric gate passes and only the review policy decides.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import polars as pl
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    precondition,
    rule,
    run_state_machine_as_test,
)

from governance.aliases import MoveKind, timeline
from governance.errors import InputError, PermissionDenied, PolicyViolation
from governance.promotion import PRODUCTION_ALIAS, PromotionEventKind, PromotionStatus, RiskTier, tier_policy
from governance.roles import GrantChange, Role
from lakehouse.records import access_policy, alias_moves, promotion_events
from lakehouse.schemas import AUDIT
from pipelines.jobs.access import change_role
from pipelines.jobs.promote import approve, force_promotion, reject, request_promotion, rollback
from pipelines.jobs.registry import divergences, reconcile_registry
from pipelines.jobs.train import train
from pipelines.ml.modeling import Algorithm
from pipelines.reads.governed import alias_holder
from pipelines.reads.promotions import PromotionResult, alias_history, show_request
from pipelines.reads.versions import version_recipe
from tests.cli_harness import Cli
from tests.conftest import ADMIN, MAKER, REVIEWER_A, REVIEWER_B, START, FixedClock, Seeded, context_for, flip_artifact

MODEL = "loan_default"
SOFIA = "sofia"  # a third reviewer, granted in the template
T1 = START + timedelta(days=1)  # after everything the seeded lakehouse did at START
GRANT, REVOKE = GrantChange.GRANT, GrantChange.REVOKE
JUSTIFICATION = "scoring outage: v2 fixes the null-income crash, reviewed after the fact"


@dataclass(frozen=True)
class Template:
    """The seeded lakehouse plus a third reviewer and three logistic-regression candidates."""

    home: Path
    versions: tuple[str, ...]
    train_table_version: int
    seeded_request_id: str


@pytest.fixture(scope="module")
def template(seeded_template: Seeded, tmp_path_factory: pytest.TempPathFactory) -> Template:
    home = tmp_path_factory.mktemp("promotion") / "home"
    shutil.copytree(seeded_template.home, home)
    ctx = context_for(home, clock=FixedClock(START + timedelta(hours=1)))
    change_role(ctx, user=SOFIA, role="reviewer", change=GRANT, actor=ADMIN, reason="third reviewer")
    versions = tuple(
        train(
            ctx,
            model=MODEL,
            table="loans",
            target=seeded_template.dataset.target,
            features=None,
            algorithm=Algorithm.LOGREG,
            actor=MAKER,
        ).version
        for _ in range(3)
    )
    assert versions == ("2", "3", "4")
    table_version = version_recipe(ctx, MODEL, "2").table_version
    return Template(home, versions, table_version, seeded_template.request_id)


class Desk:
    """One lakehouse copy, a clock only the test moves, and the promotion jobs called directly."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.clock = FixedClock(T1)
        self.ctx = context_for(home, clock=self.clock)

    def tick(self, delta: timedelta = timedelta(minutes=1)) -> datetime:
        self.clock.at += delta
        return self.clock.at

    def request(self, version: str) -> str:
        self.tick()
        return request_promotion(
            self.ctx, model=MODEL, version=version, reason="same AUC, fresher", actor=MAKER
        ).request_id

    def approve(self, request_id: str, actor: str, reason: str = "evidence checked") -> PromotionResult:
        self.tick()
        return approve(self.ctx, request_id=request_id, reason=reason, actor=actor)

    def grant(self, user: str, role: str, change: GrantChange = GRANT) -> None:
        self.tick()
        change_role(self.ctx, user=user, role=role, change=change, actor=ADMIN, reason="rota change")

    def change_artifact(self, version: str) -> None:
        flip_artifact(self.ctx, MODEL, version)

    def champion(self) -> str | None:
        return self.ctx.registry.alias_version(MODEL, PRODUCTION_ALIAS)

    def counts(self, request_id: str) -> dict[str, bool]:
        """Whether each approval counts now, by approver (the latest vote of each)."""
        return {a["actor"]: a["counts"] for a in show_request(self.ctx, request_id=request_id)["approvals"]}

    def audit(self, action: str, *, outcome: str = "ok") -> list[dict[str, Any]]:
        audit = self.ctx.store.read(AUDIT)
        rows = audit.filter((pl.col("action") == action) & (pl.col("outcome") == outcome)).sort("seq").to_dicts()
        return [{**row, "details": json.loads(row["details"])} for row in rows]


@pytest.fixture
def desk(template: Template, tmp_path: Path) -> Desk:
    home = tmp_path / "home"
    shutil.copytree(template.home, home)
    return Desk(home)


@pytest.fixture
def cli(desk: Desk) -> Cli:
    return Cli(desk.home)


# --- promote show: request, evidence, approvals, verdict ---------------------------------------


def test_show_returns_the_request_its_evidence_approvals_and_verdict(desk: Desk, cli: Cli, template: Template) -> None:
    purpose = "Flag loan applications likely to default, for manual underwriting"
    assert cli.json("model", "set", MODEL, "--purpose", purpose, "--actor", ADMIN) == {
        "model": MODEL,
        "mlgov.purpose": purpose,
    }
    rid = desk.request("2")
    desk.approve(rid, REVIEWER_A, reason="holdout AUC matches the champion")

    document = show_request(desk.ctx, request_id=rid)
    assert set(document) == {"request", "evidence", "approvals", "rejection", "withdrawal", "standing", "policy"}
    assert document["request"] == {
        "request_id": rid,
        "model": MODEL,
        "version": "2",
        "alias": PRODUCTION_ALIAS,
        "status": "pending",
        "requester": MAKER,
        "trainer": MAKER,
        "reason": "same AUC, fresher",
        "requested_at": (T1 + timedelta(minutes=1)).isoformat(),
        "break_glass": False,
        "risk_tier": "medium",
    }

    evidence = document["evidence"]
    registry = desk.ctx.registry
    holdout = f"raw/loans@{template.train_table_version}"
    assert evidence["holdout"]["table"] == holdout
    assert evidence["candidate"]["version"] == "2"
    assert evidence["champion"]["version"] == "1"
    candidate, champion = evidence["candidate"]["metrics"], evidence["champion"]["metrics"]
    # Both versions were trained on the same table version, so each one's training-time holdout is
    # the candidate's holdout: re-evaluating on it must reproduce the metrics logged at training.
    for metric in ("roc_auc", "accuracy", "log_loss"):
        assert candidate[metric] == pytest.approx(registry.version(MODEL, "2").metrics[metric], abs=1e-9)
        assert champion[metric] == pytest.approx(registry.version(MODEL, "1").metrics[metric], abs=1e-9)
    assert isinstance(evidence["drift"], dict)  # None only before any batch was scored; the seed scored two
    assert evidence["drift"]["reference"] == holdout
    assert 0.0 <= evidence["drift"]["share"] <= 1.0
    assert evidence["quality"]["rows"] == 1500
    features = json.loads(registry.version(MODEL, "2").tags["mlgov.numeric_features"]) + json.loads(
        registry.version(MODEL, "2").tags["mlgov.categorical_features"]
    )
    assert set(evidence["quality"]["missing_share"]) == set(features)
    card = evidence["model_card"]
    assert card["purpose"] == purpose
    assert card["owner"] == MAKER
    assert card["features"]["numeric"] + card["features"]["categorical"] == features
    assert card["training_data"]["table"] == holdout
    assert card["training_data"]["rows"] == 1500
    assert card["metrics"] == candidate
    assert card["limitations"]
    assert all(isinstance(line, str) and line for line in card["limitations"])
    assert len(evidence["evaluation_digest"]) == 64

    assert document["approvals"] == [
        {
            "actor": REVIEWER_A,
            "at": (T1 + timedelta(minutes=2)).isoformat(),
            "reason": "holdout AUC matches the champion",
            "counts": True,
            "expires_at": (T1 + timedelta(minutes=2) + timedelta(days=14)).isoformat(),  # medium tier: 14 days
            "expired": False,
        }
    ]
    assert document["standing"] == {
        "state": "awaiting approvals",
        "final": False,
        "explanation": "1 of 2 approvals",
        "approvals": "1/2",
    }
    assert document["rejection"] is None
    assert document["withdrawal"] is None
    policy = document["policy"]
    assert {k: policy[k] for k in ("promotable", "required", "counted", "subject_changed")} == {
        "promotable": False,
        "required": 2,
        "counted": [REVIEWER_A],
        "subject_changed": False,
    }
    assert policy["gates"] == [
        {
            "metric": "roc_auc",
            "candidate": candidate["roc_auc"],
            "champion": champion["roc_auc"],
            "max_drop": tier_policy(RiskTier.MEDIUM).max_metric_drop,
            "higher_is_better": True,
            "relative": False,  # an RMSE gate's margin is a share of the champion's value
            "passed": True,
        }
    ]
    assert policy["blocked_by"] == ["1 of 2 approvals from distinct eligible reviewers (medium risk tier)"]

    # The CLI returns the same document. It runs on the wall clock, not the test's FixedClock, so
    # whether an approval has expired by now is the one thing it may see differently.
    shown = cli.json("promote", "show", rid)
    assert shown["request"] == document["request"]
    assert shown["evidence"] == json.loads(json.dumps(evidence))
    assert [{k: a[k] for k in ("actor", "at", "reason")} for a in shown["approvals"]] == [
        {k: a[k] for k in ("actor", "at", "reason")} for a in document["approvals"]
    ]
    assert shown["policy"]["gates"] == policy["gates"]
    assert shown["policy"]["required"] == 2
    text = cli("promote", "show", rid).stdout
    assert f"{rid}: {MODEL} v2 -> champion [pending] risk medium" in text
    cli.refused("promote", "show", "pr-missing", needle="does not exist")


def test_reasons_are_mandatory_on_approve_and_reject(desk: Desk) -> None:
    rid = desk.request("2")
    with pytest.raises(InputError, match="a reason is required"):
        approve(desk.ctx, request_id=rid, reason="   ", actor=REVIEWER_A)
    with pytest.raises(InputError, match="a reason is required"):
        reject(desk.ctx, request_id=rid, reason="", actor=REVIEWER_A)
    assert show_request(desk.ctx, request_id=rid)["approvals"] == []
    assert show_request(desk.ctx, request_id=rid)["request"]["status"] == "pending"


# --- approvals bound to the subject, the approver's roles and their age ------------------------


def test_a_changed_subject_voids_earlier_approvals_and_reopens_the_request(desk: Desk, template: Template) -> None:
    rid = desk.request("2")
    assert desk.approve(rid, REVIEWER_A).approvals == (REVIEWER_A,)

    desk.change_artifact("2")  # its model files replaced
    second = desk.approve(rid, REVIEWER_B)
    assert second.approvals == (REVIEWER_B,)  # rita's approval was of another subject
    assert not second.alias_moved
    assert any("1 of 2 approvals" in reason for reason in second.blocked_by)
    policy = show_request(desk.ctx, request_id=rid)["policy"]
    assert policy["subject_changed"] is True
    assert desk.counts(rid) == {REVIEWER_A: False, REVIEWER_B: True}

    # The request reopened: approvals of the subject as it is now count, and a fresh quorum promotes.
    third = desk.approve(rid, SOFIA)
    assert third.approvals == (REVIEWER_B, SOFIA)
    assert third.alias_moved
    assert third.status is PromotionStatus.PROMOTED
    assert desk.champion() == "2"
    decided = show_request(desk.ctx, request_id=rid)
    assert sorted(decided["policy"]["counted"]) == sorted([REVIEWER_B, SOFIA])  # judged as it was decided


def test_a_role_granted_in_flight_voids_the_approval_until_given_again(desk: Desk) -> None:
    rid = desk.request("2")
    desk.approve(rid, REVIEWER_A)
    desk.grant(REVIEWER_A, "analyst")
    assert desk.counts(rid) == {REVIEWER_A: False}
    assert show_request(desk.ctx, request_id=rid)["policy"]["counted"] == []

    second = desk.approve(rid, REVIEWER_B)
    assert (second.approvals, second.alias_moved) == ((REVIEWER_B,), False)
    assert desk.champion() == "1"

    again = desk.approve(rid, REVIEWER_A, reason="re-approved with my new roles")
    assert (again.approvals, again.alias_moved) == ((REVIEWER_B, REVIEWER_A), True)
    assert desk.champion() == "2"

    events = [e for e in promotion_events(desk.ctx.ledger) if e.request_id == rid]
    votes = [e for e in events if e.kind is PromotionEventKind.APPROVED and e.actor == REVIEWER_A]
    assert [e.actor_roles for e in votes] == [frozenset({Role.REVIEWER}), frozenset({Role.REVIEWER, Role.ANALYST})]
    (grant,) = [
        g for g in desk.audit("grant_role") if g["object_id"] == REVIEWER_A and g["details"]["role"] == "analyst"
    ]
    assert (grant["actor"], grant["reason"], grant["at"]) == (ADMIN, "rota change", T1 + timedelta(minutes=3))


def test_a_revoked_reviewer_loses_their_approval_and_the_revocation_is_audited(desk: Desk) -> None:
    rid = desk.request("2")
    desk.approve(rid, REVIEWER_A)
    desk.grant(REVIEWER_A, "reviewer", REVOKE)
    with pytest.raises(PermissionDenied, match="unknown actor 'rita'"):  # reviewer was her only role
        desk.approve(rid, REVIEWER_A)
    assert desk.approve(rid, REVIEWER_B).approvals == (REVIEWER_B,)
    assert desk.champion() == "1"
    (revoked,) = [r for r in desk.audit("revoke_role") if r["object_id"] == REVIEWER_A]
    assert (revoked["actor"], revoked["details"]["role"]) == (ADMIN, "reviewer")


def test_an_approval_older_than_the_tiers_ttl_no_longer_counts(desk: Desk) -> None:
    ttl = tier_policy(RiskTier.MEDIUM).approval_ttl
    rid = desk.request("2")
    approved_at = desk.tick()
    approve(desk.ctx, request_id=rid, reason="ok", actor=REVIEWER_A)

    desk.clock.at = approved_at + ttl
    assert desk.counts(rid) == {REVIEWER_A: True}
    desk.clock.at = approved_at + ttl + timedelta(seconds=1)
    assert desk.counts(rid) == {REVIEWER_A: False}

    late = desk.approve(rid, REVIEWER_B)
    assert (late.approvals, late.alias_moved) == ((REVIEWER_B,), False)
    assert late.blocked_by == ("1 of 2 approvals from distinct eligible reviewers (medium risk tier)",)
    renewed = desk.approve(rid, REVIEWER_A, reason="still fine a fortnight on")
    assert (renewed.approvals, renewed.alias_moved) == ((REVIEWER_B, REVIEWER_A), True)
    assert desk.champion() == "2"


# --- risk tiers -------------------------------------------------------------------------------


def test_the_risk_tier_sets_the_quorum(desk: Desk, cli: Cli) -> None:
    cli.refused("model", "set", MODEL, "--tier", "high", "--actor", MAKER, needle="may not set risk tier")
    assert cli.json("model", "set", MODEL, "--tier", "high", "--actor", ADMIN)["mlgov.risk_tier"] == "high"

    rid = desk.request("2")
    assert show_request(desk.ctx, request_id=rid)["request"]["risk_tier"] == "high"
    for reviewer in (REVIEWER_A, REVIEWER_B):
        result = desk.approve(rid, reviewer)
        assert (result.required, result.alias_moved) == (3, False)
    third = desk.approve(rid, SOFIA)
    assert (third.approvals, third.alias_moved) == ((REVIEWER_A, REVIEWER_B, SOFIA), True)
    assert desk.champion() == "2"

    cli("model", "set", MODEL, "--tier", "low", "--actor", ADMIN)
    rid = desk.request("3")
    only = desk.approve(rid, REVIEWER_A)
    assert (only.required, only.approvals, only.alias_moved) == (1, (REVIEWER_A,), True)
    assert desk.champion() == "3"
    assert [(a["actor"], a["details"]["mlgov.risk_tier"]) for a in desk.audit("set_model_policy")] == [
        (ADMIN, "high"),
        (ADMIN, "low"),
    ]


# --- break-glass ------------------------------------------------------------------------------


def test_only_an_admin_with_a_written_justification_may_force_a_promotion(desk: Desk, cli: Cli) -> None:
    for actor in (MAKER, REVIEWER_A):
        with pytest.raises(PermissionDenied, match="may not force promotion"):
            force_promotion(desk.ctx, model=MODEL, version="2", reason=JUSTIFICATION, actor=actor)
    cli.refused("promote", "force", MODEL, "2", "--actor", ADMIN, "--reason", "urgent", needle="at least 20 characters")
    cli.refused("promote", "force", MODEL, "1", "--actor", ADMIN, "--reason", JUSTIFICATION, needle="already holds")
    assert desk.champion() == "1"
    assert [m.version for m in alias_moves(desk.ctx.ledger, model=MODEL)] == ["1"]
    assert [r["actor"] for r in desk.audit("force_promotion", outcome="refused")] == [MAKER, REVIEWER_A]


def test_break_glass_is_flagged_everywhere_and_reviewed_after_the_fact(desk: Desk, cli: Cli) -> None:
    forced_at = desk.tick()
    forced = force_promotion(desk.ctx, model=MODEL, version="2", reason=JUSTIFICATION, actor=ADMIN)
    assert (forced.alias_moved, forced.status) == (True, PromotionStatus.BREAK_GLASS)
    rid = forced.request_id
    assert desk.champion() == "2"

    last = alias_history(desk.ctx, model=MODEL)[-1]
    assert (last.version, last.kind, last.actor, last.reason, last.start) == (
        "2",
        MoveKind.BREAK_GLASS,
        ADMIN,
        JUSTIFICATION,
        forced_at,
    )
    assert cli.json("history", MODEL)["intervals"][-1]["break_glass"] is True
    (audited,) = desk.audit("break_glass_promotion")
    assert (audited["actor"], audited["object_id"], audited["reason"]) == (ADMIN, f"{MODEL}/2", JUSTIFICATION)
    assert audited["details"]["break_glass"] == "true"
    assert audited["details"]["request_id"] == rid
    assert audited["details"]["previous"] == "1"
    tags = desk.ctx.registry.version(MODEL, "2").tags
    assert (tags["mlgov.break_glass"], tags["mlgov.approval_status"]) == ("true", "break_glass")
    document = show_request(desk.ctx, request_id=rid)
    assert (document["request"]["status"], document["request"]["break_glass"]) == ("break_glass", True)
    assert document["evidence"]["candidate"]["version"] == "2"
    assert "BREAK-GLASS" in cli("promote", "show", rid).stdout

    # the after-the-fact review: not by the admin who forced it, whatever roles they hold
    with pytest.raises(PermissionDenied, match="may not approve"):
        desk.approve(rid, ADMIN)
    desk.grant(ADMIN, "reviewer")
    with pytest.raises(PolicyViolation, match="is an admin"):
        desk.approve(rid, ADMIN)

    first = desk.approve(rid, REVIEWER_A, reason="the fix is right")
    assert (first.status, first.approvals, first.alias_moved) == (PromotionStatus.BREAK_GLASS, (REVIEWER_A,), False)
    second = desk.approve(rid, REVIEWER_B, reason="agree after the fact")
    assert (second.status, second.approvals, second.alias_moved) == (
        PromotionStatus.PROMOTED,
        (REVIEWER_A, REVIEWER_B),
        False,
    )
    assert desk.champion() == "2"
    assert [m.kind for m in alias_moves(desk.ctx.ledger, model=MODEL)] == [MoveKind.PROMOTED, MoveKind.BREAK_GLASS]
    tags = desk.ctx.registry.version(MODEL, "2").tags
    assert (tags["mlgov.break_glass"], tags["mlgov.approval_status"], tags["mlgov.approvals"]) == (
        "true",
        "promoted",
        "2/2",
    )
    with pytest.raises(PolicyViolation, match="not open for review"):
        desk.approve(rid, SOFIA)


# --- rollback and the alias history -----------------------------------------------------------


def _promote(desk: Desk, version: str) -> datetime:
    rid = desk.request(version)
    desk.approve(rid, REVIEWER_A)
    assert desk.approve(rid, REVIEWER_B).alias_moved
    return desk.clock.at


def test_history_at_any_instant_across_promotions_and_a_rollback(desk: Desk, cli: Cli) -> None:
    t2 = _promote(desk, "2")
    t3 = _promote(desk, "3")
    desk.tick(timedelta(hours=5))
    with pytest.raises(PermissionDenied, match="may not rollback"):
        rollback(desk.ctx, model=MODEL, reason="v3 misbehaves", actor=MAKER)
    t4 = desk.tick()
    move = rollback(desk.ctx, model=MODEL, reason="v3 misbehaves in production", actor=REVIEWER_A)
    assert (move.version, move.previous, move.kind, move.at) == ("2", "3", MoveKind.ROLLED_BACK, t4)
    assert desk.champion() == "2"

    intervals = alias_history(desk.ctx, model=MODEL)
    assert [(i.version, i.start, i.end, i.kind) for i in intervals] == [
        ("1", START, t2, MoveKind.PROMOTED),
        ("2", t2, t3, MoveKind.PROMOTED),
        ("3", t3, t4, MoveKind.PROMOTED),
        ("2", t4, None, MoveKind.ROLLED_BACK),
    ]
    second = timedelta(seconds=1)
    for instant, expected in [
        (START - second, None),
        (START, "1"),
        (t2 - second, "1"),
        (t2, "2"),
        (t2 + (t3 - t2) / 2, "2"),
        (t3 - second, "2"),
        (t3, "3"),
        (t4 - second, "3"),
        (t4, "2"),
        (t4 + timedelta(days=400), "2"),
    ]:
        held = alias_history(desk.ctx, model=MODEL, at=instant)
        assert [i.version for i in held] == ([expected] if expected else []), instant
        rows = cli.json("history", MODEL, "--at", instant.isoformat())["intervals"]
        assert [r["version"] for r in rows] == ([expected] if expected else []), instant
    assert cli.json("history", MODEL, "--at", t4.isoformat())["intervals"][0]["kind"] == "rolled_back"
    assert cli("history", MODEL, "--at", (START - second).isoformat()).stdout.strip() == "(none)"
    naive = cli.json("history", MODEL, "--at", t3.replace(tzinfo=None).isoformat())["intervals"]
    assert [r["version"] for r in naive] == ["3"]  # a time without a zone is UTC

    (audited,) = desk.audit("rollback")
    assert (audited["actor"], audited["object_id"], audited["reason"]) == (
        REVIEWER_A,
        f"{MODEL}/2",
        "v3 misbehaves in production",
    )
    assert (audited["details"]["from"], audited["details"]["to"]) == ("3", "2")
    assert desk.ctx.registry.version(MODEL, "2").tags["mlgov.rolled_back_from"] == "3"


def test_rollback_with_nothing_to_go_back_to_is_one_line(cli: Cli, desk: Desk) -> None:
    cli.refused("promote", "rollback", MODEL, "--actor", MAKER, "--reason", "x", needle="may not rollback")
    cli.refused(
        "promote", "rollback", MODEL, "--actor", ADMIN, "--reason", "x", needle="no earlier approved champion version"
    )
    cli.refused("history", "no_such_model", needle="not registered")
    assert desk.champion() == "1"


def test_rollback_skips_a_version_that_was_only_forced(desk: Desk) -> None:
    _promote(desk, "2")
    desk.tick()
    force_promotion(desk.ctx, model=MODEL, version="3", reason=JUSTIFICATION, actor=ADMIN)
    desk.tick()
    force_promotion(desk.ctx, model=MODEL, version="4", reason=JUSTIFICATION, actor=ADMIN)
    desk.tick()
    assert rollback(desk.ctx, model=MODEL, reason="undo the forced ones", actor=ADMIN).version == "2"
    assert desk.champion() == "2"
    assert [(i.version, i.kind) for i in alias_history(desk.ctx, model=MODEL)][1:] == [
        ("2", MoveKind.PROMOTED),
        ("3", MoveKind.BREAK_GLASS),
        ("4", MoveKind.BREAK_GLASS),
        ("2", MoveKind.ROLLED_BACK),
    ]


# --- the state machine ------------------------------------------------------------------------

Refusal = PermissionDenied | PolicyViolation


def attempt(job: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """What the job returned, or the refusal it raised: the state machine judges either."""
    try:
        return job(*args, **kwargs)
    except (PermissionDenied, PolicyViolation) as refusal:
        return refusal


REQUIRED = tier_policy(RiskTier.MEDIUM).required_approvals
TTL = tier_policy(RiskTier.MEDIUM).approval_ttl
USERS = (REVIEWER_A, REVIEWER_B, SOFIA, ADMIN, MAKER)
# reviewers first and twice as often (Hypothesis favours early elements), so quorums are reached
REVIEWING = st.sampled_from((*USERS[:3], *USERS))


@dataclass
class TrackedVote:
    actor: str
    at: datetime
    data_changed: bool  # whether the version's model files were changed when the vote was given
    roles: frozenset[Role]


@dataclass
class TrackedRequest:
    """The test's own model of a request: which votes should count is decided here, not by governance."""

    version: str
    gate_passed: bool
    status: str = "pending"
    votes: list[TrackedVote] = field(default_factory=list)


class PromotionMachine(RuleBasedStateMachine):
    """Random requests, reviews, role changes, artifact changes, rollbacks, waits and MLflow edits
    behind mlgov's back, on a real lakehouse.

    Invariants: the governed champion moves by policy only when the tier's quorum of distinct eligible
    reviewers approved the subject as it is now (approvals given before a change stop counting), with
    the roles they hold now, within the TTL; nothing is counted twice; MLflow's alias mirrors the
    record unless someone moved it behind mlgov's back, and then `registry check` says so.
    (Kills at every commit boundary are in test_crashes.py.)
    """

    template: ClassVar[Template]
    scratch: ClassVar[Path]
    requests = Bundle("requests")

    @initialize(target=requests)
    def open_the_lakehouse(self) -> str:
        home = Path(tempfile.mkdtemp(prefix="example-", dir=self.scratch)) / "home"
        shutil.copytree(self.template.home, home)
        self.clock = FixedClock(T1)
        self.ctx = context_for(home, clock=self.clock)
        self.grants = {user: set(roles) for user, roles in access_policy(self.ctx.ledger).grants.items()}
        self.data_changed: set[str] = set()
        self.tracked: dict[str, TrackedRequest] = {}
        self.verified: set[str] = set()  # requests whose alias move was checked for a quorum
        self.approved_versions = {"1"}
        self.held: list[tuple[str, bool]] = [("1", False)]  # champion versions in order; reached by a rollback?
        self.diverged = False  # MLflow's champion was moved behind mlgov's back and not mirrored since
        return self.request_a_promotion("2")

    # -- the test's own statement of the rules --

    def tick(self) -> datetime:
        self.clock.at += timedelta(seconds=1)  # distinct instants keep every history unambiguous
        return self.clock.at

    def roles(self, user: str) -> frozenset[Role]:
        return frozenset(self.grants.get(user, set()))

    def eligible(self, user: str) -> bool:
        # maya is both the requester and the trainer of every candidate
        return Role.REVIEWER in self.roles(user) and Role.ADMIN not in self.roles(user) and user != MAKER

    def counting(self, request: TrackedRequest, now: datetime) -> set[str]:
        changed = request.version in self.data_changed
        return {
            v.actor
            for v in request.votes
            if self.eligible(v.actor)
            and v.data_changed == changed
            and v.roles == self.roles(v.actor)
            and now - v.at <= TTL
        }

    def dead_end(self, request_id: str, now: datetime) -> bool:
        """Whether no approval can move the alias for a pending request any more: a newer request for the
        same alias that is not rejected supersedes it, or its gate failed and it has its quorum."""
        ids = list(self.tracked)
        newer = (self.tracked[rid] for rid in ids[ids.index(request_id) + 1 :])
        if any(r.status != "rejected" for r in newer):
            return True
        request = self.tracked[request_id]
        return not request.gate_passed and len(self.counting(request, now)) >= REQUIRED

    def champion(self) -> str | None:
        """Production, as the governed record says."""
        return alias_holder(self.ctx, MODEL, PRODUCTION_ALIAS)

    def mirrored(self) -> None:
        self.diverged = False  # a governed change of the model mirrors it onto MLflow

    # -- rules --

    @rule(target=requests, version=st.sampled_from(("2", "3", "4")))
    def request_a_promotion(self, version: str) -> Any:
        self.tick()
        refused_because = self.champion() == version or any(
            r.version == version and r.status == "pending" for r in self.tracked.values()
        )
        result = attempt(request_promotion, self.ctx, model=MODEL, version=version, reason="candidate", actor=MAKER)
        assert isinstance(result, PolicyViolation) is refused_because, result
        if refused_because:
            return multiple()
        self.mirrored()
        gate_passed = not any("roc_auc" in reason for reason in result.blocked_by)
        self.tracked[result.request_id] = TrackedRequest(version=version, gate_passed=gate_passed)
        return result.request_id

    @rule(request_id=requests, actor=REVIEWING)
    def approve_a_request(self, request_id: str, actor: str) -> None:
        now = self.tick()
        request = self.tracked[request_id]
        may = (
            request.status == "pending"
            and self.eligible(actor)
            and actor not in self.counting(request, now)
            and not self.dead_end(request_id, now)
        )
        result = attempt(approve, self.ctx, request_id=request_id, reason="checked", actor=actor)
        assert isinstance(result, Refusal) is not may, f"{actor} on {request_id}: {result}"
        if not may:
            return
        self.mirrored()
        request.votes.append(TrackedVote(actor, now, request.version in self.data_changed, self.roles(actor)))
        quorum = self.counting(request, now)
        assert sorted(result.approvals) == sorted(quorum)
        # a changed subject reopens the request: approvals given since the change count (see counting)
        promotable = len(quorum) >= REQUIRED and request.gate_passed
        assert result.alias_moved is promotable, (result, quorum)
        if result.alias_moved:
            # and once more against the access policy as the store holds it at this instant
            access = access_policy(self.ctx.ledger)
            assert len(set(result.approvals)) >= REQUIRED
            for user in result.approvals:
                roles = access.roles_of(user)
                assert Role.REVIEWER in roles, user
                assert Role.ADMIN not in roles, user
                assert user != MAKER
            assert self.champion() == request.version
            self.held.append((request.version, False))
            request.status = "promoted"
            self.verified.add(request_id)
            self.approved_versions.add(request.version)

    @precondition(lambda self: any(r.status == "pending" for r in self.tracked.values()))
    @rule(pick=st.integers(min_value=0, max_value=len(USERS) - 1))
    def approve_the_latest_pending_request(self, pick: int) -> None:
        # Random approvals spread over closed requests, or repeated by one reviewer, rarely reach a
        # quorum: aim these at the latest open request, users whose approval does not count first.
        latest = [rid for rid, r in self.tracked.items() if r.status == "pending"][-1]
        counting = self.counting(self.tracked[latest], self.clock.at)
        users = sorted(USERS, key=lambda user: user in counting)
        self.approve_a_request(latest, users[pick])

    @precondition(lambda self: any(r.status == "pending" for r in self.tracked.values()))
    @rule(pick=st.integers(min_value=0, max_value=len(USERS) - 1))
    def approve_the_latest_pending_request_again(self, pick: int) -> None:
        self.approve_the_latest_pending_request(pick)  # a second rule: twice the weight

    @rule(request_id=requests, actor=st.sampled_from(USERS))
    def reject_a_request(self, request_id: str, actor: str) -> None:
        self.tick()
        request = self.tracked[request_id]
        may = request.status == "pending" and self.eligible(actor)
        result = attempt(reject, self.ctx, request_id=request_id, reason="not convinced", actor=actor)
        assert isinstance(result, Refusal) is not may, f"{actor} on {request_id}: {result}"
        if may:
            assert result.status is PromotionStatus.REJECTED
            request.status = "rejected"
            self.mirrored()

    @rule(
        user=st.sampled_from(USERS),
        role=st.sampled_from([Role.REVIEWER, Role.ANALYST, Role.ADMIN]),
        change=st.sampled_from(GrantChange),
    )
    def grant_or_revoke_a_role(self, user: str, role: Role, change: GrantChange) -> None:
        self.tick()
        admins = sorted(u for u in self.grants if Role.ADMIN in self.grants[u])
        result = attempt(change_role, self.ctx, user=user, role=role.value, change=change, actor=admins[0], reason="r")
        last_admin = (change, role, admins) == (REVOKE, Role.ADMIN, [user])
        assert isinstance(result, PolicyViolation) is last_admin, result  # the last admin stays
        if last_admin:
            return
        assert result.changed is ((role in self.roles(user)) != (change is GRANT))
        if change is GRANT:
            self.grants.setdefault(user, set()).add(role)
        else:
            self.grants.get(user, set()).discard(role)

    @rule(version=st.sampled_from(("2", "3", "4")))
    def change_the_artifact(self, version: str) -> None:
        self.tick()
        flip_artifact(self.ctx, MODEL, version)
        self.data_changed ^= {version}

    @rule(actor=st.sampled_from(USERS))
    def roll_back(self, actor: str) -> None:
        self.tick()
        before = self.champion()
        may = bool(self.roles(actor) & {Role.REVIEWER, Role.ADMIN})
        # back to the latest earlier approved version, never to one a rollback left (no back and forth)
        left_by_rollback = {self.held[i - 1][0] for i in range(1, len(self.held)) if self.held[i][1]}
        expected = next(
            (
                version
                for version, _ in reversed(self.held[:-1])
                if version != before and version not in left_by_rollback and version in self.approved_versions
            ),
            None,
        )
        nowhere = expected is None
        move = attempt(rollback, self.ctx, model=MODEL, reason="incident", actor=actor)
        assert isinstance(move, PermissionDenied) is not may, move
        assert isinstance(move, PolicyViolation) is (may and nowhere), move
        if not may or nowhere:
            return
        assert (move.previous, move.kind, move.version) == (before, MoveKind.ROLLED_BACK, expected)
        assert self.champion() == move.version
        self.held.append((move.version, True))
        self.mirrored()

    @rule(version=st.sampled_from(("1", "2", "3", "4")))
    def move_mlflows_alias_behind_mlgovs_back(self, version: str) -> None:
        self.ctx.registry.client.set_registered_model_alias(MODEL, PRODUCTION_ALIAS, version)
        self.diverged = version != self.champion()

    @rule()
    def an_admin_reconciles_the_registry(self) -> None:
        admins = sorted(u for u in self.grants if Role.ADMIN in self.grants[u])
        reconcile_registry(self.ctx, actor=admins[0])
        self.diverged = False

    @rule(delta=st.sampled_from([timedelta(hours=1), timedelta(days=6), timedelta(days=15)]))
    def wait(self, delta: timedelta) -> None:
        self.clock.at += delta

    @invariant()
    def the_alias_is_its_recorded_history(self) -> None:
        moves = alias_moves(self.ctx.ledger, model=MODEL)
        assert self.champion() == timeline(moves, alias=PRODUCTION_ALIAS)[-1].version
        shown = self.ctx.registry.alias_version(MODEL, PRODUCTION_ALIAS)
        assert (shown != self.champion()) is self.diverged
        flagged = [d for d in divergences(self.ctx, model=MODEL) if d.kind == "alias" and d.name == PRODUCTION_ALIAS]
        assert bool(flagged) is self.diverged  # registry check flags every divergence, and only those
        events = promotion_events(self.ctx.ledger, model=MODEL)
        assert len({(e.request_id, e.kind, e.actor, e.at) for e in events}) == len(events)  # nothing twice
        by_policy = {m.request_id for m in moves if m.kind is MoveKind.PROMOTED}
        assert by_policy == self.verified | {self.template.seeded_request_id}
        assert access_policy(self.ctx.ledger).grants == {u: self.roles(u) for u in self.grants if self.grants[u]}


def test_no_promotion_without_a_quorum_on_real_tables(template: Template, tmp_path: Path) -> None:
    machine = type("Machine", (PromotionMachine,), {"template": template, "scratch": tmp_path})
    run_state_machine_as_test(
        machine, settings=settings(max_examples=8, stateful_step_count=12, deadline=None, database=None)
    )


def test_rollback_never_returns_to_a_champion_that_only_passed_challenger_review(desk: Desk) -> None:
    desk.tick()
    shadow = request_promotion(desk.ctx, model=MODEL, version="3", reason="shadow it", actor=MAKER, alias="challenger")
    assert desk.approve(shadow.request_id, REVIEWER_A).alias_moved  # one approval, no gate: it serves nothing
    assert desk.ctx.registry.alias_version(MODEL, "challenger") == "3"
    desk.tick()
    force_promotion(desk.ctx, model=MODEL, version="3", reason=JUSTIFICATION, actor=ADMIN)  # never reviewed
    _promote(desk, "4")
    desk.tick()
    move = rollback(desk.ctx, model=MODEL, reason="v4 misbehaves in production", actor=ADMIN)
    assert move.version == "1"  # v3 never passed a champion review; v1 did


# --- promote withdraw: the requester takes back a pending request -------------------------------


def test_the_requester_withdraws_a_pending_request_through_the_cli(desk: Desk, cli: Cli) -> None:
    rid = desk.request("2")
    desk.approve(rid, REVIEWER_A)

    document = cli.json("promote", "withdraw", rid, "--actor", MAKER, "--reason", "trained on the wrong month")

    assert document == {"request_id": rid, "status": "withdrawn", "model": MODEL, "version": "2"}
    shown = show_request(desk.ctx, request_id=rid)
    assert shown["request"]["status"] == "withdrawn"
    assert shown["withdrawal"]["actor"] == MAKER
    assert shown["withdrawal"]["reason"] == "trained on the wrong month"
    (audited,) = desk.audit("withdraw_promotion")
    assert (audited["actor"], audited["object_id"], audited["reason"]) == (MAKER, rid, "trained on the wrong month")
    assert desk.ctx.registry.version(MODEL, "2").tags["mlgov.approval_status"] == "withdrawn"
    # final: nobody may approve it now, and the version may be put forward again
    cli.refused("promote", "approve", rid, "--actor", REVIEWER_B, "--reason", "late", needle="withdrawn, not open")
    assert desk.champion() == "1"
    assert desk.request("2") != rid


@pytest.mark.parametrize(
    ("actor", "needle"),
    [
        (REVIEWER_A, f"{REVIEWER_A} (reviewer) may not withdraw promotion: needs role maker"),
        (ADMIN, "may not withdraw promotion"),
    ],
)
def test_only_makers_may_withdraw_and_the_refusal_is_audited(desk: Desk, cli: Cli, actor: str, needle: str) -> None:
    rid = desk.request("2")

    cli.refused("promote", "withdraw", rid, "--actor", actor, "--reason", "not mine", needle=needle)

    assert show_request(desk.ctx, request_id=rid)["request"]["status"] == "pending"
    assert [r["actor"] for r in desk.audit("withdraw_promotion", outcome="refused")] == [actor]


def test_another_maker_may_not_withdraw_someone_elses_request(desk: Desk, cli: Cli) -> None:
    rid = desk.request("2")
    desk.grant("tom", "maker")

    message = cli.refused("promote", "withdraw", rid, "--actor", "tom", "--reason", "tidy up", needle="only maya")

    assert message == f"error: only {MAKER}, who requested it, may withdraw request {rid}"
    assert show_request(desk.ctx, request_id=rid)["request"]["status"] == "pending"
    assert [r["actor"] for r in desk.audit("withdraw_promotion", outcome="refused")] == ["tom"]


def test_only_a_pending_request_may_be_withdrawn(desk: Desk, cli: Cli) -> None:
    rid = desk.request("2")
    desk.approve(rid, REVIEWER_A)
    desk.approve(rid, REVIEWER_B)  # quorum: promoted
    cli.refused("promote", "withdraw", rid, "--actor", MAKER, "--reason", "too late", needle="is promoted, not pending")

    other = desk.request("3")
    cli("promote", "withdraw", other, "--actor", MAKER, "--reason", "changed my mind")
    cli.refused("promote", "withdraw", other, "--actor", MAKER, "--reason", "again", needle="is withdrawn, not pending")
    assert len(desk.audit("withdraw_promotion")) == 1


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("pr-missing", "--actor", MAKER, "--reason", "x"), "promotion request 'pr-missing' does not exist"),
        (("{rid}", "--actor", MAKER, "--reason", "  "), "a reason is required"),
        (("{rid}", "--actor", MAKER), "Missing option '--reason'"),
        (("{rid}", "--actor", "nobody", "--reason", "x"), "unknown actor 'nobody'"),
    ],
)
def test_bad_withdrawals_are_one_line(desk: Desk, cli: Cli, args: tuple[str, ...], needle: str) -> None:
    rid = desk.request("2")

    cli.refused("promote", "withdraw", *(a.format(rid=rid) for a in args), needle=needle)

    assert show_request(desk.ctx, request_id=rid)["request"]["status"] == "pending"
