from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl

from app.charts import drift_share_chart
from pipelines.reads.overview import DRIFT_HISTORY_SCHEMA

T0 = datetime(2026, 6, 1, tzinfo=UTC)


def history() -> pl.DataFrame:
    rows = [
        ("b", "b2", T0, T0 + timedelta(weeks=1), "2", 0.1, False),
        ("a", "a2", T0, T0 + timedelta(weeks=2), "1", 0.6, True),
        ("a", "a1", T0, T0 + timedelta(weeks=1), "1", 0.0, False),
    ]
    return pl.DataFrame(
        [
            {
                "model": model,
                "batch_id": batch_id,
                "scored_at": scored_at,
                "window_start": None,
                "window_end": window_end,
                "model_version": version,
                "drift_share": share,
                "drifted": drifted,
            }
            for model, batch_id, scored_at, window_end, version, share, drifted in rows
        ],
        schema={"model": pl.String, **DRIFT_HISTORY_SCHEMA},
    )


def test_batches_are_numbered_per_model_oldest_first_with_utc_text() -> None:
    spec = drift_share_chart(history(), threshold=0.5).to_dict()

    (points,) = (rows for name, rows in spec["datasets"].items() if "batch_id" in rows[0])
    numbered = [(r["model"], r["batch"], r["batch_id"], r["verdict"]) for r in points]
    assert numbered == [("a", 1, "a1", "stable"), ("a", 2, "a2", "drifted"), ("b", 1, "b2", "stable")]
    assert points[0]["scored"] == "2026-06-01 00:00 UTC"
    assert points[0]["window"] == "… to 2026-06-08"


def test_the_threshold_is_drawn_and_every_point_has_a_tooltip() -> None:
    spec = drift_share_chart(history(), threshold=0.5).to_dict()

    line, points, rule = spec["layer"]
    assert line["mark"]["type"] == "line"
    assert [t["field"] for t in points["encoding"]["tooltip"]][:3] == ["model", "series", "batch_id"]
    assert rule["mark"]["type"] == "rule"
    assert {"threshold": 0.5} in next(rows for rows in spec["datasets"].values() if "threshold" in rows[0])


def test_batches_are_placed_at_their_data_window_so_two_models_weeks_line_up() -> None:
    spec = drift_share_chart(history(), threshold=0.5).to_dict()

    line = spec["layer"][0]
    assert (line["encoding"]["x"]["field"], line["encoding"]["x"]["type"]) == ("batch_time", "temporal")
    assert line["encoding"]["x"]["scale"]["type"] == "utc"
    assert line["encoding"]["color"]["field"] == "model"
    assert line["encoding"]["detail"]["field"] == "line"  # each model's version is a line of its own
    (points,) = (rows for rows in spec["datasets"].values() if "batch_id" in rows[0])
    placed = {r["batch_id"]: r["batch_time"] for r in points}
    # no window start: the window's end places the batch; a1 and b2 cover the same week
    assert placed["a1"] == placed["b2"] != placed["a2"]
    assert {r["line"] for r in points} == {"a v1", "b v2"}


def test_one_models_series_are_told_apart_by_colour() -> None:
    one = history().filter(pl.col("model") == "a").with_columns(series=pl.Series(["v1 · champion", "v1 · challenger"]))

    spec = drift_share_chart(one, threshold=0.5).to_dict()

    assert spec["layer"][0]["encoding"]["color"]["field"] == "series"
    (points,) = (rows for rows in spec["datasets"].values() if "batch_id" in rows[0])
    assert {r["line"] for r in points} == {"a v1 · champion", "a v1 · challenger"}
