"""The inference log: every answered request reaches `serving/requests`, even through a kill -9.

A request is written to a local write-ahead log (JSON lines under MLGOV_HOME) before it is answered, so
an acknowledged request is on disk before the caller hears of it. A flusher thread rotates the log every
`flush_seconds` and appends each closed segment to the Delta table in one commit, then deletes it:
the request path never waits for Delta. A server that dies leaves its segments behind; the next server
on the same lakehouse replays them, leaving out the requests the table already holds, so each request is
in the table once.

Durability: a line is handed to the operating system (`os.write`) before the answer; segments are
fsynced when rotated. That survives the server process dying at any point; a power loss may take the
last `flush_seconds` of answers with it (an fsync per request would cap the server at the disk's
sync rate).
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO

import polars as pl

from governance.errors import MlgovError
from lakehouse.schemas import SCHEMAS, SERVING_REQUESTS
from pipelines.ml.tasks import PREDICTION_SCHEMA

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SEGMENT = ".jsonl"
_OWNER = ".owner"


@dataclass(frozen=True)
class Answer:
    """One version's answer to one request: a line of the write-ahead log, rows of the table."""

    request_id: str
    model: str
    model_version: str
    role: str
    received_at: datetime
    caller: str
    inputs: Sequence[Mapping[str, Any]]
    outputs: Mapping[str, list[Any]]  # the task's prediction columns, one value per input row
    latency_ms: float
    # a version with feature tables: the values looked up for each input row, and the versions read
    features: Sequence[Mapping[str, Any]] | None = None
    feature_tables: Mapping[str, int] | None = None

    def line(self) -> bytes:
        document = {
            "request_id": self.request_id,
            "model": self.model,
            "model_version": self.model_version,
            "role": self.role,
            "received_us": (self.received_at - _EPOCH) // timedelta(microseconds=1),
            "caller": self.caller,
            "inputs": self.inputs,
            "outputs": self.outputs,
            "latency_ms": self.latency_ms,
        }
        if self.features is not None:
            document["features"] = self.features
            document["feature_tables"] = self.feature_tables
        return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"


def answers_frame(lines: Sequence[Mapping[str, Any]]) -> pl.DataFrame:
    """Rows of `serving/requests` for log lines: one per input row of each answer."""
    columns: dict[str, list[Any]] = {name: [] for name in SCHEMAS[SERVING_REQUESTS]}
    encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    for line in lines:
        inputs = line["inputs"]
        rows = len(inputs)
        for name in ("request_id", "model", "model_version", "role", "caller", "latency_ms"):
            columns[name].extend([line[name]] * rows)
        columns["received_at"].extend([line["received_us"]] * rows)
        columns["row"].extend(range(rows))
        columns["inputs"].extend(map(encode, inputs))
        for name in PREDICTION_SCHEMA:
            columns[name].extend(line["outputs"].get(name) or [None] * rows)
        looked_up = line.get("features")  # absent from answers of versions without feature tables
        columns["features"].extend(map(encode, looked_up) if looked_up is not None else [None] * rows)
        tables = line.get("feature_tables")
        columns["feature_tables"].extend([encode(tables) if tables is not None else None] * rows)
    schema = SCHEMAS[SERVING_REQUESTS]
    frame = pl.DataFrame(columns, schema={**schema, "received_at": pl.Int64()})
    return frame.with_columns(pl.col("received_at").cast(schema["received_at"]))


Append = Callable[[pl.DataFrame], None]
Present = Callable[[Sequence[str]], pl.DataFrame]  # (request_id, role) of these requests already in the table


class InferenceLog:
    """The write-ahead log of one server process, in `root`, and its flusher into the table."""

    def __init__(
        self,
        root: Path,
        *,
        append: Append,
        present: Present,
        flush_seconds: float,
        on_error: Callable[[Exception], None] = lambda error: None,
    ) -> None:
        self._root = root
        self._append = append
        self._present = present
        self._flush_seconds = flush_seconds
        self._on_error = on_error
        self._token = uuid.uuid4().hex[:16]
        self._lock = threading.Lock()
        self._flushing = threading.Lock()
        self._sequence = 0
        self._pending = 0
        self._segment: BinaryIO | None = None
        self._owner: BinaryIO | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def pending(self) -> int:
        """Answers written to the log and not yet in the table."""
        return self._pending

    def open(self) -> int:
        """Claim a log of our own and replay what dead servers left; the answers replayed."""
        self._root.mkdir(parents=True, exist_ok=True)
        # held for the life of the process, so others see we are alive; locked before it takes its name,
        # so no server starting beside us ever finds it unlocked
        claiming = self._root / f"{self._token}{_OWNER}.new"
        self._owner = claiming.open("ab")
        fcntl.flock(self._owner, fcntl.LOCK_EX)
        claiming.rename(self._root / f"{self._token}{_OWNER}")
        replayed = self._replay_orphans()
        self._segment = self._next_segment()
        return replayed

    def record(self, answer: Answer) -> None:
        """Write `answer` to the log; once this returns, the answer survives the process."""
        line = answer.line()
        with self._lock:
            assert self._segment is not None, "the log is not open"
            view = memoryview(line)
            while view:
                view = view[os.write(self._segment.fileno(), view) :]
            self._pending += 1

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="mlgov-serve-log", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self._flush_seconds):
            self.flush()

    def flush(self) -> int:
        """Move every answer logged so far into the table; the answers moved. A failed write keeps the
        segments for the next flush."""
        with self._flushing:
            with self._lock:
                if self._pending and self._segment is not None:
                    self._close_segment()
                    self._segment = self._next_segment()
                current = Path(self._segment.name) if self._segment is not None else None
            moved = 0
            for segment in self._segments(self._token):
                if segment == current:
                    continue  # still being written
                try:
                    moved += self._move(segment, deduplicate=False)
                except (MlgovError, OSError) as error:
                    self._on_error(error)
                    break
            return moved

    def close(self) -> int:
        """Stop the flusher and move what is left (graceful shutdown); the answers moved last."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=60)
        moved = self.flush()
        with self._lock:
            if self._segment is not None:
                self._segment.close()
                segment = Path(self._segment.name)
                if segment.stat().st_size == 0:  # else a write raced the last flush: the next server replays it
                    segment.unlink()
                self._segment = None
        if self._owner is not None and not self._segments(self._token):
            (self._root / f"{self._token}{_OWNER}").unlink(missing_ok=True)
            self._owner.close()
            self._owner = None
        return moved

    def _next_segment(self) -> BinaryIO:
        self._sequence += 1
        return (self._root / f"{self._token}-{self._sequence:09d}{_SEGMENT}").open("ab", buffering=0)

    def _close_segment(self) -> None:
        assert self._segment is not None
        os.fsync(self._segment.fileno())
        self._segment.close()

    def _segments(self, token: str) -> list[Path]:
        return sorted(self._root.glob(f"{token}-*{_SEGMENT}"))

    def _move(self, segment: Path, *, deduplicate: bool) -> int:
        lines = list(_read_lines(segment))
        if lines:
            frame = answers_frame(lines)
            if deduplicate:
                frame = self._absent(frame)
            if frame.height:
                self._append(frame)
        segment.unlink()
        if not deduplicate:
            with self._lock:
                self._pending -= len(lines)
        return len(lines)

    def _absent(self, frame: pl.DataFrame) -> pl.DataFrame:
        """The rows of `frame` whose answer the table does not hold yet (a server killed between its
        commit and deleting the segment committed them already)."""
        held = self._present(frame["request_id"].unique().to_list())
        return frame.join(held, on=["request_id", "role"], how="anti")

    def _replay_orphans(self) -> int:
        """Move the segments of servers that are gone (their owner lock is free), each answer once."""
        tokens = {path.name.split("-")[0] for path in self._root.glob(f"*{_SEGMENT}")}
        tokens |= {path.name.removesuffix(_OWNER) for path in self._root.glob(f"*{_OWNER}")}
        replayed = 0
        for token in sorted(tokens - {self._token}):
            with _OwnerClaim(self._root / f"{token}{_OWNER}") as claimed:
                if not claimed:
                    continue  # a live server: its flusher moves its own log
                for segment in self._segments(token):
                    replayed += self._move(segment, deduplicate=True)
            (self._root / f"{token}{_OWNER}").unlink(missing_ok=True)
        return replayed


class _OwnerClaim:
    """A dead server's log, claimed: its owner lock taken without waiting (False: its owner lives)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._handle: BinaryIO | None = None

    def __enter__(self) -> bool:
        self._handle = self._path.open("ab")
        try:
            fcntl.flock(self._handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def __exit__(self, *exc: object) -> None:
        assert self._handle is not None
        self._handle.close()


def _read_lines(segment: Path) -> Iterator[dict[str, Any]]:
    with segment.open("rb") as handle:
        for raw in handle:
            if not raw.endswith(b"\n"):
                return  # torn by a kill mid-write: that request was never answered
            yield json.loads(raw)
