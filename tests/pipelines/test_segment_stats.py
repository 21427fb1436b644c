"""The statistics behind segments and fairness, against hand-computed values and planted data."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from scipy.stats import norm

from governance.fairness import FairnessMetric
from governance.segments import SearchPolicy, SegmentTest, segment_reported
from governance.tasks import Task
from pipelines.ml.fairness import LABEL, group_metrics, group_rates, reference_group
from pipelines.ml.segments import (
    LOSS,
    conditions,
    quantile_edges,
    row_loss,
    search_losses,
    search_shares,
    segment_label,
    without_refinements,
)


def test_fairness_metrics_equal_hand_computed_values() -> None:
    frame = pl.DataFrame(
        {
            "group": ["a"] * 10 + ["b"] * 8,
            "predicted_label": [*[1, 1, 1, 1, 1, 0, 0, 0, 0, 0], *[1, 1, 0, 0, 0, 0, 0, 0]],
            LABEL: [*[1, 1, 1, 0, 0, 1, 0, 0, 0, 0], *[1, 0, 1, 1, 0, 0, 0, None]],
        }
    )
    rates = group_rates(frame, "group", task=Task.BINARY)
    assert reference_group(rates, None) == "a"  # the largest
    metrics = {m.metric: m for m in group_metrics(rates, task=Task.BINARY, reference="a")}
    # a: selects 5/10; TPR 3/4; FPR 2/6; precision 3/5. b: selects 2/8; TPR 1/3; FPR 1/4; precision 1/2
    assert metrics[FairnessMetric.STATISTICAL_PARITY].value == pytest.approx(0.25 - 0.5)
    assert metrics[FairnessMetric.DISPARATE_IMPACT].value == pytest.approx(0.5)
    assert metrics[FairnessMetric.EQUAL_OPPORTUNITY].value == pytest.approx(1 / 3 - 3 / 4)
    assert metrics[FairnessMetric.PREDICTIVE_EQUALITY].value == pytest.approx(1 / 4 - 2 / 6)
    assert metrics[FairnessMetric.PREDICTIVE_PARITY].value == pytest.approx(1 / 2 - 3 / 5)
    assert metrics[FairnessMetric.EQUAL_OPPORTUNITY].support == 3  # b's positives
    assert metrics[FairnessMetric.STATISTICAL_PARITY].support == 8  # b's rows
    assert {m.labelled for m in metrics.values()} == {7}


def test_error_parity_for_regression() -> None:
    frame = pl.DataFrame(
        {"group": ["x", "x", "x", "y", "y"], "prediction": [1.0, 2.0, 3.0, 4.0, -4.0], LABEL: [0.0, 0.0, 0.0, 0, 0]}
    ).with_columns(row_loss(Task.REGRESSION, label=LABEL))
    rates = group_rates(frame, "group", task=Task.REGRESSION)
    (metric,) = group_metrics(rates, task=Task.REGRESSION, reference=reference_group(rates, None))
    assert (metric.group, metric.metric, metric.value) == ("y", FairnessMetric.ERROR_PARITY, pytest.approx(2.0))


def test_quantile_edges_and_bucket_labels() -> None:
    values = pl.Series("age", [18, 20, 22, 24, *range(25, 37)])
    edges = quantile_edges(values, 4)
    assert len(edges) == 3
    assert 24 < edges[0] < 25  # exactly the four youngest below the first edge
    labels = pl.DataFrame({"age": values}).select(segment_label("age", edges=edges))["age"]
    assert labels.value_counts().height == 4
    assert labels[0] == f"[-inf, {edges[0]:g})"
    assert quantile_edges(pl.Series([1.0, 1.0, 1.0]), 4) == []


BY_VALUE: dict[str, list[float] | None] = {"region": None, "age": None, "plan": None}


def _planted(n: int, *, rng: np.random.Generator, planted: bool) -> pl.DataFrame:
    region = rng.choice(["north", "south", "east", "west"], n)
    age = rng.choice(["young", "middle", "old"], n)
    plan = rng.choice(["a", "b", "c", "d", "e"], n)
    bad = (region == "west") & (age == "young") if planted else np.zeros(n, dtype=bool)
    loss = np.where(bad, rng.random(n) < 0.4, rng.random(n) < 0.1).astype(np.float64)
    return pl.DataFrame({"region": region, "age": age, "plan": plan, LOSS: loss})


def _reported(tested: pl.DataFrame) -> list[str]:
    policy = SearchPolicy()
    found = [
        r["segment"]
        for r in tested.iter_rows(named=True)
        if segment_reported(SegmentTest(r["rows"], r["gap"], r["adjusted_p"]), policy=policy)
    ]
    return without_refinements(found)


def test_the_search_ranks_a_planted_intersection_first_and_keeps_its_refinements_out() -> None:
    frame = _planted(20_000, rng=np.random.default_rng(1), planted=True)
    tested = search_losses(frame, BY_VALUE, min_rows=100)
    assert tested.height > 60  # 4x3 + 4x5 + 3x5 pairs, 60 triples, all above 100 rows
    reported = _reported(tested)
    assert conditions(reported[0]) == {"region=west", "age=young"}
    assert not any(conditions(s) > {"region=west", "age=young"} for s in reported)
    first = tested.row(0, named=True)
    bad = frame.filter((pl.col("region") == "west") & (pl.col("age") == "young"))[LOSS]
    rest = frame.filter(~((pl.col("region") == "west") & (pl.col("age") == "young")))[LOSS]
    assert first["rows"] == bad.len()
    assert first["value"] == pytest.approx(bad.mean())
    assert first["rest"] == pytest.approx(rest.mean())
    assert first["std_error"] == pytest.approx(bad.std() / np.sqrt(bad.len()))
    se = np.sqrt(bad.var() / bad.len() + rest.var() / rest.len())  # type: ignore[operator]
    assert first["z"] == pytest.approx((bad.mean() - rest.mean()) / se)  # type: ignore[operator]
    assert first["p_value"] == pytest.approx(norm.sf(first["z"]))
    assert first["adjusted_p"] == pytest.approx(min(1.0, tested.height * first["p_value"]))  # Holm's first step


def test_the_search_reports_nothing_where_the_loss_does_not_depend_on_the_segment() -> None:
    for seed in range(5):
        frame = _planted(20_000, rng=np.random.default_rng(seed), planted=False)
        assert _reported(search_losses(frame, BY_VALUE, min_rows=100)) == []


def test_small_segments_are_not_tested() -> None:
    frame = _planted(2_000, rng=np.random.default_rng(3), planted=True)
    tested = search_losses(frame, BY_VALUE, min_rows=100)
    assert tested["rows"].min() >= 100  # type: ignore[operator]
    assert tested.filter(pl.col("columns") == "region,age,plan").is_empty()  # ~33 rows each


def test_the_share_search_finds_a_segment_that_grew() -> None:
    rng = np.random.default_rng(5)
    reference = _planted(10_000, rng=rng, planted=False).drop(LOSS)
    current = _planted(10_000, rng=rng, planted=False).drop(LOSS)
    assert _reported(search_shares(current, reference, BY_VALUE, min_rows=100)) == []
    surge = current.with_columns(
        pl.when(pl.int_range(pl.len()) < 800).then(pl.lit("east")).otherwise("region").alias("region"),
        pl.when(pl.int_range(pl.len()) < 800).then(pl.lit("old")).otherwise("age").alias("age"),
    )
    tested = search_shares(surge, reference, BY_VALUE, min_rows=100)
    assert conditions(_reported(tested)[0]) == {"region=east", "age=old"}


def test_each_segment_found_is_named_by_the_rows_it_counts() -> None:
    rng = np.random.default_rng(5)
    frame = _planted(3_000, rng=rng, planted=False).with_columns(
        pl.Series("score", rng.normal(size=3_000)),
        pl.Series("plan", rng.choice(["a", "b", ""], 3_000)).replace("", None),  # missing: a segment of its own
    )
    edges: dict[str, list[float] | None] = {**BY_VALUE, "score": quantile_edges(frame["score"], 4)}
    tested = search_losses(frame, edges, min_rows=1)
    labelled = frame.select(segment_label(c, edges=e) for c, e in edges.items())

    assert tested.height > 100
    for row in tested.iter_rows(named=True):
        parts = [condition.split("=", 1) for condition in sorted(conditions(row["segment"]))]
        assert ",".join(sorted(c for c, _ in parts)) == ",".join(sorted(row["columns"].split(",")))
        inside = pl.all_horizontal(pl.col(column) == level for column, level in parts)
        assert labelled.filter(inside).height == row["rows"], row["segment"]


@pytest.mark.parametrize(
    "case",
    ["random", "no_predicted_positive", "no_true_positive", "one_class", "all_right"],
)
def test_classification_metrics_equal_sklearns_own_functions_exactly(case: str) -> None:
    # each segment's metrics take precision, recall and F1 from one sklearn call: the same numbers bit for bit
    from sklearn.metrics import f1_score, precision_score, recall_score

    from pipelines.ml.modeling import classification_metrics

    rng = np.random.default_rng(3)
    scores = rng.random(5_000)
    labels = (rng.random(5_000) < scores).astype(np.int64)
    if case == "no_predicted_positive":
        scores = scores / 2.1
    elif case == "no_true_positive":
        labels = np.where(scores >= 0.5, 0, labels)
    elif case == "one_class":
        labels = np.zeros_like(labels)
    elif case == "all_right":
        labels = (scores >= 0.5).astype(np.int64)
    predicted = (scores >= 0.5).astype(np.int64)

    metrics = classification_metrics(labels, scores)

    assert metrics["precision"] == float(precision_score(labels, predicted, zero_division=0))
    assert metrics["recall"] == float(recall_score(labels, predicted, zero_division=0))
    assert metrics["f1"] == float(f1_score(labels, predicted, zero_division=0))
