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


def may_open(roles: Iterable[Role], screen: Screen) -> bool:
    return bool(SCREEN_ROLES[screen] & frozenset(roles))


def screens_for(roles: Iterable[Role]) -> tuple[Screen, ...]:
    held = frozenset(roles)
    return tuple(screen for screen in Screen if SCREEN_ROLES[screen] & held)
