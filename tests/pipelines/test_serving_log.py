"""The inference log on its own, over a real Delta table: replay after a crash adds each answer once."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from lakehouse.delta import CommitInfo, DeltaStore
from lakehouse.schemas import SERVING_REQUESTS
from lakehouse.storage import Storage
from pipelines.serving.log import Answer, InferenceLog

COMMIT = CommitInfo(run_id="r", job="serve", actor="mlgov-serve")


def inference_log(root: Path, store: DeltaStore) -> InferenceLog:
    def append(frame: pl.DataFrame) -> None:
        store.append(SERVING_REQUESTS, frame, commit=COMMIT)

    def present(request_ids: Sequence[str]) -> pl.DataFrame:
        if not store.exists(SERVING_REQUESTS):
            return pl.DataFrame(schema={"request_id": pl.String, "role": pl.String})
        rows = store.scan(SERVING_REQUESTS).filter(pl.col("request_id").is_in(list(request_ids)))
        return rows.select("request_id", "role").unique().collect()

    return InferenceLog(root, append=append, present=present, flush_seconds=60)


def answer(request_id: str, *, role: str = "champion") -> Answer:
    return Answer(
        request_id=request_id,
        model="loan_default",
        model_version="1",
        role=role,
        received_at=datetime(2026, 6, 1, tzinfo=UTC),
        caller="127.0.0.1",
        inputs=[{"income": 1.0, "city": "Zürich"}, {"income": None, "city": "Lyon"}],
        outputs={"score": [0.25, 0.75], "predicted_label": [0, 1]},
        latency_ms=1.5,
    )


def test_a_log_committed_but_not_yet_deleted_when_its_server_died_is_replayed_once(tmp_path: Path) -> None:
    store = DeltaStore(Storage(tmp_path / "lakehouse"))
    root = tmp_path / "log"
    first = inference_log(root, store)
    first.open()
    for i in range(3):
        first.record(answer(f"r{i}"))
    first.record(answer("r0", role="challenger"))
    segment = next(root.glob("*.jsonl"))
    kept = tmp_path / "kept.jsonl"
    shutil.copy(segment, kept)
    assert first.flush() == 4
    # the server dies right after its commit, before deleting the segment: its log is still there
    shutil.copy(kept, root / "deadbeefdeadbeef-000000001.jsonl")
    (root / "deadbeefdeadbeef-000000001.jsonl").with_name("deadbeefdeadbeef.owner").touch()
    (root / "deadbeefdeadbeef-000000002.jsonl").write_bytes(answer("r9").line() + b'{"request_id": "torn')
    second = inference_log(root, store)
    assert second.open() == 5  # four already in the table, one new; the torn line was never answered
    table = store.read(SERVING_REQUESTS)
    assert table.height == 10
    assert not table.select("request_id", "row", "role").is_duplicated().any()
    assert sorted(table["request_id"].unique()) == ["r0", "r1", "r2", "r9"]
    assert table.filter(pl.col("row") == 0)["inputs"][0] == '{"income":1.0,"city":"Zürich"}'
    assert not list(root.glob("deadbeef*"))
    first.close()
    second.close()
