"""Performance without labels: confidence-based estimation for binary classifiers.

Calibrate the model's scores on labelled reference data (its holdout), then treat each calibrated
probability p as the chance the row is positive: the expected confusion matrix at the decision
threshold follows, and so does the expected ROC AUC (each row is positive with weight p and
negative with weight 1 - p). It stays right under covariate shift as long as the relation between
features and label (and so the calibration) holds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.isotonic import IsotonicRegression
from sklearn.metrics import roc_auc_score

from pipelines.ml.modeling import DECISION_THRESHOLD


@dataclass(frozen=True)
class Calibration:
    """Monotone map from a model's score to the observed positive rate, fitted on reference data."""

    regression: IsotonicRegression

    def probabilities(self, scores: np.ndarray) -> np.ndarray:
        return np.clip(self.regression.predict(scores), 0.0, 1.0)


def fit_calibration(scores: np.ndarray, labels: np.ndarray) -> Calibration:
    regression = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
    regression.fit(scores, labels)
    return Calibration(regression=regression)


def estimate_performance(scores: np.ndarray, *, calibration: Calibration) -> dict[str, float]:
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
        both = np.concatenate([scores, scores])
        labels = np.concatenate([np.ones(n), np.zeros(n)])
        estimate["roc_auc"] = float(roc_auc_score(labels, both, sample_weight=np.concatenate([p, 1 - p])))
    return estimate
