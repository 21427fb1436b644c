"""Governance entities to and from their Delta tables: access grants, promotion events, lineage."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

import polars as pl

from governance.aliases import AliasMove, MoveKind
from governance.errors import NotFoundError
from governance.feature_tables import FeatureTableRef
from governance.features import FeatureSpec
from governance.promotion import PromotionEvent, PromotionEventKind
from governance.roles import AccessPolicy, GrantChange, GrantEvent, Role, fold_grants
from governance.tasks import Task
from governance.versions import VersionRecipe
from lakehouse.account_status import disabled_in
from lakehouse.delta import DeltaStore
from lakehouse.ledger import Ledger
from lakehouse.schemas import (
    ACCESS,
    ACCOUNT_STATUS,
    ALIASES,
    CATALOG,
    EVIDENCE,
    LINEAGE,
    POLICIES,
    PROMOTIONS,
    SCHEMAS,
    VERSIONS,
)


def access_policy(ledger: Ledger, *, version: int | None = None) -> AccessPolicy:
    """The access policy as of the latest grant or revocation on the chain, with the accounts disabled
    then (at audit `version`), from one read of the chain: every permission check refuses a disabled user."""
    return ledger.derived(_fold_policy, ACCESS, ACCOUNT_STATUS, version=version)


def _fold_policy(access: pl.DataFrame, account_status: pl.DataFrame) -> AccessPolicy:
    granted = fold_grants(
        GrantEvent(user=row["user"], role=Role(row["role"]), change=GrantChange(row["change"]))
        for row in access.select("user", "role", "change").iter_rows(named=True)
    )
    return AccessPolicy(grants=granted.grants, disabled=disabled_in(account_status))


def access_frame(
    events: Sequence[GrantEvent],
    *,
    ledger: Ledger,
    version: int | None,
    actor: str,
    reason: str,
    at: datetime,
    run_id: str,
) -> pl.DataFrame:
    """Rows for `events`, numbered after the chain's last grant (at audit `version`)."""
    first = ledger.table(ACCESS, version=version).height + 1
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


def promotion_events(ledger: Ledger, *, model: str | None = None, version: int | None = None) -> list[PromotionEvent]:
    """Promotion events in the order the chain recorded them (at audit `version`)."""
    rows = ledger.table(PROMOTIONS, version=version)
    if model is not None:
        rows = rows.filter(pl.col("model") == model)
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


def alias_moves(ledger: Ledger, *, model: str, version: int | None = None) -> list[AliasMove]:
    """Every move of the model's aliases the chain recorded, oldest first (at audit `version`)."""
    rows = ledger.table(ALIASES, version=version).filter(pl.col("model") == model)
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


def request_evidence(ledger: Ledger, *, request_id: str) -> tuple[str, str] | None:
    """The evidence payload (JSON text) and its digest attached to a request on the chain, or None."""
    rows = ledger.table(EVIDENCE).filter(pl.col("request_id") == request_id)
    return (rows["payload"][0], rows["digest"][0]) if rows.height else None


@dataclass(frozen=True)
class RegisteredVersion:
    """A version as mlgov registered it on the chain: its recipe and what its artifact hashed to."""

    model: str
    version: str
    recipe: VersionRecipe
    artifact_digest: str
    mlflow_run_id: str
    at: datetime
    calibration_digest: str | None = None  # the label-free estimator stored with the run, if any


def version_frame(registered: RegisteredVersion, *, run_id: str) -> pl.DataFrame:
    recipe = registered.recipe
    row = {
        "model": registered.model,
        "version": registered.version,
        "task": recipe.task.value,
        "train_table": recipe.table,
        "train_table_version": recipe.table_version,
        "numeric_features": json.dumps(list(recipe.spec.numeric), ensure_ascii=False),
        "categorical_features": json.dumps(list(recipe.spec.categorical), ensure_ascii=False),
        "target": recipe.target,
        "algorithm": recipe.algorithm,
        "trainer": recipe.trainer,
        "artifact_digest": registered.artifact_digest,
        "mlflow_run_id": registered.mlflow_run_id,
        "at": registered.at,
        "run_id": run_id,
        "classes": json.dumps(list(recipe.classes), ensure_ascii=False) if recipe.classes else None,
        "calibration_digest": registered.calibration_digest,
        "feature_tables": feature_tables_json(recipe.feature_tables),
    }
    return pl.DataFrame([row], schema={k: v for k, v in SCHEMAS[VERSIONS].items() if k != "audit_seq"})


def feature_tables_json(refs: Sequence[FeatureTableRef]) -> str | None:
    """Feature tables as the versions and batches tables record them (None when there are none)."""
    return json.dumps([ref.document() for ref in refs], ensure_ascii=False) if refs else None


def feature_tables_from_json(text: str | None) -> tuple[FeatureTableRef, ...]:
    return tuple(FeatureTableRef.from_document(item) for item in json.loads(text)) if text else ()


def registered_versions(
    ledger: Ledger, *, model: str | None = None, version: int | None = None
) -> dict[tuple[str, str], RegisteredVersion]:
    """Every version mlgov registered (of `model`), by (model, version), from the chain."""
    rows = ledger.table(VERSIONS, version=version)
    if model is not None:
        rows = rows.filter(pl.col("model") == model)
    found = {}
    for row in rows.iter_rows(named=True):
        recipe = VersionRecipe(
            table=row["train_table"],
            table_version=row["train_table_version"],
            spec=FeatureSpec(
                numeric=tuple(json.loads(row["numeric_features"])),
                categorical=tuple(json.loads(row["categorical_features"])),
            ),
            target=row["target"],
            trainer=row["trainer"],
            algorithm=row["algorithm"],
            task=Task(row["task"]),
            classes=tuple(json.loads(row["classes"])) if row["classes"] else (),
            feature_tables=feature_tables_from_json(row["feature_tables"]),
        )
        found[row["model"], row["version"]] = RegisteredVersion(
            model=row["model"],
            version=row["version"],
            recipe=recipe,
            artifact_digest=row["artifact_digest"],
            mlflow_run_id=row["mlflow_run_id"],
            at=row["at"],
            calibration_digest=row["calibration_digest"],
        )
    return found


class PolicyScope(StrEnum):
    MODEL = "model"  # a model's risk tier and purpose
    TIER = "tier"  # the approvals a risk tier needs


def policy_frame(
    *, scope: PolicyScope, subject: str, settings: dict[str, str], actor: str, reason: str, at: datetime, run_id: str
) -> pl.DataFrame:
    rows = [
        {
            "scope": scope.value,
            "subject": subject,
            "setting": setting,
            "value": value,
            "actor": actor,
            "reason": reason,
            "at": at,
            "run_id": run_id,
        }
        for setting, value in settings.items()
    ]
    return pl.DataFrame(rows, schema={k: v for k, v in SCHEMAS[POLICIES].items() if k != "audit_seq"})


def policy_settings(ledger: Ledger, *, scope: PolicyScope, version: int | None = None) -> dict[str, dict[str, str]]:
    """The latest value of every setting of `scope`, by subject (a model or a tier), from the chain."""
    rows = ledger.table(POLICIES, version=version).filter(pl.col("scope") == scope.value)
    settings: dict[str, dict[str, str]] = {}
    for row in rows.iter_rows(named=True):  # chain order: a later setting replaces an earlier one
        settings.setdefault(row["subject"], {})[row["setting"]] = row["value"]
    return settings
