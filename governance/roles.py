"""Roles, actions and the permission check every entry point goes through."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from governance.errors import InputError, PermissionDenied


class Role(StrEnum):
    MAKER = "maker"
    REVIEWER = "reviewer"
    AUDITOR = "auditor"
    ANALYST = "analyst"
    ADMIN = "admin"


class Action(StrEnum):
    MANAGE_ACCESS = "manage_access"
    INGEST = "ingest"
    TRAIN = "train"
    REQUEST_PROMOTION = "request_promotion"
    WITHDRAW_PROMOTION = "withdraw_promotion"  # one's own pending request
    APPROVE = "approve"
    REJECT = "reject"
    SCORE = "score"
    LOAD_LABELS = "load_labels"
    MONITOR = "monitor"
    READ_MONITORING = "read_monitoring"
    READ_AUDIT = "read_audit"
    RUN_DEMO = "run_demo"
    ROLLBACK = "rollback"
    FORCE_PROMOTION = "force_promotion"
    SET_RISK_TIER = "set_risk_tier"
    EXPORT_EVIDENCE = "export_evidence"
    MAINTAIN_TABLES = "maintain_tables"  # compact, checkpoint and vacuum the lakehouse's tables
    MANAGE_ALERT_RULES = "manage_alert_rules"
    HANDLE_ALERTS = "handle_alerts"  # acknowledge and resolve
    SEAL_AUDIT = "seal_audit"  # sign the audit chain's tip with the audit key, from the app


PERMISSIONS: Mapping[Role, frozenset[Action]] = {
    Role.MAKER: frozenset(
        {
            Action.INGEST,
            Action.TRAIN,
            Action.REQUEST_PROMOTION,
            Action.WITHDRAW_PROMOTION,
            Action.SCORE,
            Action.LOAD_LABELS,
            Action.MONITOR,
            Action.READ_MONITORING,
        }
    ),
    # Those who watch production handle its alerts; a maker does not silence alerts on the models she
    # trains, and an auditor only reads.
    Role.REVIEWER: frozenset(
        {Action.APPROVE, Action.REJECT, Action.ROLLBACK, Action.READ_MONITORING, Action.HANDLE_ALERTS}
    ),
    Role.AUDITOR: frozenset({Action.READ_AUDIT, Action.READ_MONITORING, Action.EXPORT_EVIDENCE, Action.SEAL_AUDIT}),
    Role.ANALYST: frozenset({Action.READ_MONITORING, Action.MONITOR, Action.HANDLE_ALERTS}),
    Role.ADMIN: frozenset(
        {
            Action.MANAGE_ACCESS,
            Action.RUN_DEMO,
            Action.READ_MONITORING,
            Action.ROLLBACK,
            Action.FORCE_PROMOTION,
            Action.SET_RISK_TIER,
            Action.MAINTAIN_TABLES,
            Action.MANAGE_ALERT_RULES,
            Action.HANDLE_ALERTS,
        }
    ),
}


def parse_role(text: str) -> Role:
    """The role named by `text`, or an error listing the valid roles."""
    try:
        return Role(text.strip().lower())
    except ValueError:
        valid = ", ".join(r.value for r in Role)
        raise PermissionDenied(f"unknown role {text!r}: expected one of {valid}") from None


@dataclass(frozen=True)
class AccessPolicy:
    """Who holds which roles, and whose accounts are disabled, as the chain says at one moment.

    A disabled user keeps their roles (enabling the account gives them back) but may do nothing.
    """

    grants: Mapping[str, frozenset[Role]] = field(default_factory=dict)
    disabled: frozenset[str] = frozenset()

    def roles_of(self, user: str) -> frozenset[Role]:
        return self.grants.get(user, frozenset())

    def knows(self, user: str) -> bool:
        return bool(self.roles_of(user))

    def users_with(self, role: Role) -> tuple[str, ...]:
        return tuple(sorted(u for u, roles in self.grants.items() if role in roles))


class GrantChange(StrEnum):
    GRANT = "grant"
    REVOKE = "revoke"


@dataclass(frozen=True)
class GrantEvent:
    user: str
    role: Role
    change: GrantChange


def fold_grants(events: Iterable[GrantEvent]) -> AccessPolicy:
    """The access policy that results from applying grant events in order."""
    grants: dict[str, set[Role]] = {}
    for event in events:
        roles = grants.setdefault(event.user, set())
        if event.change is GrantChange.GRANT:
            roles.add(event.role)
        else:
            roles.discard(event.role)
    return AccessPolicy({user: frozenset(roles) for user, roles in grants.items() if roles})


def permitted_actions(roles: Iterable[Role]) -> frozenset[Action]:
    """Every action some role of `roles` permits."""
    return frozenset().union(*(PERMISSIONS[role] for role in roles))


def may(policy: AccessPolicy, *, user: str, action: Action) -> bool:
    return user not in policy.disabled and action in permitted_actions(policy.roles_of(user))


def disabled_actor(user: str) -> str:
    """The refusal of anything a disabled user tries, naming the way back."""
    return f"user {user} is disabled: an admin runs mlgov users enable {user}"


def require_enabled_actor(policy: AccessPolicy, *, user: str) -> None:
    """Raise PermissionDenied if `user`'s account is disabled: they may not act, even on their own account."""
    if user in policy.disabled:
        raise PermissionDenied(disabled_actor(user))


def authorize(policy: AccessPolicy, *, user: str, action: Action) -> None:
    """Raise PermissionDenied unless `user`'s account is enabled and they hold a role that permits `action`."""
    require_enabled_actor(policy, user=user)
    if not policy.knows(user):
        raise PermissionDenied(f"unknown actor {user!r}: no roles granted (ask an admin: mlgov access grant)")
    if not may(policy, user=user, action=action):
        held = ", ".join(sorted(r.value for r in policy.roles_of(user)))
        needed = ", ".join(sorted(r.value for r, acts in PERMISSIONS.items() if action in acts))
        raise PermissionDenied(f"{user} ({held}) may not {action.value.replace('_', ' ')}: needs role {needed}")


_USER_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.@-")


def user_name_problem(user: str) -> str | None:
    """Why `user` is not a valid user name, or None."""
    if not 1 <= len(user) <= 64 or not set(user) <= _USER_CHARS:
        return f"user name {user!r} is not valid: expected 1-64 letters, digits, '.', '_', '@' or '-'"
    return None


def require_user_name(user: str) -> str:
    """`user`, or an InputError saying why it is not a valid user name."""
    problem = user_name_problem(user)
    if problem:
        raise InputError(problem)
    return user
