"""Setting up a lakehouse and managing who holds which role."""

from __future__ import annotations

from dataclasses import dataclass

from governance.audit.actions import AuditAction
from governance.errors import PolicyViolation
from governance.roles import Action, GrantChange, GrantEvent, Role, parse_role, require_user_name
from lakehouse.records import access_frame, access_policy
from lakehouse.schemas import ACCESS
from pipelines.context import Context, job_run


@dataclass(frozen=True)
class InitResult:
    home: str
    admins: tuple[str, ...]
    created_admin: bool


def init_lakehouse(ctx: Context, *, admin: str | None) -> InitResult:
    """Create the lakehouse folders and registry; grant the first admin. Safe to run again."""
    for folder in (ctx.settings.lakehouse_root, ctx.settings.artifact_root, ctx.settings.lock_root):
        folder.mkdir(parents=True, exist_ok=True)
    ctx.registry.models()  # creates the registry database on first use
    admins = access_policy(ctx.store).users_with(Role.ADMIN)
    if admin is None or admin in admins:
        return InitResult(home=str(ctx.settings.home), admins=admins, created_admin=False)
    require_user_name(admin)
    if admins:
        raise PolicyViolation(
            f"the lakehouse already has an admin ({', '.join(admins)}): "
            f"ask them to run mlgov access grant {admin} admin"
        )
    with job_run(ctx, job="init", actor=admin) as run:
        event = GrantEvent(user=admin, role=Role.ADMIN, change=GrantChange.GRANT)
        run.append(
            ACCESS,
            access_frame([event], store=ctx.store, actor=admin, reason="first admin", at=run.now(), run_id=run.run_id),
        )
        run.audit(
            action=AuditAction.GRANT_ROLE,
            object_type="user",
            object_id=admin,
            reason="first admin",
            details={"role": "admin"},
        )
    return InitResult(home=str(ctx.settings.home), admins=(admin,), created_admin=True)


@dataclass(frozen=True)
class GrantResult:
    user: str
    role: Role
    change: GrantChange
    changed: bool


def change_role(
    ctx: Context, *, user: str, role: str, change: GrantChange, actor: str, reason: str = ""
) -> GrantResult:
    """Grant or revoke a role; only admins may, and every change is audited."""
    require_user_name(user)
    parsed = parse_role(role)
    with job_run(ctx, job=f"access_{change.value}", actor=actor) as run:
        policy = run.authorize(Action.MANAGE_ACCESS, object_type="user", object_id=user)
        holds = parsed in policy.roles_of(user)
        if (change is GrantChange.GRANT) == holds:
            return GrantResult(user=user, role=parsed, change=change, changed=False)
        if change is GrantChange.REVOKE and parsed is Role.ADMIN and policy.users_with(Role.ADMIN) == (user,):
            raise PolicyViolation(f"{user} is the last admin; grant admin to someone else first")
        event = GrantEvent(user=user, role=parsed, change=change)
        run.append(
            ACCESS, access_frame([event], store=ctx.store, actor=actor, reason=reason, at=run.now(), run_id=run.run_id)
        )
        run.audit(
            action=AuditAction.GRANT_ROLE if change is GrantChange.GRANT else AuditAction.REVOKE_ROLE,
            object_type="user",
            object_id=user,
            reason=reason,
            details={"role": parsed.value},
        )
    return GrantResult(user=user, role=parsed, change=change, changed=True)
