"""Synthetic data for a regression target (a price) and a multiclass one (a support queue) over the same
features, shared by the pipeline tests of each task and the app's fixtures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl

T0 = datetime(2026, 1, 5, tzinfo=UTC)
CLASSES = ("billing", "tech", "sales")


def features(rng: np.random.Generator, n: int, *, start: datetime, shift: float) -> pl.DataFrame:
    """`n` rows seven minutes apart from `start`: an id, a timestamp, x1 (mean `shift`), x2 and a region."""
    return pl.DataFrame(
        {
            "id": [f"{start:%Y%m%d}-{i}" for i in range(n)],
            "at": [start + timedelta(minutes=7 * i) for i in range(n)],
            "x1": rng.normal(shift, 1.0, n),
            "x2": rng.normal(0.0, 1.0, n),
            "region": rng.choice(["north", "south", "east"], n),
        }
    )


def price(frame: pl.DataFrame, rng: np.random.Generator) -> np.ndarray:
    """A price around 100, linear in x1, x2 and the region, with noise."""
    region = frame["region"].replace_strict({"north": 5.0, "south": -5.0, "east": 0.0}, return_dtype=pl.Float64)
    noise = rng.normal(0, 3, len(frame))
    return 100 + 12 * frame["x1"].to_numpy() - 7 * frame["x2"].to_numpy() + region.to_numpy() + noise


def queue(frame: pl.DataFrame, rng: np.random.Generator) -> np.ndarray:
    """One of CLASSES, most likely billing for a high x1, tech for a high x2, sales when both are low."""
    x1, x2 = frame["x1"].to_numpy(), frame["x2"].to_numpy()
    scores = np.column_stack([x1, x2, -x1 - x2]) * 2 + rng.gumbel(size=(len(frame), 3))
    return np.asarray(CLASSES)[scores.argmax(axis=1)]
