"""Setting up a lakehouse and managing who holds which role.

Every change is decided on the access policy as the audit chain holds it at the moment of the
commit, so concurrent changes serialize: two admins revoking each other leave one admin, and forty
grants at once get forty consecutive sequence numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl

from governance.audit.actions import AuditAction
from governance.errors import PolicyViolation
from governance.promotion import RiskTier, default_approvals
from governance.roles import Action, GrantChange, GrantEvent, Role, authorize, parse_role, require_user_name
from lakehouse.records import PolicyScope, access_frame, access_policy, policy_frame
from lakehouse.schemas import ACCESS, POLICIES
from pipelines.context import Change, Context, JobRun, Refused, job_run


@dataclass(frozen=True)
class InitResult:
    home: str
    admins: tuple[str, ...]
    created_admin: bool
    lakehouse: str  # where the tables are: a folder under home, or an object-store URI


def init_lakehouse(ctx: Context, *, admin: str | None) -> InitResult:
    """Create the lakehouse folders and registry; on a lakehouse with no history at all, grant the
    first admin and record the initial approval policy. Safe to run again."""
    # The registry first: a tracking server that does not answer leaves no half-made lakehouse behind.
    ctx.registry.models()  # creates the registry database on first use
    for folder in (ctx.settings.lakehouse_root, ctx.settings.lock_root):
        if isinstance(folder, Path):  # an object store has no folders to make
            folder.mkdir(parents=True, exist_ok=True)
    admins = access_policy(ctx.ledger).users_with(Role.ADMIN)
    if admin is None or admin in admins:
        return InitResult(
            home=str(ctx.settings.home), admins=admins, created_admin=False, lakehouse=str(ctx.settings.lakehouse_root)
        )
    require_user_name(admin)
    with job_run(ctx, job="init", actor=admin) as run:

        def first_admin(version: int | None) -> list[Change]:
            found = access_policy(ctx.ledger, version=version).users_with(Role.ADMIN)
            if found:
                raise PolicyViolation(
                    f"the lakehouse already has an admin ({', '.join(found)}): "
                    f"ask them to run mlgov access grant {admin} admin"
                )
            if version is not None and not ctx.ledger.is_empty():
                # Only a lakehouse with no history gets a first admin: anyone could otherwise take over
                # one whose admins were all removed, or one made by an earlier release.
                raise PolicyViolation(
                    "this lakehouse has a history but no admin on its audit chain: no admin is created; "
                    "if an earlier mlgov made it, an admin of that release runs mlgov migrate"
                )
            return [_first_admin_change(run, admin), _initial_policy_change(run)]

        run.govern(first_admin, refused=Refused(Action.MANAGE_ACCESS, "user", admin))
    return InitResult(
        home=str(ctx.settings.home), admins=(admin,), created_admin=True, lakehouse=str(ctx.settings.lakehouse_root)
    )


def _first_admin_change(run: JobRun, admin: str) -> Change:
    event = GrantEvent(user=admin, role=Role.ADMIN, change=GrantChange.GRANT)
    rows = access_frame(
        [event], ledger=run.ctx.ledger, version=None, actor=admin, reason="first admin", at=run.now(), run_id=run.run_id
    )
    return Change(
        action=AuditAction.GRANT_ROLE,
        object_type="user",
        object_id=admin,
        reason="first admin",
        details={"role": Role.ADMIN.value},
        rows={ACCESS: rows},
    )


def _initial_policy_change(run: JobRun) -> Change:
    """The approvals each risk tier needs, from MLGOV_REQUIRED_APPROVALS (medium) when it is set."""
    approvals = default_approvals(medium=run.ctx.settings.required_approvals)
    settings = {tier.value: str(approvals[tier]) for tier in RiskTier}
    rows = [
        policy_frame(
            scope=PolicyScope.TIER,
            subject=tier,
            settings={"approvals": value},
            actor=run.actor,
            reason="initial approval policy",
            at=run.now(),
            run_id=run.run_id,
        )
        for tier, value in settings.items()
    ]
    return Change(
        action=AuditAction.SET_APPROVAL_POLICY,
        object_type="policy",
        object_id="approvals",
        reason="initial approval policy",
        details={"approvals": settings},
        rows={POLICIES: pl.concat(rows)},
    )


@dataclass(frozen=True)
class GrantResult:
    user: str
    role: Role
    change: GrantChange
    changed: bool


def change_role(
    ctx: Context, *, user: str, role: str, change: GrantChange, actor: str, reason: str = ""
) -> GrantResult:
    """Grant or revoke a role; only admins may, the last admin cannot be removed, and every change is
    audited."""
    require_user_name(user)
    parsed = parse_role(role)
    with job_run(ctx, job=f"access_{change.value}", actor=actor) as run:
        run.authorize(Action.MANAGE_ACCESS, object_type="user", object_id=user)
        changed = False

        def decide(version: int | None) -> list[Change]:
            nonlocal changed
            policy = access_policy(ctx.ledger, version=version)
            authorize(policy, user=actor, action=Action.MANAGE_ACCESS)  # still an admin at commit time
            changed = (change is GrantChange.GRANT) != (parsed in policy.roles_of(user))
            if not changed:
                return []
            if change is GrantChange.REVOKE and parsed is Role.ADMIN and policy.users_with(Role.ADMIN) == (user,):
                raise PolicyViolation(f"{user} is the last admin; grant admin to someone else first")
            return [grant_change(run, user=user, role=parsed, change=change, reason=reason, version=version)]

        run.govern(decide, refused=Refused(Action.MANAGE_ACCESS, "user", user))
    return GrantResult(user=user, role=parsed, change=change, changed=changed)


def grant_change(
    run: JobRun, *, user: str, role: Role, change: GrantChange, reason: str, version: int | None
) -> Change:
    """The governance change that grants or revokes `role`, numbered after the chain's grants at `version`."""
    event = GrantEvent(user=user, role=role, change=change)
    rows = access_frame(
        [event], ledger=run.ctx.ledger, version=version, actor=run.actor, reason=reason, at=run.now(), run_id=run.run_id
    )
    return Change(
        action=AuditAction.GRANT_ROLE if change is GrantChange.GRANT else AuditAction.REVOKE_ROLE,
        object_type="user",
        object_id=user,
        reason=reason,
        details={"role": role.value},
        rows={ACCESS: rows},
    )
