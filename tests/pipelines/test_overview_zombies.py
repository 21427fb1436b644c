"""The overview's additions: risk tier, challenger, last monitoring, and zombies judged by the clock."""

from __future__ import annotations

from datetime import timedelta

from pipelines.jobs.labels import load_labels
from pipelines.jobs.models import set_model_policy
from pipelines.reads.overview import latest_activity, model_overview, overview_frame
from tests.conftest import ADMIN, MAKER, START, FixedClock, Seeded, context_for


def test_the_seeded_model_is_tended_medium_risk_and_has_no_challenger(seeded: Seeded) -> None:
    ctx = context_for(seeded.home)

    (summary,) = model_overview(ctx, now=ctx.clock())

    assert latest_activity(ctx) == START
    assert summary.risk_tier == "medium"
    assert summary.challenger_version is None
    assert summary.last_monitored_at == START
    assert summary.zombie_reason is None
    assert not summary.zombie
    row = overview_frame([summary]).row(0, named=True)
    assert (row["risk_tier"], row["challenger_version"], row["zombie"]) == ("medium", None, False)


def test_a_champion_nobody_scores_for_two_weeks_of_the_clock_is_a_zombie(seeded: Seeded) -> None:
    later = START + timedelta(days=30)
    ctx = context_for(seeded.home, clock=FixedClock(later))
    load_labels(
        ctx,
        model="loan_default",
        path=seeded.files / "labels7.csv",
        key=seeded.dataset.key,
        label=seeded.dataset.target,
        actor=MAKER,
    )

    (zombie,) = model_overview(ctx, now=START + timedelta(days=15))
    (tended,) = model_overview(ctx, now=START + timedelta(days=13))

    assert latest_activity(ctx) == later  # labels arriving are activity, yet they do not age the model
    assert zombie.zombie
    assert zombie.zombie_reason == "in production but not scored for over 14 days (last scored 2026-06-01)"
    assert overview_frame([zombie])["zombie"].to_list() == [True]
    assert not tended.zombie


def test_the_risk_tier_follows_the_model_policy(seeded: Seeded) -> None:
    ctx = context_for(seeded.home)
    set_model_policy(ctx, model="loan_default", tier="high", actor=ADMIN)

    (summary,) = model_overview(ctx, now=ctx.clock())

    assert summary.risk_tier == "high"
