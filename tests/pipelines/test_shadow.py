"""Champion vs challenger in shadow, on real tables and a real registry."""

from __future__ import annotations

from pipelines.reads.overview import model_overview
from tests.conftest import MAKER, REVIEWER_A, START, Seeded, context_for
from tests.pipelines.test_cli import Cli


def test_a_challenger_is_scored_in_shadow_and_compared_but_never_served(seeded: Seeded) -> None:
    cli = Cli(seeded.home)
    train = ("train", "loan_default", "--table", "loans", "--target", "defaulted", "--algorithm", "hgb")
    version = cli.json(*train, "--actor", MAKER)["version"]
    cli.refused(
        "promote",
        "request",
        "loan_default",
        "1",
        "--alias",
        "challenger",
        "--actor",
        MAKER,
        "--reason",
        "x",
        needle="is the champion",
    )
    request = cli.json(
        "promote",
        "request",
        "loan_default",
        version,
        "--alias",
        "challenger",
        "--actor",
        MAKER,
        "--reason",
        "shadow it",
    )
    approved = cli.json(
        "promote", "approve", request["request_id"], "--actor", REVIEWER_A, "--reason", "shadow is harmless"
    )
    assert approved["alias_moved"] is True  # one approval and no metric gate for a shadow
    registry = context_for(seeded.home).registry
    assert registry.alias_version("loan_default", "challenger") == version
    assert registry.alias_version("loan_default", "champion") == "1"

    scored = cli.json(
        "score",
        "loan_default",
        "--table",
        "applications",
        "--from",
        "2026-06-01",
        "--to",
        "2026-06-08",
        "--actor",
        MAKER,
    )
    assert scored["already_scored"] is True  # the champion's batch existed; only the challenger's is new
    assert scored["challenger_version"] == version
    predictions = context_for(seeded.home).store.read("predictions")
    shadow_rows = predictions.filter(predictions["batch_id"] == scored["challenger_batch_id"])
    assert set(shadow_rows["role"]) == {"challenger"}
    assert shadow_rows.height == seeded.dataset.weeks[0].height

    comparison = cli.json("shadow", "loan_default")["batches"]
    assert len(comparison) == 1
    assert comparison[0]["champion_version"] == "1"
    assert comparison[0]["challenger_version"] == version
    assert 0.0 <= comparison[0]["disagreement_rate"] <= 1.0
    assert comparison[0]["score_ks"] > 0.0

    cli("monitor", "loan_default")  # realized metrics for the challenger's batch too
    # the challenger's batch, scored last, serves nothing: the overview's latest batch stays production's
    (summary,) = model_overview(context_for(seeded.home), now=START)
    assert summary.latest_batch_id == seeded.batch_ids[-1] != scored["challenger_batch_id"]
    promotion = cli.json(
        "promote", "request", "loan_default", version, "--actor", MAKER, "--reason", "shadow looked good"
    )
    evidence = cli.json("promote", "show", promotion["request_id"])["evidence"]
    assert evidence["shadow"][0]["challenger_batch"] == scored["challenger_batch_id"]
    assert "roc_auc" in evidence["shadow"][0]["challenger_realized"]
