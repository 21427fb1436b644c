"""The Models page's read model: versions, run links, the alias timeline and who may roll back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from governance.aliases import AliasInterval, MoveKind
from pipelines.reads.models import (
    MIN_OPEN_INTERVAL,
    alias_timeline_frame,
    metric_columns,
    model_detail,
    rollback_refusal,
    run_url,
    tags_frame,
    timeline_until,
    versions_frame,
)
from tests.conftest import ANALYST, REVIEWER_A, REVIEWER_B, START, Seeded, context_for

T0 = datetime(2026, 6, 1, tzinfo=UTC)


def interval(version: str, start: int, end: int | None, kind: MoveKind) -> AliasInterval:
    return AliasInterval(
        alias="champion",
        version=version,
        start=T0 + timedelta(days=start),
        end=None if end is None else T0 + timedelta(days=end),
        kind=kind,
        request_id="" if kind is MoveKind.ROLLED_BACK else f"pr-{version}",
        actor="raj",
        reason="why",
    )


def test_the_seeded_model_in_detail(seeded: Seeded) -> None:
    detail = model_detail(context_for(seeded.home), "loan_default")

    assert (detail.champion, detail.challenger, detail.risk_tier) == ("1", None, "medium")
    assert [v.version for v in detail.versions] == ["1"]
    assert detail.run_links == {}  # no MLflow UI configured
    assert detail.timeline.select("version", "kind", "actor").rows() == [("1", "promoted", REVIEWER_B)]
    assert detail.latest_activity == START


def test_run_links_point_at_the_runs_experiment(seeded: Seeded) -> None:
    ctx = context_for(seeded.home)
    run_id = ctx.registry.version("loan_default", "1").run_id
    experiments = ctx.registry.experiment_ids([run_id, "0" * 32, "not a run id'"])

    assert list(experiments) == [run_id]  # unknown runs left out, odd text never reaches the query
    assert run_url("http://ui:5000", experiment_id="7", run_id="abc") == "http://ui:5000/#/experiments/7/runs/abc"
    assert ctx.registry.experiment_ids([]) == {}


def test_versions_newest_first_with_their_metrics_and_link(seeded: Seeded) -> None:
    info = context_for(seeded.home).registry.version("loan_default", "1")

    frame = versions_frame([info], run_links={info.run_id: "http://ui/run"})

    row = frame.row(0, named=True)
    assert (row["version"], row["aliases"], row["trainer"], row["run_link"]) == (
        "1",
        "champion",
        "maya",
        "http://ui/run",
    )
    assert "roc_auc" in metric_columns(frame)
    assert "train_rows" not in frame.columns  # a count, not a metric
    tags = tags_frame(info)
    assert ("tag", "mlgov.trainer", "maya") in tags.rows()
    assert ("param", "algorithm", "logreg") in tags.rows()


def test_the_timeline_flags_break_glass_and_rollbacks() -> None:
    frame = alias_timeline_frame(
        [
            interval("1", 0, 2, MoveKind.PROMOTED),
            interval("2", 2, 5, MoveKind.BREAK_GLASS),
            interval("1", 5, None, MoveKind.ROLLED_BACK),
        ]
    )

    assert frame.select("version", "break_glass", "rolled_back").rows() == [
        ("1", False, False),
        ("2", True, False),
        ("1", False, True),
    ]
    assert frame["end"].null_count() == 1
    assert timeline_until(frame, now=T0 + timedelta(days=30)) == T0 + timedelta(days=30)
    assert timeline_until(frame, now=T0 + timedelta(days=5)) == T0 + timedelta(days=5) + MIN_OPEN_INTERVAL
    assert timeline_until(frame.clear(), now=T0) is None


def test_only_reviewers_and_admins_may_roll_back(seeded: Seeded) -> None:
    ctx = context_for(seeded.home)

    assert rollback_refusal(ctx, actor=REVIEWER_A) is None
    assert rollback_refusal(ctx, actor=ANALYST) == "ana (analyst) may not rollback: needs role admin, reviewer"
    # where it could only fail, it is refused before anyone presses it
    assert rollback_refusal(ctx, actor=REVIEWER_A, model="loan_default") == (
        "loan_default has no earlier approved champion version to roll back to"
    )
