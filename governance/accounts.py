"""Disabled accounts: who may disable or enable a user, and what a disabled account may no longer do. Pure.

An admin disables an account to stop it at once (someone left, a laptop was lost) without taking its
roles away, so enabling it again restores exactly what it had. A disabled user cannot sign in, and a
session they already hold stops working on its next request. The state is folded from the account
events in the order the audit chain holds them; nothing here reads a clock or a table.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from enum import StrEnum

from governance.errors import PermissionDenied, PolicyViolation
from governance.roles import AccessPolicy, Action, Role, authorize

DISABLED_MESSAGE = "your account is disabled: ask an admin to enable it"


class AccountChange(StrEnum):
    DISABLE = "disable"
    ENABLE = "enable"


@dataclass(frozen=True)
class AccountEvent:
    user: str
    change: AccountChange


def fold_disabled(events: Iterable[AccountEvent]) -> frozenset[str]:
    """The users whose latest account event disabled them."""
    disabled: set[str] = set()
    for event in events:
        if event.change is AccountChange.DISABLE:
            disabled.add(event.user)
        else:
            disabled.discard(event.user)
    return frozenset(disabled)


def require_enabled(user: str, *, disabled: Collection[str]) -> None:
    """Refuse a signed-in identity, or one signing in, whose account is disabled."""
    if user in disabled:
        raise PermissionDenied(DISABLED_MESSAGE)


def active_admins(policy: AccessPolicy, *, disabled: Collection[str]) -> tuple[str, ...]:
    """The admins who can still sign in."""
    return tuple(user for user in policy.users_with(Role.ADMIN) if user not in disabled)


def decide_account_change(
    policy: AccessPolicy, *, disabled: Collection[str], actor: str, user: str, change: AccountChange
) -> bool:
    """Whether `actor` changing `user`'s account by `change` changes anything; raises when it may not.

    Only an admin who is not disabled may; nobody may disable their own account (an admin locking
    themselves out by mistake has no way back), nor the last admin who can still sign in.
    """
    authorize(policy, user=actor, action=Action.MANAGE_ACCESS)
    if actor in disabled:
        raise PolicyViolation(f"{actor} is disabled and may not change accounts")
    if change is AccountChange.ENABLE:
        return user in disabled
    if user in disabled:
        return False
    if active_admins(policy, disabled=disabled) == (user,):
        raise PolicyViolation(f"{user} is the last active admin: grant admin to someone else first")
    if user == actor:
        raise PolicyViolation("you may not disable your own account: ask another admin")
    return True
