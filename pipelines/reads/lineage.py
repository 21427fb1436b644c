"""Lineage both ways: from a prediction back to the data that trained its model, and from a table
version forward to every model version trained on it and every batch those versions scored."""

from __future__ import annotations

from typing import Any

import polars as pl

from governance.errors import InputError, NotFoundError
from governance.lineage import Edge, Node, downstream, upstream
from lakehouse.records import lineage_edges
from lakehouse.schemas import BATCHES, PREDICTIONS, raw_table
from pipelines.context import Context
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
    recipe = version_recipe(ctx.registry.version(prediction["model"], prediction["model_version"]))
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
