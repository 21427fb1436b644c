"""Lineage both ways: from a prediction back to the data that trained its model, and from a table
version forward to every model version trained on it and every batch those versions scored; and the
Lineage page's read model over the same graph.

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
from lakehouse.records import lineage_edges
from lakehouse.schemas import BATCHES, PREDICTIONS, raw_table
from pipelines.context import Context
from pipelines.reads.batches import BATCH_ORDER
from pipelines.reads.versions import version_recipe


def graph(ctx: Context) -> list[Edge]:
    return [Edge(Node(e.src_type, e.src_id), e.relation, Node(e.dst_type, e.dst_id)) for e in lineage_edges(ctx.store)]


def _edge_document(edge: Edge) -> dict[str, str]:
    return {
        "from_type": edge.src.kind,
        "from": edge.src.id,
        "relation": edge.relation,
        "to_type": edge.dst.kind,
        "to": edge.dst.id,
    }


def _table_at(text: str) -> dict[str, Any]:
    table, _, version = text.rpartition("@")
    return {"table": table, "version": int(version)}


def prediction_lineage(ctx: Context, *, prediction_id: str) -> dict[str, Any]:
    """A prediction (`<batch_id>:<entity key>`) traced to its batch, model version, training run
    and the training table version and features, plus the input table version it was scored from."""
    batch_id, sep, key = prediction_id.partition(":")
    if not sep or not key:
        raise InputError(f"prediction id {prediction_id!r} is not valid: expected <batch_id>:<entity key>")
    rows = (
        ctx.store.scan(PREDICTIONS).filter((pl.col("batch_id") == batch_id) & (pl.col("entity_key") == key)).collect()
    )
    if rows.height == 0:
        raise NotFoundError(f"no prediction {prediction_id!r}: no row of batch {batch_id!r} has key {key!r}")
    prediction = rows.row(0, named=True)
    edges = upstream(graph(ctx), Node("batch", batch_id))
    model_version = f"{prediction['model']}/{prediction['model_version']}"
    trained = [e for e in edges if e.relation == "trained" and e.dst.kind == "mlflow_run"]
    registered = [e for e in edges if e.relation == "registered" and e.dst.id == model_version]
    run_id = registered[0].src.id if registered else None
    training = next((e.src.id for e in trained if e.dst.id == run_id), None)
    recipe = version_recipe(ctx, prediction["model"], prediction["model_version"])
    return {
        "prediction": {
            "id": prediction_id,
            "entity_key": key,
            "score": prediction["score"],
            "predicted_label": prediction["predicted_label"],
            "event_ts": prediction["event_ts"].isoformat() if prediction["event_ts"] else None,
            "scored_at": prediction["scored_at"].isoformat(),
        },
        "batch": {"batch_id": batch_id, "role": prediction["role"], "run_id": prediction["run_id"]},
        "input_table": {"table": prediction["input_table"], "version": prediction["input_version"]},
        "model_version": {"model": prediction["model"], "version": prediction["model_version"]},
        "training_run": run_id,
        "training_table": _table_at(training) if training else None,
        "features": {"numeric": list(recipe.spec.numeric), "categorical": list(recipe.spec.categorical)},
        "target": recipe.target,
        **(
            {"feature_tables": [_table_at(f"{ref.table}@{ref.version}") for ref in recipe.feature_tables]}
            if recipe.feature_tables
            else {}
        ),
        "edges": [_edge_document(e) for e in edges],
    }


def table_lineage(ctx: Context, *, table: str, version: int) -> dict[str, Any]:
    """Everything a table version influenced: model versions trained on it, batches they scored,
    and batches that scored it as input."""
    name = table if "/" in table else raw_table(table)
    if not ctx.store.exists(name):
        raise NotFoundError(f"table {name!r} does not exist in the lakehouse")
    if version < 0 or version > ctx.store.version(name):
        raise NotFoundError(f"table {name!r} has no version {version}")
    edges = downstream(graph(ctx), Node("table", f"{name}@{version}"))
    versions = sorted({e.dst.id for e in edges if e.dst.kind == "model_version"})
    batch_ids = sorted({e.dst.id for e in edges if e.dst.kind == "batch"})
    batches = ctx.store.scan(BATCHES).filter(pl.col("batch_id").is_in(batch_ids)).sort("scored_at").collect()
    return {
        "table": name,
        "version": version,
        "model_versions": [{"model": v.split("/")[0], "version": v.split("/")[1]} for v in versions],
        "batches": [
            {
                "batch_id": b["batch_id"],
                "model": b["model"],
                "model_version": b["model_version"],
                "input": f"{b['input_table']}@{b['input_version']}",
                "rows": b["rows"],
                "scored_at": b["scored_at"].isoformat(),
            }
            for b in batches.iter_rows(named=True)
        ],
        "edges": [_edge_document(e) for e in edges],
    }


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
