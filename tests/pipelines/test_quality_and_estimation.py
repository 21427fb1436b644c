"""Batch data quality on hand-built frames, and the label-free performance estimate on synthetic data."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import numpy as np
import polars as pl
import pytest
from sklearn.metrics import roc_auc_score

from governance.features import FeatureSpec
from governance.quality import ChunkStats, QualityCheck, QualityLimits, QualityResult, QualityThresholds
from pipelines.ml.estimation import BinaryCalibration, estimate_performance, fit_calibration
from pipelines.ml.modeling import classification_metrics
from pipelines.ml.quality import REFERENCE_CHUNKS, batch_quality, reference_chunk_stats

SPEC = FeatureSpec(numeric=("income", "age", "flag"), categorical=("purpose",))
KEY = "id"
THRESHOLDS = QualityThresholds()

REFERENCE = pl.DataFrame(
    {
        "id": ["r1", "r2", "r3", "r4"],
        "income": [10.0, 20.0, 30.0, 25.0],
        "age": [20, None, 40, 60],  # a quarter missing in training
        "flag": [True, False, True, False],
        "purpose": ["car", "home", "car", "Zürich €"],
        "unused": [1, 2, 3, 4],
    }
)


def current(**columns: Sequence[object]) -> pl.DataFrame:
    """A 4-row batch identical in kind to the reference, with the given columns replaced."""
    base: dict[str, pl.Series] = {
        "id": pl.Series(["c1", "c2", "c3", "c4"]),
        "income": pl.Series([10.0, 15.0, 30.0, 20.0]),
        "age": pl.Series([25, 30, None, 50]),
        "flag": pl.Series([True, True, False, False]),
        "purpose": pl.Series(["car", "home", "Zürich €", "car"]),
    }
    for name, values in columns.items():
        base[name] = pl.Series(values, dtype=REFERENCE.schema[name]) if name in REFERENCE.columns else pl.Series(values)
    return pl.DataFrame(base)


def results(
    frame: pl.DataFrame, thresholds: QualityThresholds = THRESHOLDS
) -> dict[tuple[QualityCheck, str], QualityResult]:
    found = batch_quality(REFERENCE, frame, spec=SPEC, key=KEY, thresholds=thresholds)
    by_check = {(r.check, r.column): r for r in found}
    assert len(by_check) == len(found), "one result per check and column"
    return by_check


def value(frame: pl.DataFrame, check: QualityCheck, column: str) -> float:
    return results(frame)[(check, column)].value


def test_a_clean_batch_passes_every_check_and_covers_every_feature() -> None:
    found = results(current())
    assert all(r.passed for r in found.values())
    assert set(found) == {
        *((QualityCheck.SCHEMA, c) for c in SPEC.columns),
        *((QualityCheck.MISSING, c) for c in SPEC.columns),
        (QualityCheck.OUT_OF_RANGE, "income"),
        (QualityCheck.OUT_OF_RANGE, "age"),  # not 'flag': a boolean has no range
        (QualityCheck.UNSEEN, "purpose"),
        (QualityCheck.DUPLICATE_KEYS, KEY),
    }
    assert all(r.value == 0.0 for r in found.values() if r.check is not QualityCheck.SCHEMA)


@pytest.mark.parametrize(
    ("purposes", "share"),
    [
        (["car", "home", "car", "home"], 0.0),
        (["car", "boat", "car", "home"], 0.25),
        (["boat", "boat", "plane", None], 1.0),  # nulls are missing, not unseen
        (["car", "boat", None, None], 0.5),
        (["zürich €", "Zürich €", "car", "car"], 0.25),  # exact text: case matters
    ],
)
def test_unseen_category_share(purposes: list[object], share: float) -> None:
    result = results(current(purpose=purposes))[(QualityCheck.UNSEEN, "purpose")]
    assert result.value == pytest.approx(share)
    assert result.passed is (share <= THRESHOLDS.unseen)


@pytest.mark.parametrize(
    ("incomes", "share"),
    [
        ([10.0, 30.0, 20.0, 25.0], 0.0),  # the training min and max are inside the range
        ([9.99, 30.0, 20.0, 25.0], 0.25),
        ([5.0, 35.0, 20.0, None], 2 / 3),  # of the values present
        ([1e9, 1e9, 1e9, 1e9], 1.0),
        ([None, None, None, None], 0.0),
    ],
)
def test_out_of_range_share(incomes: list[object], share: float) -> None:
    result = results(current(income=incomes))[(QualityCheck.OUT_OF_RANGE, "income")]
    assert result.value == pytest.approx(share)
    assert result.passed is (share <= THRESHOLDS.out_of_range)


def test_out_of_range_on_integers() -> None:
    assert value(current(age=[19, 61, 40, None]), QualityCheck.OUT_OF_RANGE, "age") == pytest.approx(2 / 3)


@pytest.mark.parametrize(
    ("ages", "increase", "passed"),
    [
        ([25, None, 30, 50], 0.0, True),  # a quarter missing, as in training
        ([25, 30, 35, 50], 0.0, True),  # fewer missing is no increase
        ([None, None, 30, 50], 0.25, False),
        ([None, None, None, None], 0.75, False),
    ],
)
def test_missing_share_increase(ages: list[object], increase: float, passed: bool) -> None:
    result = results(current(age=ages))[(QualityCheck.MISSING, "age")]
    assert result.value == pytest.approx(increase)
    assert result.passed is passed


def test_missing_increase_on_a_column_complete_in_training() -> None:
    result = results(current(income=[10.0, None, 20.0, 25.0]))[(QualityCheck.MISSING, "income")]
    assert (result.value, result.passed) == (pytest.approx(0.25), False)


@pytest.mark.parametrize(
    ("column", "values"),
    [
        ("income", ["10", "x", "30", None]),  # text where training had numbers
        ("income", [date(2026, 1, 1), None, None, None]),
        ("age", [25.0, 30.0, 35.0, 50.0]),  # float where training had integers
        ("flag", [1, 0, 1, 0]),
        ("purpose", [1, 2, 3, 4]),
    ],
)
def test_a_dtype_mismatch_fails_the_schema_check(column: str, values: list[object]) -> None:
    frame = current().with_columns(pl.Series(column, values))
    found = results(frame)
    schema = found[(QualityCheck.SCHEMA, column)]
    assert (schema.value, schema.passed) == (0.0, False)
    others = [c for c in SPEC.columns if c != column]
    assert all(found[(QualityCheck.SCHEMA, c)].value == 1.0 for c in others)


def test_text_in_a_numeric_column_is_not_compared_with_the_numeric_range() -> None:
    found = results(current().with_columns(pl.Series("income", ["5", "15", "25", "35"])))
    assert (QualityCheck.OUT_OF_RANGE, "income") not in found  # the schema check already fails it


def test_a_missing_column_fails_the_schema_check() -> None:
    found = results(current().drop("purpose"))
    assert found[(QualityCheck.SCHEMA, "purpose")].value == 0.0
    assert (QualityCheck.UNSEEN, "purpose") not in found
    assert (QualityCheck.MISSING, "purpose") not in found


@pytest.mark.parametrize(
    ("keys", "duplicated"),
    [
        (["a", "b", "c", "d"], 0.0),
        (["a", "a", "c", "d"], 2.0),  # every row that shares its key with another row
        (["a", "a", "a", "d"], 3.0),
        (["a", "a", "b", "b"], 4.0),
    ],
)
def test_duplicate_keys_count(keys: list[str], duplicated: float) -> None:
    result = results(current(id=keys))[(QualityCheck.DUPLICATE_KEYS, KEY)]
    assert (result.value, result.passed) == (duplicated, duplicated == 0.0)


def test_thresholds_are_passed_through() -> None:
    lenient = QualityThresholds(missing_increase=1.0, out_of_range=1.0, unseen=1.0, duplicate_keys=10.0)
    frame = current(id=["a", "a", "b", "b"], income=[1e9, 1e9, 1e9, 1e9], purpose=["boat"] * 4, age=[None] * 4)
    found = results(frame, lenient)
    assert all(r.passed for r in found.values())
    assert found[(QualityCheck.UNSEEN, "purpose")].threshold == 1.0
    assert not all(r.passed for r in results(frame).values())


def test_an_empty_batch_raises_nothing() -> None:
    found = results(current().head(0))
    assert all(r.passed for r in found.values())


# ---- confidence-based performance estimation ---------------------------------------------------


def _calibration(mapping: dict[float, float], *, per_score: int = 10) -> BinaryCalibration:
    """Fitted on `per_score` reference rows at each score, a share `mapping[score]` of them positive."""
    scores, labels = [], []
    for score, positive_share in mapping.items():
        positives = round(positive_share * per_score)
        scores += [score] * per_score
        labels += [1] * positives + [0] * (per_score - positives)
    return fit_calibration(np.array(scores), np.array(labels))


def test_the_expected_confusion_matrix_by_hand() -> None:
    # rows scored 0.2 are positive 20% of the time, rows scored 0.7 80% of the time
    calibration = _calibration({0.2: 0.2, 0.7: 0.8})
    scores = np.array([0.2, 0.2, 0.7, 0.7, 0.7])
    assert calibration.probabilities(scores) == pytest.approx([0.2, 0.2, 0.8, 0.8, 0.8])

    # flagged (score >= 0.5): three rows at p = 0.8; not flagged: two rows at p = 0.2
    tp, fp = 3 * 0.8, 3 * 0.2
    fn, tn = 2 * 0.2, 2 * 0.8
    precision, recall = tp / (tp + fp), tp / (tp + fn)
    assert (precision, recall) == (pytest.approx(0.8), pytest.approx(6 / 7))

    estimate = estimate_performance(scores, calibration=calibration)
    assert estimate["precision"] == pytest.approx(precision)
    assert estimate["recall"] == pytest.approx(recall)
    assert estimate["accuracy"] == pytest.approx((tp + tn) / 5)
    assert estimate["f1"] == pytest.approx(2 * precision * recall / (precision + recall))
    assert estimate["positive_rate"] == pytest.approx((tp + fn) / 5)

    # every row counts as a positive with weight p and a negative with weight 1 - p:
    # higher-scored positive over lower-scored negative counts 1, a tie counts 1/2
    p = calibration.probabilities(scores)
    won = sum(
        p[i] * (1 - p[j]) * (1.0 if scores[i] > scores[j] else 0.5 if scores[i] == scores[j] else 0.0)
        for i in range(5)
        for j in range(5)
    )
    assert estimate["roc_auc"] == pytest.approx(won / (p.sum() * (1 - p).sum()))
    assert estimate["roc_auc"] == pytest.approx((2.4 * 1.6 + 0.5 * (0.4 * 1.6 + 2.4 * 0.6)) / (2.8 * 2.2))


def test_scores_outside_the_reference_range_are_clipped_to_its_ends() -> None:
    calibration = _calibration({0.2: 0.2, 0.7: 0.8})
    assert calibration.probabilities(np.array([0.0, 0.45, 1.0])) == pytest.approx([0.2, 0.5, 0.8])


def test_nothing_flagged_gives_zero_precision_and_recall() -> None:
    estimate = estimate_performance(np.array([0.2, 0.2, 0.3]), calibration=_calibration({0.2: 0.2, 0.7: 0.8}))
    assert (estimate["precision"], estimate["recall"], estimate["f1"]) == (0.0, 0.0, 0.0)
    assert "roc_auc" in estimate


def test_no_auc_when_the_calibration_says_one_class_only() -> None:
    calibration = _calibration({0.1: 0.0, 0.3: 0.0, 0.9: 1.0})
    assert "roc_auc" not in estimate_performance(np.array([0.1, 0.3]), calibration=calibration)
    assert "roc_auc" not in estimate_performance(np.array([0.9, 0.95]), calibration=calibration)


SEED = 20260601
# (mean, spread) of the one latent feature per batch: the first matches the reference, the others shift it
SHIFTS = ((0.0, 1.0), (0.3, 1.0), (-0.3, 1.0), (0.6, 0.8), (1.0, 1.0), (-0.5, 1.3), (0.2, 0.6), (0.8, 1.2))


def _population(rng: np.random.Generator, rows: int, mean: float, spread: float) -> tuple[np.ndarray, np.ndarray]:
    """Scores that are true probabilities, and labels drawn from them: a well-calibrated model."""
    p = 1 / (1 + np.exp(-(-1.5 + 1.2 * rng.normal(mean, spread, rows))))
    return p, (rng.random(rows) < p).astype(np.int64)


@pytest.mark.parametrize("sharpness", [1.0, 0.5], ids=["calibrated scores", "under-confident scores"])
def test_the_estimate_tracks_realized_roc_auc_under_covariate_shift(sharpness: float) -> None:
    # an under-confident model ranks as well but its scores are not probabilities: the calibration fixes that
    def model_scores(p: np.ndarray) -> np.ndarray:
        return 1 / (1 + np.exp(-sharpness * np.log(p / (1 - p))))

    rng = np.random.default_rng(SEED)
    p, labels = _population(rng, 20_000, 0.0, 1.0)
    calibration = fit_calibration(model_scores(p), labels)
    estimated, realized, positive_rates = [], [], []
    for mean, spread in SHIFTS:
        p, labels = _population(rng, 5_000, mean, spread)
        estimate = estimate_performance(model_scores(p), calibration=calibration)
        estimated.append(estimate["roc_auc"])
        realized.append(roc_auc_score(labels, model_scores(p)))
        positive_rates.append((estimate["positive_rate"], labels.mean()))
    estimated_auc, realized_auc = np.array(estimated), np.array(realized)

    assert realized_auc.max() - realized_auc.min() > 0.05  # the shifts really move the metric
    assert abs(estimated_auc.mean() - realized_auc.mean()) <= 0.01
    assert np.abs(estimated_auc - realized_auc).max() <= 0.03  # and each batch follows its own shift
    assert np.corrcoef(estimated_auc, realized_auc)[0, 1] > 0.8
    assert all(abs(e - r) <= 0.02 for e, r in positive_rates)


def test_the_estimate_matches_realized_metrics_at_the_threshold_on_a_large_batch() -> None:
    rng = np.random.default_rng(SEED + 1)
    calibration = fit_calibration(*_population(rng, 100_000, 0.0, 1.0))  # large: little calibration noise
    p, labels = _population(rng, 50_000, 0.5, 1.0)
    estimate = estimate_performance(p, calibration=calibration)
    realized = classification_metrics(labels, p)
    for metric in ("accuracy", "precision", "recall", "f1", "positive_rate", "roc_auc"):
        assert estimate[metric] == pytest.approx(realized[metric], abs=0.01), metric


# ---- thresholds from the reference's own chunks --------------------------------------------------


def _history(rows: int = 5000, *, seed: int = 7, missing: float = 0.04) -> pl.DataFrame:
    """A reference with an event time, a normal income missing in about `missing` of rows, a category."""
    rng = np.random.default_rng(seed)
    income = rng.normal(50.0, 10.0, rows)
    return pl.DataFrame(
        {
            "id": [f"h{i}" for i in range(rows)],
            "at": np.arange(rows)[::-1],  # stored newest first: chunks follow the event time, not row order
            "income": np.where(rng.random(rows) < missing, np.nan, income),
            "age": rng.integers(18, 80, rows),
            "flag": rng.random(rows) < 0.5,
            "purpose": rng.choice(["car", "home", "boat"], rows),
        }
    ).with_columns(pl.col("income").fill_nan(None))


def _limits(history: pl.DataFrame) -> QualityLimits:
    return QualityLimits(derived=reference_chunk_stats(history, spec=SPEC, time_column="at"))


def test_chunk_statistics_cover_missing_and_range_of_every_feature() -> None:
    stats = reference_chunk_stats(_history(), spec=SPEC, time_column="at")
    assert set(stats) == {
        *((QualityCheck.MISSING, c) for c in SPEC.columns),
        (QualityCheck.OUT_OF_RANGE, "income"),
        (QualityCheck.OUT_OF_RANGE, "age"),  # not 'flag': a boolean has no range
    }
    missing = stats[QualityCheck.MISSING, "income"]
    assert (missing.chunks, missing.chunk_rows) == (REFERENCE_CHUNKS, 500)
    assert missing.mean == pytest.approx(0.04, abs=0.01)
    assert 0.0 < missing.sd < 0.02
    assert stats[QualityCheck.MISSING, "purpose"] == ChunkStats(REFERENCE_CHUNKS, 500, 0.0, 0.0, 0.0)
    assert 0.0 < stats[QualityCheck.OUT_OF_RANGE, "income"].mean < 0.01  # leave-one-chunk-out, not 0


def test_chunks_follow_the_event_time() -> None:
    history = _history().with_columns(  # the 500 newest events have no income at all
        pl.when(pl.col("at") >= 4500).then(None).otherwise(pl.col("income")).alias("income")
    )
    by_time = reference_chunk_stats(history, spec=SPEC, time_column="at")[QualityCheck.MISSING, "income"]
    assert by_time.sd > 0.25  # one chunk entirely missing: a wide spread


def test_a_small_reference_has_no_chunk_statistics() -> None:
    assert reference_chunk_stats(REFERENCE, spec=SPEC, time_column=None) == {}
    assert reference_chunk_stats(_history(499), spec=SPEC, time_column="at") == {}


def test_the_references_own_chunks_do_not_alert() -> None:
    history = _history()
    limits = _limits(history)
    ordered = history.sort("at")
    for start in range(0, history.height, 500):
        chunk = ordered.slice(start, 500)
        others = pl.concat([ordered.slice(0, start), ordered.slice(start + 500)])
        found = batch_quality(others, chunk, spec=SPEC, key=KEY, thresholds=limits)
        derived = [r for r in found if r.check in {QualityCheck.MISSING, QualityCheck.OUT_OF_RANGE}]
        assert all(r.passed for r in found if r.check is QualityCheck.MISSING), start
        assert all(r.origin.startswith("derived from 10 reference chunks") for r in derived)


@pytest.mark.parametrize(("missing", "passed"), [(0.045, True), (0.08, False)])
def test_a_missing_share_rise_alerts_only_beyond_the_references_spread(missing: float, passed: bool) -> None:
    history = _history()
    batch = _history(2000, seed=11, missing=0.0).with_columns(
        pl.when(pl.int_range(pl.len()) < missing * pl.len()).then(None).otherwise(pl.col("income")).alias("income")
    )
    found = {
        (r.check, r.column): r for r in batch_quality(history, batch, spec=SPEC, key=KEY, thresholds=_limits(history))
    }
    result = found[QualityCheck.MISSING, "income"]
    assert result.passed is passed
    assert 0.0 < result.threshold < 0.04  # the reference's spread, not the old fixed +10 points


def test_one_new_category_in_one_percent_of_rows_alerts() -> None:
    history = _history()
    batch = _history(1000, seed=3).with_columns(
        pl.when(pl.int_range(pl.len()) < 10).then(pl.lit("crypto")).otherwise(pl.col("purpose")).alias("purpose")
    )
    found = {
        (r.check, r.column): r for r in batch_quality(history, batch, spec=SPEC, key=KEY, thresholds=_limits(history))
    }
    unseen = found[QualityCheck.UNSEEN, "purpose"]
    assert (unseen.value, unseen.threshold, unseen.passed) == (pytest.approx(0.01), 0.0, False)
    assert unseen.origin == "default: any unseen category"
