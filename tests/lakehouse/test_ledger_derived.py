"""What every request folds out of the chain (the access policy, the disabled users) is kept while the
records appended do not touch its table, such as each sign-in's, and folded again once they do."""

from __future__ import annotations

from pathlib import Path

import pytest

from governance.accounts import AccountChange
from governance.errors import PermissionDenied
from governance.roles import GrantChange, Role
from lakehouse.account_status import disabled_users
from lakehouse.records import access_policy
from pipelines.jobs.access import change_role
from pipelines.jobs.users import authenticate, change_account_status, set_password
from tests.conftest import ADMIN, ANALYST, context_for

PASSWORD = "copper-heron-5812"


def test_a_sign_in_keeps_the_folded_policy_and_a_grant_folds_it_again(empty_home: Path) -> None:
    ctx = context_for(empty_home)
    change_role(ctx, user=ANALYST, role="analyst", change=GrantChange.GRANT, actor=ADMIN)
    set_password(ctx, user=ANALYST, password=PASSWORD, actor=ADMIN)
    before, version = access_policy(ctx.ledger), ctx.ledger.version()

    authenticate(ctx, user=ANALYST, password=PASSWORD)  # appends its audit record, carries no grant

    assert ctx.ledger.version() != version
    assert access_policy(ctx.ledger) is before
    assert access_policy(ctx.ledger, version=version) == before

    change_role(ctx, user=ANALYST, role="maker", change=GrantChange.GRANT, actor=ADMIN)

    after = access_policy(ctx.ledger)
    assert after.roles_of(ANALYST) == {Role.ANALYST, Role.MAKER}
    assert before.roles_of(ANALYST) == {Role.ANALYST}  # what was handed out earlier is left as it was


def test_disabling_a_user_is_seen_at_once_by_a_ledger_that_folded_before(empty_home: Path) -> None:
    ctx = context_for(empty_home)
    change_role(ctx, user=ANALYST, role="analyst", change=GrantChange.GRANT, actor=ADMIN)
    set_password(ctx, user=ANALYST, password=PASSWORD, actor=ADMIN)
    assert disabled_users(ctx.ledger) == frozenset()
    assert access_policy(ctx.ledger).disabled == frozenset()
    authenticate(ctx, user=ANALYST, password=PASSWORD)

    change_account_status(ctx, user=ANALYST, change=AccountChange.DISABLE, actor=ADMIN, reason="left the team")

    assert disabled_users(ctx.ledger) == {ANALYST}
    assert access_policy(ctx.ledger).disabled == {ANALYST}  # folded from both tables, again
    with pytest.raises(PermissionDenied):
        authenticate(ctx, user=ANALYST, password=PASSWORD)
