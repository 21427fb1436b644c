"""Governance entities to and from their Delta tables: access grants, promotion events, lineage."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import polars as pl

from governance.aliases import AliasMove, MoveKind
from governance.errors import NotFoundError
from governance.promotion import PromotionEvent, PromotionEventKind
from governance.roles import AccessPolicy, GrantChange, GrantEvent, Role, fold_grants
from lakehouse.delta import DeltaStore
from lakehouse.schemas import ACCESS, ALIASES, CATALOG, EVIDENCE, LINEAGE, PROMOTIONS


def access_policy(store: DeltaStore) -> AccessPolicy:
    """The access policy as of the latest grant or revocation."""
    # a Delta scan returns rows in no particular order; grants must be replayed as written
    frame = store.scan(ACCESS).sort(["seq", "at"]).select("user", "role", "change").collect()
    return fold_grants(
        GrantEvent(user=row["user"], role=Role(row["role"]), change=GrantChange(row["change"]))
        for row in frame.iter_rows(named=True)
    )


def access_frame(
    events: Sequence[GrantEvent], *, store: DeltaStore, actor: str, reason: str, at: datetime, run_id: str
) -> pl.DataFrame:
    """Rows for `events`, numbered after the table's last grant so replay order is write order."""
    last = store.scan(ACCESS).select(pl.col("seq").max()).collect().item()
    first = (last or 0) + 1
    return pl.DataFrame(
        [
            {
                "seq": first + i,
                "user": e.user,
                "role": e.role.value,
                "change": e.change.value,
                "actor": actor,
                "reason": reason,
                "at": at,
                "run_id": run_id,
            }
            for i, e in enumerate(events)
        ]
    )


_KIND_RANK = {kind.value: rank for rank, kind in enumerate(PromotionEventKind)}


def promotion_events(store: DeltaStore, *, model: str | None = None) -> list[PromotionEvent]:
    """Promotion events in the order they happened.

    Rows of a Delta scan come in no guaranteed order, so events sort by time and, within one
    instant, by the only order a request's events can have: requested, approvals, then an outcome.
    """
    frame = store.scan(PROMOTIONS)
    if model is not None:
        frame = frame.filter(pl.col("model") == model)
    rank = pl.col("kind").replace_strict(_KIND_RANK, default=len(_KIND_RANK), return_dtype=pl.Int32)
    rows = frame.sort([pl.col("at"), rank]).collect()
    return [
        PromotionEvent(
            request_id=row["request_id"],
            kind=PromotionEventKind(row["kind"]),
            model=row["model"],
            version=row["version"],
            actor=row["actor"],
            at=row["at"],
            reason=row["reason"],
            alias=row["alias"],
            trainer=row["trainer"],
            subject_hash=row["subject_hash"],
            actor_roles=_roles(row["actor_roles"]),
        )
        for row in rows.iter_rows(named=True)
    ]


def _roles(text: str) -> frozenset[Role]:
    return frozenset(Role(r) for r in text.split(",") if r)


def promotion_frame(events: Sequence[PromotionEvent], *, run_id: str) -> pl.DataFrame:
    return pl.DataFrame(
        [
            {
                "request_id": e.request_id,
                "kind": e.kind.value,
                "model": e.model,
                "version": e.version,
                "alias": e.alias,
                "actor": e.actor,
                "trainer": e.trainer,
                "reason": e.reason,
                "subject_hash": e.subject_hash,
                "actor_roles": ",".join(sorted(r.value for r in e.actor_roles)),
                "at": e.at,
                "run_id": run_id,
            }
            for e in events
        ]
    )


@dataclass(frozen=True)
class LineageEdge:
    """A directed edge of the lineage graph, e.g. table@version -trained-> model version."""

    src_type: str
    src_id: str
    relation: str
    dst_type: str
    dst_id: str


def lineage_frame(edges: Sequence[LineageEdge], *, at: datetime, run_id: str) -> pl.DataFrame:
    return pl.DataFrame([{**e.__dict__, "at": at, "run_id": run_id} for e in edges])


def lineage_edges(store: DeltaStore) -> list[LineageEdge]:
    frame = store.read(LINEAGE, columns=["src_type", "src_id", "relation", "dst_type", "dst_id"])
    return [LineageEdge(**row) for row in frame.iter_rows(named=True)]


@dataclass(frozen=True)
class TableIdentity:
    """What the catalog knows of an ingested table: its entity key and event timestamp columns."""

    table: str
    key: str
    timestamp: str | None


def table_identity(store: DeltaStore, table: str) -> TableIdentity | None:
    """The latest catalog entry of `table`, or None if it was never registered."""
    rows = store.scan(CATALOG).filter(pl.col("table") == table).collect()
    if rows.height == 0:
        return None
    last = rows.row(-1, named=True)
    return TableIdentity(table=table, key=last["key"], timestamp=last["timestamp"] or None)


def require_table_identity(store: DeltaStore, table: str) -> TableIdentity:
    identity = table_identity(store, table) if store.exists(table) else None
    if identity is None:
        raise NotFoundError(f"table {table!r} does not exist in the lakehouse (ingest it first: mlgov ingest)")
    return identity


def catalog_frame(identity: TableIdentity, *, at: datetime, run_id: str) -> pl.DataFrame:
    return pl.DataFrame(
        [
            {
                "table": identity.table,
                "key": identity.key,
                "timestamp": identity.timestamp or "",
                "registered_at": at,
                "run_id": run_id,
            }
        ]
    )


def alias_moves(store: DeltaStore, *, model: str) -> list[AliasMove]:
    """Every recorded move of the model's aliases, oldest first."""
    rows = store.scan(ALIASES).filter(pl.col("model") == model).sort("at").collect()
    return [
        AliasMove(
            model=row["model"],
            alias=row["alias"],
            version=row["version"],
            previous=row["previous"] or None,
            kind=MoveKind(row["kind"]),
            request_id=row["request_id"],
            actor=row["actor"],
            reason=row["reason"],
            at=row["at"],
        )
        for row in rows.iter_rows(named=True)
    ]


def alias_move_frame(move: AliasMove, *, run_id: str) -> pl.DataFrame:
    return pl.DataFrame([{**move.__dict__, "previous": move.previous or "", "kind": move.kind.value, "run_id": run_id}])


def evidence_frame(
    *, request_id: str, model: str, version: str, payload: str, digest: str, at: datetime, run_id: str
) -> pl.DataFrame:
    row = {"request_id": request_id, "model": model, "version": version, "payload": payload, "digest": digest}
    return pl.DataFrame([{**row, "at": at, "run_id": run_id}])


def request_evidence(store: DeltaStore, *, request_id: str) -> tuple[str, str] | None:
    """The evidence payload (JSON text) and its digest attached to a request, or None."""
    rows = store.scan(EVIDENCE).filter(pl.col("request_id") == request_id).collect()
    return (rows["payload"][0], rows["digest"][0]) if rows.height else None
