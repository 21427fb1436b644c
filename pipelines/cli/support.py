"""What every mlgov command module shares: error handling, the context, output and common options."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import click

from governance.errors import InputError, MlgovError

if TYPE_CHECKING:
    from lakehouse.audit.log import AuditLog
    from pipelines.context import Context

EXIT_REFUSED = 1
EXIT_USAGE = 2
EXIT_UNEXPECTED = 3


class MlgovGroup(click.Group):
    """Turns our errors (and any unexpected one) into one line on stderr, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except MlgovError as error:
            click.echo(f"error: {error}", err=True)
            sys.exit(EXIT_REFUSED)
        except click.UsageError as error:
            where = f" (see {error.ctx.command_path} --help)" if error.ctx else ""
            click.echo(f"error: {error.format_message()}{where}", err=True)
            sys.exit(EXIT_USAGE)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except Exception as error:  # a bug of ours: still one line, with the type to report it by
            click.echo(
                f"error: unexpected {type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}",
                err=True,
            )
            sys.exit(EXIT_UNEXPECTED)


def load_context(*, allow_unmigrated: bool = False) -> Context:
    """The lakehouse at MLGOV_HOME. One an earlier release made is refused with what to do about it
    (`pipelines.context.require_migrated`), but by the commands that work on it as it is."""
    from pipelines.context import build_context, require_migrated

    ctx = build_context()
    if not allow_unmigrated:
        require_migrated(ctx)
    return ctx


def load_audit_log() -> AuditLog:
    """The audit trail alone (no MLflow): for the commands that need nothing else."""
    from pipelines.context import build_audit_log

    return build_audit_log()


def emit(document: Mapping[str, Any], *, as_json: bool, lines: Sequence[str]) -> None:
    from pipelines.context import to_json

    if as_json:
        click.echo(to_json(document))
    else:
        for line in lines:
            click.echo(line)


def parse_instant(text: str | None, option: str) -> datetime | None:
    """An ISO timestamp; one without a zone is UTC."""
    if text is None:
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise InputError(
            f"{option} {text!r} is not an ISO timestamp such as 2026-06-01 or 2026-06-01T12:00:00Z"
        ) from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")
actor_option = click.option("--actor", required=True, help="The user doing this; roles come from the access policy.")
engine_option = click.option(
    "--engine",
    type=click.Choice(["local", "ray"]),
    help="Where the heavy work computes: this process, or Daft on the Ray cluster at MLGOV_RAY_ADDRESS "
    "(default: MLGOV_ENGINE, else local).",
)
reason_option = click.option("--reason", required=True, help="Why, in words a reviewer or auditor will read.")
