from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import polars as pl

from app.charts import alias_timeline_chart, metrics_comparison_chart
from governance.aliases import AliasInterval, MoveKind
from governance.tasks import Task
from pipelines.reads.models import alias_timeline_frame
from pipelines.reads.task_metrics import task_metrics

T0 = datetime(2026, 6, 1, tzinfo=UTC)


def history() -> pl.DataFrame:
    kinds = [("1", 0, MoveKind.PROMOTED), ("2", 2, MoveKind.BREAK_GLASS), ("1", 5, MoveKind.ROLLED_BACK)]
    return alias_timeline_frame(
        [
            AliasInterval(
                alias="champion",
                version=version,
                start=T0 + timedelta(days=day),
                end=T0 + timedelta(days=kinds[i + 1][1]) if i + 1 < len(kinds) else None,
                kind=kind,
                request_id="",
                actor="raj",
                reason="why",
            )
            for i, (version, day, kind) in enumerate(kinds)
        ]
    )


def rows_of(spec: dict, field: str) -> list[dict]:
    return next(rows for rows in spec["datasets"].values() if rows and field in rows[0])


def test_the_open_interval_runs_to_until_and_each_interval_says_how_it_began() -> None:
    until = T0 + timedelta(days=9)

    spec = alias_timeline_chart(history(), until=until).to_dict()

    rows = rows_of(spec, "how")
    assert [(r["version"], r["how"], r["holds"]) for r in rows] == [
        ("1", "promoted (policy met)", "2026-06-03 00:00 UTC"),
        ("2", "BREAK-GLASS (forced)", "2026-06-06 00:00 UTC"),
        ("1", "rolled back", "now"),
    ]
    assert rows[-1]["end"].startswith("2026-06-10")
    bars, flags, marks, words = spec["layer"]
    assert bars["encoding"]["color"]["scale"]["range"][1] == "#d62728"  # break-glass in red
    assert flags["encoding"]["text"] == {"value": "BREAK-GLASS"}
    assert "break_glass" in json.dumps(flags["transform"])
    assert "rolled_back" in json.dumps(marks["transform"])
    assert marks["mark"]["shape"] == "triangle-down"
    assert words["encoding"]["text"] == {"value": "rollback"}
    assert bars["encoding"]["x"]["scale"]["type"] == "utc"


def test_metrics_side_by_side_skip_metrics_off_the_common_scale() -> None:
    comparison = pl.DataFrame(
        {
            "metric": ["roc_auc", "brier", "f1"],
            "candidate": [0.8, 0.1, 0.4],
            "champion": [0.82, 0.12, None],
            "difference": [-0.02, -0.02, None],
            "gate": ["passed", "", ""],
        }
    )

    spec = metrics_comparison_chart(
        comparison, metrics=task_metrics(Task.BINARY).comparable(comparison["metric"])
    ).to_dict()

    values = sorted((r["metric"], r["model"], r["value"]) for r in rows_of(spec, "model"))
    assert values == [("f1", "candidate", 0.4), ("roc_auc", "candidate", 0.8), ("roc_auc", "champion", 0.82)]
    assert spec["encoding"]["y"]["scale"]["domain"] == [0, 1]
