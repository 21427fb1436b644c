"""The Ray engine: Daft reads the batch's Delta table on a Ray cluster and joins and scores it there in
parts (a Daft batch function), and drift and quality run as Ray tasks next to the data, one per column,
so a worker holds one column of a batch. Only what the job commits comes back: each row's key, event
time and outputs (streamed, part by part), the drift statistics, the quality results.

The workers run the same functions as the in-process engine (`kind.outputs`, `profile_drift`,
`batch_quality`) on the same rows, so results are the same: scores bit for bit (the model scores
row by row, whatever the batch), drift statistics and quality values exactly. The cluster's nodes
need mlgov installed, as the driver has it.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa

from governance.drift import FeatureDrift
from governance.errors import MlgovError
from governance.feature_tables import FeatureTableDefinition, FeatureTableRef
from governance.features import FeatureSpec
from governance.quality import QualityCheck, QualityLimits, QualityResult
from lakehouse.delta import DeltaStore
from lakehouse.storage import Storage
from pipelines.jobs.engines import BatchDrift, BatchRows, Predict, Scored
from pipelines.jobs.engines.joins import (
    check_join,
    definitions,
    join_part,
    load_features,
    read_joined,
    spine_columns,
)
from pipelines.ml.drift import ColumnProfile, ReferenceProfile, profile_drift
from pipelines.ml.point_in_time import FeatureRows
from pipelines.ml.quality import batch_quality
from pipelines.reads.batches import select_window

_OUTPUT = "_mlgov_output"
_IN_FLIGHT = 2  # scored parts the driver holds at most while the cluster works on the next ones
_CONNECT_SECONDS = 5.0


class RayEngine:
    name = "ray"

    def __init__(self, storage: Storage, *, address: str | None, batch_rows: int) -> None:
        _connect(address)
        self._storage = storage
        self._batch_rows = batch_rows
        # reference data shipped to the cluster once per engine, not once per batch
        self._shipped: dict[tuple[str, str], Any] = {}

    def score(
        self, rows: BatchRows, *, predict: Predict, features: Sequence[str], keep: Sequence[str]
    ) -> Iterator[Scored]:
        """Daft reads the batch's table and a batch function on the workers joins each part with the
        feature tables (as of each row's time), scores it and hands back the outputs with the joined
        columns `keep` asks for; the parts stream to the caller as the cluster finishes them, a few in
        flight at a time, so neither the driver nor a worker holds the whole batch."""
        import daft
        from daft import DataType, Series, col

        store = DeltaStore(self._storage)
        found = definitions(store, rows) if rows.feature_tables else []
        if found:
            check_join(store, rows)
        spine = spine_columns(rows, [*keep, *features], found)
        joined = {column for definition in found for column in definition.columns}
        carried = [column for column in keep if column in joined]  # joined columns that come back
        storage, tables, spine_time = self._storage, list(zip(rows.feature_tables, found, strict=True)), rows.timestamp

        def join(frame: pl.DataFrame) -> pl.DataFrame:
            if not tables:
                return frame
            assert spine_time is not None  # check_join refuses a join without one
            return join_part(frame, spine_time=spine_time, tables=[_features(storage, *table) for table in tables])

        # the outputs' and joined columns' types from no rows
        none = join_part(
            store.scan(rows.table, version=rows.version).select(spine).head(0).collect(),
            spine_time=spine_time or "",
            tables=[
                FeatureRows(definition=d, rows=load_features(store, ref, d).rows.head(0), ttl_seconds=ref.ttl_seconds)
                for ref, d in tables
            ],
        )
        empty = predict(none)
        width = empty.shape[1] if empty.ndim == 2 else 0
        output = DataType.fixed_size_list(DataType.float64(), width) if width else DataType.float64()
        carried_types = {column: none[column].to_arrow().type for column in carried}
        dtype = DataType.struct(
            {_OUTPUT: output, **{column: DataType.from_arrow_type(kind) for column, kind in carried_types.items()}}
        )

        @daft.func.batch(return_dtype=dtype, batch_size=self._batch_rows)
        def outputs(*columns: Series) -> pa.Array:
            part = pl.from_arrow(pa.table({name: c.to_arrow() for name, c in zip(spine, columns, strict=True)}))
            assert isinstance(part, pl.DataFrame)
            frame = join(part)
            values = np.asarray(predict(frame), dtype=np.float64)
            scores = pa.FixedSizeListArray.from_arrays(pa.array(values.ravel()), width) if width else pa.array(values)
            extra = [frame[column].to_arrow().cast(kind) for column, kind in carried_types.items()]
            return pa.StructArray.from_arrays([scores, *extra], names=[_OUTPUT, *carried_types])

        source = daft.read_deltalake(
            self._storage.uri(rows.table), version=rows.version, io_config=_io_config(self._storage)
        )
        own = [column for column in keep if column not in joined]
        scored = _window(source, rows).select(*own, outputs(*(col(name) for name in spine)).alias(_OUTPUT))
        # parts of about a scoring batch, whatever the size of the table's files
        scored = scored.into_batches(self._batch_rows)
        for batch in scored.to_arrow_iter(results_buffer_size=_IN_FLIGHT):
            if not batch.num_rows:
                continue
            fields = pa.concat_arrays(pa.table(batch).column(_OUTPUT).chunks).flatten()
            values = fields[0].flatten() if width else fields[0]
            result = np.asarray(values.to_numpy(zero_copy_only=False), dtype=np.float64)
            kept = pl.from_arrow(
                pa.table({**{c: batch.column(c) for c in own}, **dict(zip(carried_types, fields[1:], strict=True))})
            )
            assert isinstance(kept, pl.DataFrame)
            yield Scored(rows=kept.select(keep), outputs=result.reshape(-1, width) if width else result)

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
    current = read_joined(DeltaStore(storage), rows, [column.name])
    profile = ReferenceProfile(id="", rows=column.rows, columns=(column,))
    return profile_drift(profile, current), current.height


def _column_quality(
    storage: Storage, rows: BatchRows, reference: pl.DataFrame, spec: FeatureSpec, key: str, limits: QualityLimits
) -> list[QualityResult]:
    """The checks of `spec`'s one column (or, with no column, the key's duplicates), on a worker."""
    current = read_joined(DeltaStore(storage), rows, list(spec.columns) or [key])
    return batch_quality(reference, current, spec=spec, key=key, thresholds=limits)


# a worker's feature tables, read once per process and table version rather than once per part
_FEATURE_ROWS: dict[tuple[str, int, int | None], FeatureRows] = {}
_FEATURE_TABLES_KEPT = 4


def _features(storage: Storage, ref: FeatureTableRef, definition: FeatureTableDefinition) -> FeatureRows:
    key = (storage.uri(ref.table), ref.version, ref.ttl_seconds)
    if key not in _FEATURE_ROWS:
        if len(_FEATURE_ROWS) >= _FEATURE_TABLES_KEPT:
            _FEATURE_ROWS.clear()
        _FEATURE_ROWS[key] = load_features(DeltaStore(storage), ref, definition)
    return _FEATURE_ROWS[key]


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
