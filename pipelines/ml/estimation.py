"""Performance without labels, for each task.

What an estimate needs (its *calibration*) is fitted once per version, on labelled rows its model did
not train on (out-of-fold or holdout outputs), and stored with the version as JSON
(`calibration_to_json`, `calibration_from_json`): plain numbers and LightGBM's own text format, so
loading one runs no code. Each method stays right under covariate shift as long as the relation
between features and target holds (no concept drift) and the shift stays within the reference data.

* binary, confidence-based (CBPE): an isotonic map from the model's score to the observed positive
  rate; each calibrated probability p counts the row as positive with weight p and negative with
  1 - p, which gives the expected confusion matrix at the decision threshold and the expected ROC AUC.
* multiclass, CBPE per class: one isotonic map per class, one-vs-rest (kept only where it lowers the
  calibration error on held-out splits), rows renormalised to sum to 1; expected accuracy is the mean
  calibrated probability of the predicted class, and each class's expected confusion matrix gives F1,
  recall and ROC AUC, macro-averaged.
* regression, direct loss estimation (NannyML's DLE): two gradient-boosted models predict each row's
  absolute and squared error from its features and the model's prediction; MAE is the mean predicted
  absolute error, RMSE the root of the mean predicted squared error.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, TypeAlias

import numpy as np
import polars as pl
from sklearn.isotonic import IsotonicRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedShuffleSplit

from governance.errors import InputError
from governance.features import FeatureSpec
from pipelines.ml.modeling import DECISION_THRESHOLD, MISSING_LEVEL

FORMAT = 1  # of the JSON a calibration is stored as


@dataclass(frozen=True)
class IsotonicCurve:
    """A non-decreasing piecewise-linear map into [0, 1] (an isotonic regression's), flat beyond its ends."""

    x: tuple[float, ...]
    y: tuple[float, ...]

    @classmethod
    def fit(cls, scores: np.ndarray, outcomes: np.ndarray) -> IsotonicCurve:
        regression = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
        regression.fit(np.asarray(scores, dtype=np.float64), np.asarray(outcomes, dtype=np.float64))
        return cls(tuple(regression.X_thresholds_.tolist()), tuple(regression.y_thresholds_.tolist()))

    def __call__(self, scores: np.ndarray) -> np.ndarray:
        return np.clip(np.interp(scores, self.x, self.y), 0.0, 1.0)

    def to_dict(self) -> dict[str, Any]:
        return {"x": list(self.x), "y": list(self.y)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> IsotonicCurve:
        return cls(tuple(float(v) for v in data["x"]), tuple(float(v) for v in data["y"]))


def _weighted_auc(scores: np.ndarray, p: np.ndarray) -> float:
    """The expected ROC AUC of `scores` when each row is positive with probability `p`: every row
    counts as a positive with weight p and as a negative with weight 1 - p; a positive ranked above a
    negative wins 1, a tie 1/2. (scikit-learn's weighted roc_auc_score on the rows doubled gives the
    same number, three times slower.)"""
    order = np.argsort(scores, kind="stable")
    ranked, positive = scores[order], p[order]
    negative = 1.0 - positive
    ties = np.flatnonzero(np.r_[True, ranked[1:] != ranked[:-1]])  # where each run of equal scores starts
    positive_at, negative_at = np.add.reduceat(positive, ties), np.add.reduceat(negative, ties)
    negative_below = np.cumsum(negative_at) - negative_at
    won = float(np.dot(positive_at, negative_below + negative_at / 2))
    return won / (float(positive.sum()) * float(negative.sum()))


# ---- binary: CBPE ------------------------------------------------------------------------------


@dataclass(frozen=True)
class BinaryCalibration:
    """Monotone map from a model's score to the observed positive rate, fitted on reference data."""

    curve: IsotonicCurve

    def probabilities(self, scores: np.ndarray) -> np.ndarray:
        return self.curve(scores)


def fit_calibration(scores: np.ndarray, labels: np.ndarray) -> BinaryCalibration:
    return BinaryCalibration(IsotonicCurve.fit(scores, labels))


def estimate_performance(scores: np.ndarray, *, calibration: BinaryCalibration) -> dict[str, float]:
    """Expected metrics of a batch from its scores alone (none for an empty batch)."""
    if len(scores) == 0:
        return {}
    p = calibration.probabilities(scores)
    flagged = scores >= DECISION_THRESHOLD
    tp, fp = float(p[flagged].sum()), float((1 - p[flagged]).sum())
    fn, tn = float(p[~flagged].sum()), float((1 - p[~flagged]).sum())
    n = len(scores)
    estimate = {
        "accuracy": (tp + tn) / n if n else float("nan"),
        "precision": tp / (tp + fp) if tp + fp else 0.0,
        "recall": tp / (tp + fn) if tp + fn else 0.0,
        "positive_rate": float(p.mean()) if n else float("nan"),
    }
    estimate["f1"] = (
        2 * estimate["precision"] * estimate["recall"] / (estimate["precision"] + estimate["recall"])
        if estimate["precision"] + estimate["recall"]
        else 0.0
    )
    if 0 < p.sum() < n:
        estimate["roc_auc"] = _weighted_auc(scores, p)
    return estimate


# ---- multiclass: CBPE per class ----------------------------------------------------------------

ECE_BINS = 10
ECE_SPLITS = 10
ECE_CHECK_MAX_ROWS = 100_000
NO_CALIBRATION_ABOVE_AUC = 0.999  # a class this well separated is left as it is


@dataclass(frozen=True)
class ClassCalibration:
    """Per-class, one-vs-rest calibration of a multiclass model's probabilities; `curves[j]` maps the
    probability of `classes[j]`, None where calibrating did not help."""

    classes: tuple[str, ...]
    curves: tuple[IsotonicCurve | None, ...]

    def probabilities(self, outputs: np.ndarray) -> np.ndarray:
        """Calibrated probabilities, one column per class, each row summing to 1 (rows every curve maps
        to 0 keep the model's own probabilities)."""
        calibrated = np.column_stack(
            [outputs[:, j] if curve is None else curve(outputs[:, j]) for j, curve in enumerate(self.curves)]
        )
        total = calibrated.sum(axis=1, keepdims=True)
        return np.divide(calibrated, total, out=np.array(outputs, dtype=np.float64), where=total > 0)


def fit_class_calibration(outputs: np.ndarray, labels: np.ndarray, classes: Sequence[str]) -> ClassCalibration:
    """Each class's isotonic calibration on reference `outputs` (one column per class, in the order of
    `classes`) and their `labels`, kept only where it lowers the expected calibration error on
    held-out splits (NannyML's rule)."""
    labels = np.asarray(labels, dtype=object)
    curves = tuple(_class_curve(outputs[:, j], labels == name) for j, name in enumerate(classes))
    return ClassCalibration(tuple(classes), curves)


def _class_curve(scores: np.ndarray, outcome: np.ndarray) -> IsotonicCurve | None:
    positives = int(outcome.sum())
    if min(positives, len(outcome) - positives) < 2 or len(outcome) < 2 * ECE_BINS:
        return None  # too little of one side to calibrate against
    if roc_auc_score(outcome, scores) > NO_CALIBRATION_ABOVE_AUC:
        return None
    checked = np.arange(len(scores))
    if len(checked) > ECE_CHECK_MAX_ROWS:  # enough to tell whether calibrating helps; the curve uses every row
        checked = np.sort(np.random.default_rng(0).choice(len(checked), ECE_CHECK_MAX_ROWS, replace=False))
    splits = StratifiedShuffleSplit(n_splits=ECE_SPLITS, test_size=0.1, random_state=42)
    held_out, raw, calibrated = [], [], []
    for fit_rows, test_rows in splits.split(scores[checked], outcome[checked]):
        fit_rows, test_rows = checked[fit_rows], checked[test_rows]
        curve = IsotonicCurve.fit(scores[fit_rows], outcome[fit_rows])
        held_out.append(outcome[test_rows])
        raw.append(scores[test_rows])
        calibrated.append(curve(scores[test_rows]))
    truth = np.concatenate(held_out).astype(np.float64)
    if _ece(np.concatenate(calibrated), truth) >= _ece(np.concatenate(raw), truth):
        return None
    return IsotonicCurve.fit(scores, outcome)


def _ece(p: np.ndarray, outcome: np.ndarray) -> float:
    """Expected calibration error over equal-count bins of the sorted probabilities."""
    order = np.argsort(p, kind="stable")
    return float(
        sum(
            len(part) / len(p) * abs(p[part].mean() - outcome[part].mean())
            for part in np.array_split(order, ECE_BINS)
            if len(part)
        )
    )


def estimate_classes(outputs: np.ndarray, *, calibration: ClassCalibration) -> dict[str, float]:
    """Expected multiclass metrics of a batch from its outputs alone (one column per class, in the order
    of `calibration.classes`; none for an empty batch): accuracy, macro F1, macro one-vs-rest ROC AUC
    (when every class is expected to occur) and recall per class (`recall:<class>`)."""
    n = len(outputs)
    if n == 0:
        return {}
    p = calibration.probabilities(outputs)
    predicted = np.argmax(outputs, axis=1)
    estimate = {"accuracy": float(p[np.arange(n), predicted].mean())}
    f1s, aucs, recalls = [], [], {}
    for j, name in enumerate(calibration.classes):
        flagged = predicted == j
        tp, fp, fn = float(p[flagged, j].sum()), float((1 - p[flagged, j]).sum()), float(p[~flagged, j].sum())
        f1s.append(tp / (tp + (fp + fn) / 2) if tp + fp + fn else 0.0)
        if tp + fn:
            recalls[f"recall:{name}"] = tp / (tp + fn)
        if 0 < p[:, j].sum() < n:
            aucs.append(_weighted_auc(outputs[:, j], p[:, j]))
    estimate["f1"] = float(np.mean(f1s))
    if len(aucs) == len(calibration.classes):
        estimate["roc_auc"] = float(np.mean(aucs))
    return estimate | recalls


# ---- regression: direct loss estimation --------------------------------------------------------

LOSS_MODEL_MAX_ROWS = 200_000  # a sample this large fits the loss models well; more only costs time
LOSS_ESTIMATE_MAX_ROWS = 100_000  # ... and estimates a batch's mean loss closely
LOSS_MODEL_MAX_LEVELS = 100  # per categorical column; rarer levels count as unseen
LOSS_MODEL_PARAMS: Mapping[str, Any] = {
    "objective": "regression",  # squared error: the models estimate the mean loss, as the metrics need
    "learning_rate": 0.05,
    "num_leaves": 15,
    "min_data_in_leaf": 50,
    "feature_fraction": 1.0,
    "verbose": -1,
    "seed": 0,
    "deterministic": True,
    "force_row_wise": True,
    "num_threads": 1,  # see build_estimator: OpenMP threads spin on a shared machine
}
LOSS_MODEL_ROUNDS = 200


@dataclass(frozen=True)
class LossModel:
    """Direct loss estimation for a regressor: two LightGBM models, in LightGBM's text format, that
    predict a row's absolute and squared error from its features (numbers as floats, categories coded
    by `levels`, unseen ones missing) and the model's prediction."""

    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    levels: tuple[tuple[str, ...], ...]  # of each categorical column, coded 0, 1, ...
    absolute_error: str
    squared_error: str

    @cached_property
    def _boosters(self) -> tuple[Any, Any]:
        import lightgbm  # imported when used: ~1 s

        return lightgbm.Booster(model_str=self.absolute_error), lightgbm.Booster(model_str=self.squared_error)

    def expected_losses(self, predictions: np.ndarray, rows: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Each row's expected absolute and squared error (never below 0)."""
        features = _loss_features(rows, predictions, self.numeric, self.categorical, self.levels)
        absolute, squared = self._boosters
        return np.maximum(absolute.predict(features), 0.0), np.maximum(squared.predict(features), 0.0)


def fit_loss_model(
    predictions: np.ndarray, targets: np.ndarray, rows: pl.DataFrame, spec: FeatureSpec, *, seed: int = 0
) -> LossModel:
    """The loss models, fitted on reference `rows` with the model's `predictions` and the true `targets`
    (at most LOSS_MODEL_MAX_ROWS of them, sampled)."""
    import lightgbm

    if len(targets) > LOSS_MODEL_MAX_ROWS:
        keep = np.sort(np.random.default_rng(seed).choice(len(targets), LOSS_MODEL_MAX_ROWS, replace=False))
        predictions, targets, rows = predictions[keep], targets[keep], rows[keep]
    levels = tuple(_frequent_levels(rows[c]) for c in spec.categorical)
    features = _loss_features(rows, predictions, spec.numeric, spec.categorical, levels)
    error = np.asarray(targets, dtype=np.float64) - predictions
    categorical = list(range(len(spec.numeric), len(spec.numeric) + len(spec.categorical)))
    texts = []
    for loss in (np.abs(error), error**2):
        data = lightgbm.Dataset(features, label=loss, categorical_feature=categorical, free_raw_data=True)
        booster = lightgbm.train(dict(LOSS_MODEL_PARAMS), data, num_boost_round=LOSS_MODEL_ROUNDS)
        texts.append(booster.model_to_string())
    return LossModel(spec.numeric, spec.categorical, levels, texts[0], texts[1])


def _frequent_levels(series: pl.Series) -> tuple[str, ...]:
    """The column's most frequent levels (ties in text order), nulls as the '(missing)' level."""
    levels = series.cast(pl.String).fill_null(MISSING_LEVEL).rename("level")
    counts = levels.value_counts(name="count").sort(["count", "level"], descending=[True, False])
    return tuple(counts["level"].head(LOSS_MODEL_MAX_LEVELS).to_list())


def _loss_features(
    rows: pl.DataFrame,
    predictions: np.ndarray,
    numeric: Sequence[str],
    categorical: Sequence[str],
    levels: Sequence[Sequence[str]],
) -> np.ndarray:
    codes = [
        pl.col(c)
        .cast(pl.String)
        .fill_null(MISSING_LEVEL)
        .replace_strict(list(known), list(range(len(known))), default=None, return_dtype=pl.Float64)
        for c, known in zip(categorical, levels, strict=True)
    ]
    frame = rows.select(*(pl.col(c).cast(pl.Float64) for c in numeric), *codes)
    return np.column_stack([frame.to_numpy().astype(np.float64), predictions])


def estimate_loss(
    predictions: np.ndarray, rows: pl.DataFrame, *, calibration: LossModel, max_rows: int = LOSS_ESTIMATE_MAX_ROWS
) -> dict[str, float]:
    """Expected MAE and RMSE of a batch from its predictions and feature rows (none for an empty batch),
    over a sample of `max_rows` rows of a larger batch: the mean of the expected losses is then within
    ~0.3% of the whole batch's, and the loss models do not cost 15 s per million rows."""
    if len(predictions) == 0:
        return {}
    if len(predictions) > max_rows:
        keep = np.sort(np.random.default_rng(0).choice(len(predictions), max_rows, replace=False))
        predictions, rows = predictions[keep], rows[keep]
    absolute, squared = calibration.expected_losses(predictions, rows)
    return {"mae": float(absolute.mean()), "rmse": float(np.sqrt(squared.mean()))}


# ---- storing a calibration with its version ----------------------------------------------------

Calibration: TypeAlias = BinaryCalibration | ClassCalibration | LossModel


def calibration_to_json(calibration: Calibration) -> str:
    """`calibration` as a JSON document (strict JSON: no NaN), to store with its version."""
    body: dict[str, Any]
    match calibration:
        case BinaryCalibration():
            body = {"method": "binary_cbpe", "curve": calibration.curve.to_dict()}
        case ClassCalibration():
            body = {
                "method": "multiclass_cbpe",
                "classes": list(calibration.classes),
                "curves": [None if c is None else c.to_dict() for c in calibration.curves],
            }
        case LossModel():
            body = {
                "method": "dle",
                "numeric": list(calibration.numeric),
                "categorical": list(calibration.categorical),
                "levels": [list(levels) for levels in calibration.levels],
                "absolute_error": calibration.absolute_error,
                "squared_error": calibration.squared_error,
            }
    return json.dumps({"format": FORMAT, **body}, ensure_ascii=False, allow_nan=False)


def calibration_from_json(text: str) -> Calibration:
    """The calibration `calibration_to_json` stored; InputError when the document is not one."""
    try:
        data = json.loads(text)
        if data.get("format") != FORMAT:
            raise InputError(f"calibration format {data.get('format')!r} is not {FORMAT}: refit it")
        match data["method"]:
            case "binary_cbpe":
                return BinaryCalibration(IsotonicCurve.from_dict(data["curve"]))
            case "multiclass_cbpe":
                return ClassCalibration(
                    tuple(str(c) for c in data["classes"]),
                    tuple(None if c is None else IsotonicCurve.from_dict(c) for c in data["curves"]),
                )
            case "dle":
                return LossModel(
                    numeric=tuple(data["numeric"]),
                    categorical=tuple(data["categorical"]),
                    levels=tuple(tuple(levels) for levels in data["levels"]),
                    absolute_error=str(data["absolute_error"]),
                    squared_error=str(data["squared_error"]),
                )
            case method:
                raise InputError(f"unknown calibration method {method!r}")
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise InputError(f"the stored calibration is not valid: {error}") from None
