"""mlgov users and mlgov login: local accounts.

Passwords are never taken as arguments (they would land in shell history and the process list):
they are typed at a hidden prompt, or read one per line from stdin with --password-stdin.
"""

from __future__ import annotations

import sys

import click

from governance.errors import InputError
from pipelines.cli.support import actor_option, emit, json_option, load_context, reason_option

password_stdin_option = click.option(
    "--password-stdin", "from_stdin", is_flag=True, help="Read the password as one line from stdin, not a prompt."
)


def _read_password(*, prompt: str, from_stdin: bool, confirm: bool) -> str:
    if not from_stdin:  # prompts go to stderr, so --json output stays one document
        return str(click.prompt(prompt, hide_input=True, confirmation_prompt=confirm, err=True))
    line = sys.stdin.readline()
    if not line:
        raise InputError(f"--password-stdin: no line on stdin for the {prompt.lower()}")
    return line.rstrip("\r\n")


@click.group()
def users() -> None:
    """Local accounts: add users with a password, change it, unlock, disable and enable, list."""


@users.command("add")
@click.argument("user")
@click.option("--role", required=True, help="The role to grant: maker, reviewer, auditor, analyst or admin.")
@actor_option
@password_stdin_option
@json_option
def users_add(user: str, role: str, actor: str, from_stdin: bool, as_json: bool) -> None:
    """Give USER a local account with a password and a role (admins only)."""
    from pipelines.jobs.users import add_user

    password = _read_password(prompt="Password", from_stdin=from_stdin, confirm=True)
    result = add_user(load_context(), user=user, role=role, password=password, actor=actor)
    emit(
        {"user": result.user, "role": result.role.value, "granted": result.granted},
        as_json=as_json,
        lines=[f"user {user} added with role {result.role}"],
    )


@users.command("passwd")
@click.argument("user")
@actor_option
@password_stdin_option
@json_option
def users_passwd(user: str, actor: str, from_stdin: bool, as_json: bool) -> None:
    """Change your own password (the current one is asked first), or reset USER's as an admin.

    With --password-stdin, changing your own reads two lines: the current password, then the new one.
    """
    from pipelines.jobs.users import set_password

    current = _read_password(prompt="Current password", from_stdin=from_stdin, confirm=False) if actor == user else None
    password = _read_password(prompt="New password", from_stdin=from_stdin, confirm=True)
    result = set_password(load_context(), user=user, password=password, actor=actor, current_password=current)
    emit(
        {"user": result.user, "reset_by_admin": result.reset_by_admin},
        as_json=as_json,
        lines=[f"password {'reset' if result.reset_by_admin else 'changed'} for {user}"],
    )


@users.command("unlock")
@click.argument("user")
@actor_option
@json_option
def users_unlock(user: str, actor: str, as_json: bool) -> None:
    """End USER's lockout and forget their recent failed sign-ins (admins only)."""
    from pipelines.jobs.users import unlock_user

    result = unlock_user(load_context(), user=user, actor=actor)
    line = f"unlocked {user}" if result.changed else f"nothing to do: {user} is not locked"
    emit({"user": result.user, "changed": result.changed}, as_json=as_json, lines=[line])


@users.command("disable")
@click.argument("user")
@actor_option
@reason_option
@json_option
def users_disable(user: str, actor: str, reason: str, as_json: bool) -> None:
    """Stop USER signing in and end their open sessions, keeping their roles (admins only)."""
    from governance.accounts import AccountChange
    from pipelines.jobs.users import change_account_status

    result = change_account_status(load_context(), user=user, change=AccountChange.DISABLE, actor=actor, reason=reason)
    line = f"disabled {user}" if result.changed else f"nothing to do: {user} is already disabled"
    emit({"user": result.user, "disabled": result.disabled, "changed": result.changed}, as_json=as_json, lines=[line])


@users.command("enable")
@click.argument("user")
@actor_option
@click.option("--reason", default="", help="Why, in words an auditor will read (optional).")
@json_option
def users_enable(user: str, actor: str, reason: str, as_json: bool) -> None:
    """Let a disabled USER sign in again, with the roles they still hold (admins only)."""
    from governance.accounts import AccountChange
    from pipelines.jobs.users import change_account_status

    result = change_account_status(load_context(), user=user, change=AccountChange.ENABLE, actor=actor, reason=reason)
    line = f"enabled {user}" if result.changed else f"nothing to do: {user} is not disabled"
    emit({"user": result.user, "disabled": result.disabled, "changed": result.changed}, as_json=as_json, lines=[line])


@users.command("list")
@json_option
def users_list(as_json: bool) -> None:
    """Every user with a role or a password: roles, whether a password is set, lockouts."""
    from pipelines.jobs.users import list_users

    summaries = list_users(load_context())
    document = {
        "users": [
            {
                "user": s.user,
                "roles": list(s.roles),
                "has_password": s.has_password,
                "locked": s.locked_until is not None,
                "locked_until": s.locked_until.isoformat() if s.locked_until else None,
                "disabled": s.disabled,
                "last_sign_in": s.last_sign_in.isoformat() if s.last_sign_in else None,
            }
            for s in summaries
        ]
    }
    lines = [
        f"{s.user}: {', '.join(s.roles) or '(no roles)'}"
        f"{'' if s.has_password else ', no password'}"
        f"{f', locked until {s.locked_until:%Y-%m-%d %H:%M} UTC' if s.locked_until else ''}"
        f"{', DISABLED' if s.disabled else ''}"
        for s in summaries
    ]
    emit(document, as_json=as_json, lines=lines or ["no users"])


@click.command()
@click.argument("user")
@password_stdin_option
@json_option
def login(user: str, from_stdin: bool, as_json: bool) -> None:
    """Check USER's password and show the roles they would sign in with."""
    from pipelines.jobs.users import authenticate

    password = _read_password(prompt="Password", from_stdin=from_stdin, confirm=False)
    identity = authenticate(load_context(), user=user, password=password)
    roles = sorted(r.value for r in identity.roles)
    emit(
        {"user": identity.user, "roles": roles},
        as_json=as_json,
        lines=[f"signed in as {identity.user} ({', '.join(roles)})"],
    )
