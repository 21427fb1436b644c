from datetime import timedelta

import pytest

from governance.errors import PermissionDenied
from governance.roles import GrantChange, Role
from pipelines.jobs.access import change_role
from pipelines.jobs.sessions import SESSIONS, end_session, resume_session, start_session
from pipelines.jobs.users import authenticate, set_password
from tests.conftest import ADMIN, ANALYST, START, FixedClock, Seeded, context_for

PASSWORD = "Quartz-Meadow-For-Tests-7"


def test_a_session_carries_the_identity_with_its_roles_now_until_signed_out_or_expired(seeded: Seeded) -> None:
    clock = FixedClock(START)
    ctx = context_for(seeded.home, clock=clock)
    set_password(ctx, user=ANALYST, password=PASSWORD, actor=ADMIN)
    token = start_session(ctx, authenticate(ctx, user=ANALYST, password=PASSWORD))

    assert resume_session(ctx, token).roles == {Role.ANALYST}
    change_role(ctx, user=ANALYST, role="auditor", change=GrantChange.GRANT, actor=ADMIN, reason="audit season")
    assert resume_session(ctx, token).roles == {Role.ANALYST, Role.AUDITOR}  # a grant applies at once
    change_role(ctx, user=ANALYST, role="analyst", change=GrantChange.REVOKE, actor=ADMIN, reason="moved on")
    change_role(ctx, user=ANALYST, role="auditor", change=GrantChange.REVOKE, actor=ADMIN, reason="moved on")
    with pytest.raises(PermissionDenied, match="holds no roles"):  # and a user left with none is out
        resume_session(ctx, token)

    change_role(ctx, user=ANALYST, role="analyst", change=GrantChange.GRANT, actor=ADMIN, reason="back")
    clock.at = START + SESSIONS.lifetime
    with pytest.raises(PermissionDenied, match="your session expired at"):
        resume_session(ctx, token)

    clock.at = START + timedelta(minutes=1)
    other = start_session(ctx, authenticate(ctx, user=ANALYST, password=PASSWORD))
    end_session(ctx, other)
    with pytest.raises(PermissionDenied, match="your session was signed out"):
        resume_session(ctx, other)
    assert resume_session(ctx, token).user == ANALYST  # signing one session out leaves the others be
    with pytest.raises(PermissionDenied, match="your session is not valid"):
        resume_session(ctx, token[:-2] + "xx")
