"""Which screens of the app each role may open. The app lists only these and refuses the rest,
so hiding a page is never the only protection: every page checks again when it runs."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum

from governance.roles import Role
from governance.sql_access import QUERY_CLASSES


class Screen(StrEnum):
    OVERVIEW = "overview"
    APPROVALS = "approvals"
    MODELS = "models"
    LINEAGE = "lineage"
    AUDIT = "audit"
    DRIFT = "drift"
    PERFORMANCE = "performance"
    COST = "cost"
    SQL = "sql"
    ACCESS = "access"
    FEATURES = "features"


_EVERYONE = frozenset(Role)

SCREEN_ROLES: Mapping[Screen, frozenset[Role]] = {
    Screen.OVERVIEW: _EVERYONE,
    Screen.MODELS: _EVERYONE,
    Screen.DRIFT: _EVERYONE,
    Screen.PERFORMANCE: _EVERYONE,
    # makers see their requests there too; whether anyone may act is decided per request
    Screen.APPROVALS: frozenset({Role.REVIEWER, Role.MAKER, Role.AUDITOR, Role.ADMIN}),
    Screen.LINEAGE: frozenset({Role.AUDITOR, Role.ADMIN}),
    Screen.AUDIT: frozenset({Role.AUDITOR, Role.ADMIN}),
    Screen.COST: frozenset({Role.ADMIN, Role.ANALYST, Role.AUDITOR}),
    # the roles that may query some table; which ones is decided in governance.sql_access
    Screen.SQL: frozenset(role for role, classes in QUERY_CLASSES.items() if classes),
    Screen.ACCESS: frozenset({Role.ADMIN}),
    # feature tables' definitions, freshness, users and lineage (no feature values): every role works with them
    Screen.FEATURES: _EVERYONE,
}


# How a refusal names a screen (the menu may word it at more length).
SCREEN_NAMES: Mapping[Screen, str] = {
    Screen.OVERVIEW: "Overview",
    Screen.APPROVALS: "Approvals",
    Screen.MODELS: "Models",
    Screen.LINEAGE: "Lineage",
    Screen.AUDIT: "Audit",
    Screen.DRIFT: "Drift",
    Screen.PERFORMANCE: "Performance",
    Screen.COST: "Cost",
    Screen.SQL: "SQL console",
    Screen.ACCESS: "Access",
}


def may_open(roles: Iterable[Role], screen: Screen) -> bool:
    return bool(SCREEN_ROLES[screen] & frozenset(roles))


def screen_title(screen: Screen) -> str:
    return SCREEN_NAMES[screen]


def open_refusal(roles: Iterable[Role], screen: Screen) -> str | None:
    """Why someone holding `roles` may not open `screen` (naming the roles that may), or None."""
    held = frozenset(roles)
    if SCREEN_ROLES[screen] & held:
        return None
    allowed = sorted(role.value for role in SCREEN_ROLES[screen])
    needs = f"the {allowed[0]} role" if len(allowed) == 1 else f"one of the roles {', '.join(allowed)}"
    yours = ", ".join(sorted(role.value for role in held)) or "no role"
    return f"you may not open {SCREEN_NAMES[screen]}: it needs {needs}, and you hold {yours}"


def parse_screen(text: str) -> Screen | None:
    """The screen a link names (`?page=audit`), or None when it names none."""
    try:
        return Screen(text.strip().lower())
    except ValueError:
        return None


def screens_for(roles: Iterable[Role]) -> tuple[Screen, ...]:
    held = frozenset(roles)
    return tuple(screen for screen in Screen if SCREEN_ROLES[screen] & held)
