"""The Ray engine: Daft reads the batch's Delta table on a Ray cluster and scores it there in batches
(a Daft batch function), and drift and quality run as Ray tasks next to the data, one per column, so
a worker holds one column of a batch. Only what the job commits comes back: each row's key, event
time and outputs, the drift statistics, the quality results.

The workers run the same functions as the in-process engine (`kind.outputs`, `profile_drift`,
`batch_quality`) on the same rows, so results are the same: scores bit for bit (the model scores
row by row, whatever the batch), drift statistics and quality values exactly. The cluster's nodes
need mlgov installed, as the driver has it.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Sequence
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa

from governance.drift import FeatureDrift
from governance.errors import MlgovError
from governance.features import FeatureSpec
from governance.quality import QualityCheck, QualityLimits, QualityResult
from lakehouse.delta import DeltaStore
from lakehouse.storage import Storage
from pipelines.jobs.engines import BatchDrift, BatchRows, Predict, Scored
from pipelines.jobs.engines.local import read_rows
from pipelines.ml.drift import ColumnProfile, ReferenceProfile, profile_drift
from pipelines.ml.quality import batch_quality
from pipelines.reads.batches import select_window

_OUTPUT = "_mlgov_output"
_CONNECT_SECONDS = 5.0


class RayEngine:
    name = "ray"

    def __init__(self, storage: Storage, *, address: str | None, batch_rows: int) -> None:
        _connect(address)
        self._storage = storage
        self._batch_rows = batch_rows
        # reference data shipped to the cluster once per engine, not once per batch
        self._shipped: dict[tuple[str, str], Any] = {}

    def score(self, rows: BatchRows, *, predict: Predict, features: Sequence[str], keep: Sequence[str]) -> Scored:
        import daft
        from daft import DataType, Series, col

        names = list(features)
        # the outputs' shape from no rows: one number a row, or one per class
        empty = predict(self._no_rows(rows, names))
        width = empty.shape[1] if empty.ndim == 2 else 0
        dtype = DataType.fixed_size_list(DataType.float64(), width) if width else DataType.float64()

        @daft.func.batch(return_dtype=dtype, batch_size=self._batch_rows)
        def outputs(*columns: Series) -> pa.Array:
            frame = pl.from_arrow(pa.table({name: c.to_arrow() for name, c in zip(names, columns, strict=True)}))
            assert isinstance(frame, pl.DataFrame)
            values = np.asarray(predict(frame), dtype=np.float64)
            if width:
                return pa.FixedSizeListArray.from_arrays(pa.array(values.ravel()), width)
            return pa.array(values)

        source = daft.read_deltalake(
            self._storage.uri(rows.table), version=rows.version, io_config=_io_config(self._storage)
        )
        frame = _window(source, rows)
        scored = frame.select(*keep, outputs(*(col(name) for name in names)).alias(_OUTPUT))
        parts = [pl.from_arrow(batch) for batch in scored.to_arrow_iter()]
        if not parts:
            return Scored(rows=self._no_rows(rows, keep), outputs=empty)
        table = pl.concat([p for p in parts if isinstance(p, pl.DataFrame)])
        values = table[_OUTPUT].to_arrow()
        flat = pa.concat_arrays(values.chunks).flatten() if width else values
        result = np.asarray(flat.to_numpy(zero_copy_only=False), dtype=np.float64)
        return Scored(rows=table.select(keep), outputs=result.reshape(-1, width) if width else result)

    def drift(self, profile: ReferenceProfile, rows: BatchRows) -> BatchDrift:
        import ray

        task = ray.remote(_column_drift)
        pending = [
            task.remote(self._storage, rows, self._ship(("drift", f"{profile.id}/{column.name}"), column))
            for column in profile.columns
        ]
        results = ray.get(pending)
        drifts = [drift for found, _ in results for drift in found]
        height = results[0][1] if results else _height(self._storage, rows)
        return BatchDrift(drifts=drifts, rows=height)

    def quality(
        self, reference: pl.DataFrame, rows: BatchRows, *, spec: FeatureSpec, key: str, limits: QualityLimits
    ) -> list[QualityResult]:
        """One task per feature (its checks against its reference column), and one for the key's
        duplicates: in batch_quality's order, each worker holding one column of the batch."""
        import ray

        task = ray.remote(_column_quality)
        pending = []
        for column in spec.columns:
            one = FeatureSpec(
                numeric=(column,) if column in spec.numeric else (),
                categorical=(column,) if column in spec.categorical else (),
            )
            shipped = self._ship(("quality", f"{id(reference)}/{column}"), reference.select(column))
            pending.append(task.remote(self._storage, rows, shipped, one, key, limits))
        pending.append(
            task.remote(self._storage, rows, reference.head(0), FeatureSpec(numeric=(), categorical=()), key, limits)
        )
        per_column = ray.get(pending)
        duplicates = QualityCheck.DUPLICATE_KEYS
        return [r for found in per_column[:-1] for r in found if r.check is not duplicates] + per_column[-1]

    def cpu_seconds(self) -> float:
        import ray
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        probe = ray.remote(num_cpus=0)(_node_worker_cpu_seconds)
        nodes = [node["NodeID"] for node in ray.nodes() if node["Alive"]]
        return float(
            sum(
                ray.get(
                    [
                        probe.options(scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False)).remote()
                        for node in nodes
                    ]
                )
            )
        )

    def _no_rows(self, rows: BatchRows, columns: Sequence[str]) -> pl.DataFrame:
        """`columns` of the table, typed as the table has them, without reading any row."""
        return DeltaStore(self._storage).scan(rows.table, version=rows.version).select(columns).head(0).collect()

    def _ship(self, key: tuple[str, str], value: object) -> Any:
        import ray

        if key not in self._shipped:
            # the value is kept beside its reference: an id() key must not be reused by another object
            self._shipped[key] = (ray.put(value), value)
        return self._shipped[key][0]


def _io_config(storage: Storage) -> Any:
    """Daft's view of the lakehouse's object store, from the same delta-rs options (AWS_*) the tables
    are opened with; None on local disk. GCS and Azure are found by Daft from the same environment."""
    from daft.io import IOConfig, S3Config

    options = {key.upper(): value for key, value in storage.options.items()}
    if not storage.is_remote or not storage.root.startswith(("s3://", "s3a://")):
        return None
    endpoint = options.get("AWS_ENDPOINT_URL") or options.get("AWS_ENDPOINT")
    return IOConfig(
        s3=S3Config(
            endpoint_url=endpoint,
            region_name=options.get("AWS_REGION") or options.get("AWS_DEFAULT_REGION"),
            key_id=options.get("AWS_ACCESS_KEY_ID"),
            access_key=options.get("AWS_SECRET_ACCESS_KEY"),
            session_token=options.get("AWS_SESSION_TOKEN"),
            use_ssl=not (endpoint or "").startswith("http://"),
        )
    )


def _connect(address: str | None) -> None:
    """Join the cluster at `address`, or start a local one on 127.0.0.1; an address nobody answers at
    is refused in one line before Ray's own retries (which take a minute)."""
    os.environ.setdefault("DAFT_ANALYTICS_ENABLED", "0")  # Daft reports usage over the internet unless told not to
    if not address:
        # a cluster of our own is this machine's alone: Ray advertises 127.0.0.1 only when told it is
        # no multi-node cluster (read when ray is imported)
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    import daft
    import ray

    if address:
        host, _, port = address.removeprefix("ray://").rpartition(":")
        try:
            socket.create_connection((host, int(port)), timeout=_CONNECT_SECONDS).close()
        except (OSError, ValueError):
            raise MlgovError(
                f"MLGOV_RAY_ADDRESS={address!r}: no Ray cluster answers there "
                "(expected host:port of a running head, as `ray start --head` prints)"
            ) from None
    if not ray.is_initialized():
        try:
            if address:
                ray.init(address=address, logging_level=logging.ERROR, log_to_driver=False)
            else:
                ray.init(
                    _node_ip_address="127.0.0.1",
                    include_dashboard=False,
                    logging_level=logging.ERROR,
                    log_to_driver=False,
                )
        except Exception as error:  # Ray's own failure: a version mismatch, a refused token, ...
            first = (str(error).strip().splitlines() or [type(error).__name__])[0]
            raise MlgovError(f"cannot join the Ray cluster at {address or 'a new local one'}: {first}") from None
    daft.set_runner_ray(noop_if_initialized=True)


def _window(frame: Any, rows: BatchRows) -> Any:
    """Daft's filter for the batch's window, as `pipelines.reads.batches.select_window` (bounds are
    instants, compared as such: no calendar unit is involved)."""
    from daft import col, lit

    if rows.timestamp is None:
        return frame  # no window: a bound without a timestamp column was refused before
    if rows.start is not None:
        frame = frame.where(col(rows.timestamp) >= lit(rows.start))
    if rows.end is not None:
        frame = frame.where(col(rows.timestamp) < lit(rows.end))
    return frame


def _height(storage: Storage, rows: BatchRows) -> int:
    scan = DeltaStore(storage).scan(rows.table, version=rows.version)
    window = select_window(scan, timestamp=rows.timestamp, start=rows.start, end=rows.end)
    return int(window.select(pl.len()).collect().item())


def _column_drift(storage: Storage, rows: BatchRows, column: ColumnProfile) -> tuple[list[FeatureDrift], int]:
    """One column's drift, on a worker: reads just that column of the batch."""
    current = read_rows(DeltaStore(storage), rows, [column.name])
    profile = ReferenceProfile(id="", rows=column.rows, columns=(column,))
    return profile_drift(profile, current), current.height


def _column_quality(
    storage: Storage, rows: BatchRows, reference: pl.DataFrame, spec: FeatureSpec, key: str, limits: QualityLimits
) -> list[QualityResult]:
    """The checks of `spec`'s one column (or, with no column, the key's duplicates), on a worker."""
    current = read_rows(DeltaStore(storage), rows, list(spec.columns) or [key])
    return batch_quality(reference, current, spec=spec, key=key, thresholds=limits)


def _node_worker_cpu_seconds() -> float:
    """CPU seconds of this node's Ray workers, alive or exited: every process under the raylet (the
    parent of this task's worker) plus what the ones it reaped had spent. Linux's /proc."""
    raylet = os.getppid()
    stats: dict[int, list[str]] = {}
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                text = stat.read()
        except OSError:
            continue  # gone since listing
        fields = text[text.rindex(")") + 2 :].split()  # after the command name, which may hold spaces
        stats[int(entry)] = fields
        children.setdefault(int(fields[1]), []).append(int(entry))
    # fields from 0: state, ppid, ... utime 11, stime 12, cutime 13, cstime 14 (clock ticks)
    ticks = sum(int(t) for t in stats.get(raylet, ["0"] * 15)[13:15])
    stack = list(children.get(raylet, []))
    while stack:
        pid = stack.pop()
        ticks += sum(int(t) for t in stats[pid][11:15])
        stack.extend(children.get(pid, []))
    return ticks / os.sysconf("SC_CLK_TCK")
