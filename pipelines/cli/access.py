"""mlgov init, mlgov access and mlgov migrate: the first admin, granting and revoking roles, and the
upgrade of a lakehouse an earlier release made."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict

import click

from governance.roles import GrantChange
from pipelines.cli.support import actor_option, emit, json_option, load_context


@click.command()
@click.option("--admin", help="Grant this user the admin role if the lakehouse has no admin yet.")
@json_option
def init(admin: str | None, as_json: bool) -> None:
    """Create the lakehouse and registry; idempotent."""
    from pipelines.jobs.access import init_lakehouse

    result = init_lakehouse(load_context(), admin=admin)
    emit(
        asdict(result),
        as_json=as_json,
        lines=[f"lakehouse ready at {result.lakehouse}; admins: {', '.join(result.admins) or '(none)'}"],
    )


@click.group()
def access() -> None:
    """Grant and revoke roles (maker, reviewer, auditor, analyst, admin)."""


def _role_command(change: GrantChange) -> Callable[..., None]:
    @click.argument("user")
    @click.argument("role")
    @actor_option
    @click.option("--reason", default="", help="Why the role changes.")
    @json_option
    def command(user: str, role: str, actor: str, reason: str, as_json: bool) -> None:
        from pipelines.jobs.access import change_role

        result = change_role(load_context(), user=user, role=role, change=change, actor=actor, reason=reason)
        verb = "granted to" if change is GrantChange.GRANT else "revoked from"
        holds = "already holds" if change is GrantChange.GRANT else "does not hold"
        line = f"{result.role} {verb} {user}" if result.changed else f"nothing to do: {user} {holds} {result.role}"
        emit({**asdict(result), "role": result.role.value}, as_json=as_json, lines=[line])

    command.__doc__ = f"{change.value.capitalize()} ROLE for USER (admins only)."
    return command


access.command("grant")(_role_command(GrantChange.GRANT))
access.command("revoke")(_role_command(GrantChange.REVOKE))


@click.command()
@actor_option
@json_option
def migrate(actor: str, as_json: bool) -> None:
    """Carry a lakehouse made by mlgov 0.1 onto the audit chain, once (its admins only)."""
    from pipelines.jobs.migrate import migrate_lakehouse

    result = migrate_lakehouse(load_context(allow_unmigrated=True), actor=actor)
    counts = ", ".join(f"{n} {table}" for table, n in result.migrated.items())
    lines = [f"migrated onto the audit chain as record {result.audit_seq}: {counts}"]
    lines += [f"skipped {s.model} version {s.version}: {s.reason}" for s in result.skipped_versions]
    emit(result.document(), as_json=as_json, lines=lines)
