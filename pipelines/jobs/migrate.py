"""Upgrading a lakehouse made by mlgov 0.1: its governance state carried onto the audit chain, once.

mlgov 0.1 kept roles, promotion events, alias moves and evidence only in their Delta tables, each
version's recipe and each model's risk tier and purpose only in MLflow's tags, and the quorum in
MLGOV_REQUIRED_APPROVALS. The current release decides only on what the audit chain carries. The
migration appends one audit record (`migrate`, marked `migrated`) that carries all of it: the rows of
those tables as 0.1 read them, a governed version row per version 0.1 trained (its recipe from the
tags, its artifact hashed now), and the policy rows. Nothing else is rewritten: the old rows stay as
they are (the projection tables do not get them twice), and MLflow is only read.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from governance.audit.actions import AuditAction, AuditOutcome
from governance.errors import InputError, PermissionDenied, PolicyViolation
from governance.promotion import PromotionEventKind, RiskTier, default_approvals, parse_tier
from governance.roles import GrantChange, GrantEvent, Role, fold_grants
from lakehouse.ledger import MIGRATED
from lakehouse.records import PolicyScope, RegisteredVersion, policy_frame, version_frame
from lakehouse.schemas import ACCESS, ALIASES, CHAIN_TABLES, EVIDENCE, POLICIES, PROMOTIONS, SCHEMAS, VERSIONS
from pipelines.context import Change, Context, JobRun, job_run
from pipelines.reads.governed import PURPOSE_TAG, TIER_TAG
from pipelines.reads.versions import recipe_from_tags

FROM_RELEASE = "0.1"
LEGACY_TABLES = (ACCESS, PROMOTIONS, ALIASES, EVIDENCE)  # what 0.1 kept in Delta
_RUN_TAG = "mlgov.run_id"  # the train job's run id, as 0.1 tagged each version
_KIND_RANK = {kind.value: rank for rank, kind in enumerate(PromotionEventKind)}


@dataclass(frozen=True)
class SkippedVersion:
    model: str
    version: str
    reason: str


@dataclass(frozen=True)
class MigrationResult:
    migrated: dict[str, int]  # rows carried onto the chain, by table (its name without "governance/")
    skipped_versions: tuple[SkippedVersion, ...]
    audit_seq: int

    def document(self) -> dict[str, object]:
        return {
            "migrated": self.migrated,
            "skipped_versions": [s.__dict__ for s in self.skipped_versions],
            "audit_seq": self.audit_seq,
        }


def migrate_lakehouse(ctx: Context, *, actor: str) -> MigrationResult:
    """Carry a 0.1 lakehouse's governance state onto the audit chain in one audited record.

    Only while the chain holds no governed record, and only by an admin of the 0.1 access table.
    A version MLflow holds without mlgov's recipe tags was not trained by mlgov: it is skipped and
    reported (it can never be promoted). A version whose artifacts cannot be read stops the migration,
    which is never half done: fix the artifact store and run it again.
    """
    with job_run(ctx, job="migrate", actor=actor) as run:
        _require_unmigrated(ctx, version=None)
        legacy = {table: _legacy_rows(ctx, table) for table in LEGACY_TABLES}
        if legacy[ACCESS].height == 0:
            raise PolicyViolation(
                "nothing to migrate: this lakehouse holds no roles written by an earlier release "
                "(a new lakehouse starts with mlgov init --admin USER)"
            )
        _require_legacy_admin(run, legacy[ACCESS])
        versions, skipped = _version_rows(run)
        policies = _policy_rows(run)
        rows = {**legacy, VERSIONS: versions, POLICIES: policies}
        counts = {table.removeprefix("governance/"): frame.height for table, frame in rows.items()}
        change = Change(
            action=AuditAction.MIGRATE,
            object_type="lakehouse",
            object_id=str(ctx.settings.home),
            reason=f"governance state of mlgov {FROM_RELEASE} carried onto the audit chain",
            details={
                MIGRATED: True,
                "from_release": FROM_RELEASE,
                "rows": counts,
                "skipped_versions": [f"{s.model}/{s.version}" for s in skipped],
            },
            rows={table: frame for table, frame in rows.items() if frame.height},
        )

        def decide(version: int | None) -> list[Change]:
            _require_unmigrated(ctx, version=version)  # another migrate may have committed meanwhile
            return [change]

        (record,) = run.govern(decide)
    return MigrationResult(migrated=counts, skipped_versions=tuple(skipped), audit_seq=record.seq)


def _require_unmigrated(ctx: Context, *, version: int | None) -> None:
    if any(ctx.ledger.table(table, version=version).height for table in CHAIN_TABLES):
        raise PolicyViolation(
            "nothing to migrate: the audit chain already holds the governance record "
            "(this lakehouse was already migrated, or made by a release after 0.1)"
        )


def _legacy_rows(ctx: Context, table: str) -> pl.DataFrame:
    """The rows an earlier release wrote to `table` (no audit_seq), in the order it read them back."""
    frame = ctx.store.scan(table).filter(pl.col("audit_seq").is_null())
    if table == ACCESS:
        frame = frame.sort("seq", "at", maintain_order=True)
    elif table == PROMOTIONS:  # by time, and within one instant: requested, approvals, then an outcome
        rank = pl.col("kind").replace_strict(_KIND_RANK, default=len(_KIND_RANK), return_dtype=pl.Int32)
        frame = frame.sort(pl.col("at"), rank, maintain_order=True)
    else:
        frame = frame.sort("at", maintain_order=True)
    return frame.collect()


def _require_legacy_admin(run: JobRun, access: pl.DataFrame) -> None:
    """Only an admin, as the 0.1 access table says, migrates; a refusal is audited."""
    policy = fold_grants(
        GrantEvent(user=row["user"], role=Role(row["role"]), change=GrantChange(row["change"]))
        for row in access.iter_rows(named=True)
    )
    if Role.ADMIN in policy.roles_of(run.actor):
        return
    admins = ", ".join(policy.users_with(Role.ADMIN)) or "(none)"
    refusal = PermissionDenied(
        f"{run.actor} is not an admin of this lakehouse (admins: {admins}): only an admin runs mlgov migrate"
    )
    run.audit(
        action=AuditAction.MIGRATE,
        object_type="lakehouse",
        object_id=str(run.ctx.settings.home),
        outcome=AuditOutcome.REFUSED,
        reason=str(refusal),
    )
    raise refusal


def _version_rows(run: JobRun) -> tuple[pl.DataFrame, list[SkippedVersion]]:
    """A governed version row for every version 0.1 trained, from its MLflow tags; the others, skipped."""
    frames, skipped = [], []
    registry = run.ctx.registry
    for model in sorted(m.name for m in registry.models()):
        for info in sorted(registry.versions(model), key=lambda v: int(v.version)):
            try:
                recipe = recipe_from_tags(info)
            except InputError as missing:
                skipped.append(SkippedVersion(model=model, version=info.version, reason=str(missing)))
                continue
            registered = RegisteredVersion(
                model=model,
                version=info.version,
                recipe=recipe,
                artifact_digest=registry.artifact_digest(model, info.version),
                mlflow_run_id=info.run_id,
                at=info.created_at,
            )
            frames.append(version_frame(registered, run_id=info.tags.get(_RUN_TAG) or run.run_id))
    return _concat(frames, VERSIONS), skipped


def _policy_rows(run: JobRun) -> pl.DataFrame:
    """Each model's risk tier and purpose from its MLflow tags; the approvals per tier from the
    settings 0.1 read them from (MLGOV_REQUIRED_APPROVALS for medium, one fewer for low, one more for high)."""
    reason = f"migrated from mlgov {FROM_RELEASE}"
    frames = []
    for model in sorted(run.ctx.registry.models(), key=lambda m: m.name):
        settings = {}
        if TIER_TAG in model.tags:
            try:
                settings["risk_tier"] = parse_tier(model.tags[TIER_TAG]).value
            except PolicyViolation as bad:
                raise InputError(f"model {model.name}, MLflow tag {TIER_TAG}: {bad}") from None
        if PURPOSE_TAG in model.tags:
            settings["purpose"] = model.tags[PURPOSE_TAG]
        if settings:
            frames.append(
                policy_frame(
                    scope=PolicyScope.MODEL,
                    subject=model.name,
                    settings=settings,
                    actor=run.actor,
                    reason=f"{reason}: the model's MLflow tags",
                    at=run.now(),
                    run_id=run.run_id,
                )
            )
    approvals = default_approvals(medium=run.ctx.settings.required_approvals)
    for tier in RiskTier:
        frames.append(
            policy_frame(
                scope=PolicyScope.TIER,
                subject=tier.value,
                settings={"approvals": str(approvals[tier])},
                actor=run.actor,
                reason=f"{reason}: MLGOV_REQUIRED_APPROVALS={run.ctx.settings.required_approvals}",
                at=run.now(),
                run_id=run.run_id,
            )
        )
    return _concat(frames, POLICIES)


def _concat(frames: list[pl.DataFrame], table: str) -> pl.DataFrame:
    if frames:
        return pl.concat(frames)
    return pl.DataFrame(schema={k: v for k, v in SCHEMAS[table].items() if k != "audit_seq"})
