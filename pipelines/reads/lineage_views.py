"""Read models of the Lineage page: what a trace can start from, and a trace's edges both ways.

A trace starts at one node (a prediction, a scoring batch, a model version or a table version) and
holds every edge upstream of it (what it was made from, transitively) and downstream (what was made
from it). Predictions are not nodes of the stored lineage graph: a prediction's trace adds one edge
from its batch. Reads only."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

import polars as pl

from governance.errors import InputError, NotFoundError
from governance.lineage import Edge, Node, downstream, upstream
from lakehouse.schemas import BATCHES, PREDICTIONS
from pipelines.context import Context
from pipelines.reads.batches import BATCH_ORDER
from pipelines.reads.lineage import graph, prediction_lineage, table_lineage

PREDICTED = "predicted"  # the relation of a batch to one of its predictions


class StartKind(StrEnum):
    """The kind of node a trace starts from; the values are the lineage graph's node kinds."""

    PREDICTION = "prediction"
    BATCH = "batch"
    MODEL_VERSION = "model_version"
    TABLE_VERSION = "table"


@dataclass(frozen=True)
class BatchChoice:
    batch_id: str
    model: str
    model_version: str
    rows: int
    scored_at: datetime
    example_prediction: str | None  # "<batch_id>:<entity key>" of one of its predictions


@dataclass(frozen=True)
class LineageChoices:
    """The starting points the lineage graph knows, newest batch first, versions in natural order."""

    batches: tuple[BatchChoice, ...]
    model_versions: tuple[str, ...]  # "model/version"
    table_versions: tuple[str, ...]  # "raw/loans@0"


def _natural(text: str) -> tuple[str, int, str]:
    # "loan_default/10" after "loan_default/9"; "raw/loans@10" after "raw/loans@9"
    head, sep, tail = text.rpartition("@" if "@" in text else "/")
    return (head, int(tail), "") if sep and tail.isdigit() else (text, -1, text)


def lineage_choices(ctx: Context) -> LineageChoices:
    edges = graph(ctx)
    nodes = {edge.src for edge in edges} | {edge.dst for edge in edges}
    batches = ctx.store.scan(BATCHES).sort(BATCH_ORDER, descending=True).collect()
    examples = dict(
        ctx.store.scan(PREDICTIONS)
        .filter(pl.col("batch_id").is_in(batches["batch_id"].to_list()))
        .group_by("batch_id")
        .agg(pl.col("entity_key").min())
        .collect()
        .iter_rows()
    )
    return LineageChoices(
        batches=tuple(
            BatchChoice(
                batch_id=row["batch_id"],
                model=row["model"],
                model_version=row["model_version"],
                rows=row["rows"],
                scored_at=row["scored_at"],
                example_prediction=f"{row['batch_id']}:{examples[row['batch_id']]}"
                if row["batch_id"] in examples
                else None,
            )
            for row in batches.iter_rows(named=True)
        ),
        model_versions=tuple(sorted((n.id for n in nodes if n.kind == StartKind.MODEL_VERSION), key=_natural)),
        table_versions=tuple(sorted((n.id for n in nodes if n.kind == StartKind.TABLE_VERSION), key=_natural)),
    )


@dataclass(frozen=True)
class Trace:
    """Every edge upstream and downstream of `start`, and what the lakehouse says about `start`."""

    start: Node
    upstream: tuple[Edge, ...]
    downstream: tuple[Edge, ...]
    details: dict[str, Any] = field(default_factory=dict)


def trace(ctx: Context, *, start: StartKind, ref: str) -> Trace:
    """The trace from `ref`: "<batch_id>:<key>", a batch id, "model/version" or "table@version"."""
    ref = ref.strip()
    if not ref:
        raise InputError(f"no {start.value.replace('_', ' ')} given to trace")
    if start is StartKind.PREDICTION:
        return _trace_prediction(ctx, prediction_id=ref)
    if start is StartKind.TABLE_VERSION:
        table, sep, version = ref.rpartition("@")
        if not sep or not table or not version.isdigit():
            raise InputError(f"table version {ref!r} is not valid: expected <table>@<version>, e.g. raw/loans@0")
        return _trace_table_version(ctx, table=table, version=int(version))
    edges = graph(ctx)
    node = Node(start.value, ref)
    if start is StartKind.BATCH:
        details = _batch_details(ctx, batch_id=ref)
    else:
        if not any(node in (e.src, e.dst) for e in edges):
            raise NotFoundError(f"model version {ref!r} has no lineage: it is not a model version trained by mlgov")
        details = _model_version_details(ref, edges)
    return Trace(
        start=node,
        upstream=tuple(upstream(edges, node)),
        downstream=tuple(downstream(edges, node)),
        details=details,
    )


def _trace_prediction(ctx: Context, *, prediction_id: str) -> Trace:
    document = prediction_lineage(ctx, prediction_id=prediction_id)
    batch = Node(StartKind.BATCH.value, document["batch"]["batch_id"])
    start = Node(StartKind.PREDICTION.value, prediction_id)
    stored = tuple(_edge(e) for e in document.pop("edges"))
    return Trace(start=start, upstream=(Edge(batch, PREDICTED, start), *stored), downstream=(), details=document)


def _trace_table_version(ctx: Context, *, table: str, version: int) -> Trace:
    document = table_lineage(ctx, table=table, version=version)
    start = Node(StartKind.TABLE_VERSION.value, f"{document['table']}@{version}")
    made_from = tuple(upstream(graph(ctx), start))
    made = tuple(_edge(e) for e in document.pop("edges"))
    return Trace(start=start, upstream=made_from, downstream=made, details=document)


def _edge(document: dict[str, str]) -> Edge:
    """An edge back from `pipelines.reads.lineage`'s document form."""
    return Edge(
        Node(document["from_type"], document["from"]), document["relation"], Node(document["to_type"], document["to"])
    )


def _batch_details(ctx: Context, *, batch_id: str) -> dict[str, Any]:
    rows = ctx.store.scan(BATCHES).filter(pl.col("batch_id") == batch_id).collect()
    if rows.height == 0:
        raise NotFoundError(f"no scoring batch {batch_id!r} in the lakehouse")
    row = rows.row(0, named=True)
    return {
        "batch_id": batch_id,
        "model_version": {"model": row["model"], "version": row["model_version"]},
        "role": row["role"],
        "input_table": {"table": row["input_table"], "version": row["input_version"]},
        "window": {
            "start": row["window_start"].isoformat() if row["window_start"] else None,
            "end": row["window_end"].isoformat() if row["window_end"] else None,
        },
        "rows": row["rows"],
        "scored_at": row["scored_at"].isoformat(),
        "scored_by": row["actor"],
        "run_id": row["run_id"],
    }


def _model_version_details(model_version: str, edges: list[Edge]) -> dict[str, Any]:
    model, _, version = model_version.rpartition("/")
    node = Node(StartKind.MODEL_VERSION.value, model_version)
    runs = sorted(e.src.id for e in edges if e.dst == node and e.relation == "registered")
    trained_on = sorted(e.src.id for e in edges if e.relation == "trained" and e.dst.id in runs)
    scored = sorted(e.dst.id for e in edges if e.src == node and e.dst.kind == StartKind.BATCH)
    return {
        "model": model,
        "version": version,
        "training_runs": runs,
        "trained_on": trained_on,
        "batches_scored": scored,
    }


EDGES_SCHEMA = pl.Schema(
    {
        "direction": pl.String(),
        "from_kind": pl.String(),
        "from_id": pl.String(),
        "relation": pl.String(),
        "to_kind": pl.String(),
        "to_id": pl.String(),
    }
)


def trace_edges(found: Trace) -> pl.DataFrame:
    """One row per edge of the trace, upstream ones first (columns: EDGES_SCHEMA)."""
    rows = [
        (direction, e.src.kind, e.src.id, e.relation, e.dst.kind, e.dst.id)
        for direction, edges in (("upstream", found.upstream), ("downstream", found.downstream))
        for e in edges
    ]
    return pl.DataFrame(rows, schema=EDGES_SCHEMA, orient="row")


def trace_document(found: Trace) -> dict[str, Any]:
    """The trace as one JSON-ready document: its start, what is known of it, and every edge."""
    return {
        "start": {"kind": found.start.kind, "id": found.start.id},
        "details": found.details,
        "edges": trace_edges(found).to_dicts(),
    }
