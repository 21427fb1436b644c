"""The one error family every layer raises and every entry point turns into one clear line."""


class MlgovError(Exception):
    """Base of every error a user can act on; its message is one line naming what is wrong."""


class InputError(MlgovError):
    """Bad input: a missing file, a column, a value or a name that is not what was expected."""


class NotFoundError(MlgovError):
    """A table, model, version, request or user that does not exist."""


class PermissionDenied(MlgovError):
    """The actor lacks the role for the action."""


class PolicyViolation(MlgovError):
    """The action is refused by governance policy (segregation of duties, state, quorum)."""


class ConflictError(MlgovError):
    """A concurrent writer changed what this action read; retry with fresh state."""


def first_line(error: BaseException) -> str:
    """The first line of another library's error message, for ours to quote: polars and delta-rs
    append expression dumps and hints on further lines."""
    lines = str(error).strip().splitlines()
    return lines[0].strip() if lines else type(error).__name__
