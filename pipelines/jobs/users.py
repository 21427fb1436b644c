"""Local accounts: adding users with a password, changing and resetting it, signing in, unlocking.

Every outcome is audited, refusals included, and no audit record or error message ever holds a
password or a hash. A failed sign-in says only "invalid user name or password" to the caller; the
audit trail records what actually went wrong for the auditors.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from governance.accounts import AccountChange, decide_account_change
from governance.audit.actions import AuditAction, AuditOutcome
from governance.errors import InputError, NotFoundError, PermissionDenied, PolicyViolation
from governance.identity import (
    GENERIC_LOGIN_FAILURE,
    CredentialEventKind,
    LockoutPolicy,
    PasswordPolicy,
    SignedIn,
    has_password,
    last_sign_in,
    locked_message,
    login_gate,
    password_problem,
    signed_in,
)
from governance.roles import (
    Action,
    GrantChange,
    Role,
    authorize,
    parse_role,
    require_enabled_actor,
    require_user_name,
    user_name_problem,
)
from lakehouse.account_status import account_status_frame, disabled_users
from lakehouse.accounts import (
    Credentials,
    append_rehash,
    credential_frame,
    credential_histories,
    credentials_of,
    describe_hash,
    hash_password,
    needs_rehash,
    verify_password,
)
from lakehouse.records import access_policy
from lakehouse.schemas import ACCOUNT_STATUS, CREDENTIALS
from pipelines.context import Change, Context, JobRun, Refused, job_run, require_migrated
from pipelines.jobs.access import grant_change

LOCKOUT = LockoutPolicy()
PASSWORDS = PasswordPolicy()
# The actor recorded for a sign-in under a name that is not a valid user name: such text is
# often a password typed into the wrong field, so it is kept out of the audit trail.
INVALID_NAME_ACTOR = "(invalid user name)"


def _check_password(password: str, *, user: str) -> None:
    problem = password_problem(password, user=user, policy=PASSWORDS)
    if problem:
        raise InputError(problem)


def _record(run: JobRun, account: Credentials, kind: CredentialEventKind, *, secret_hash: str = "") -> Credentials:
    """Append one credential event; returns the account with its next sequence number moved on."""
    run.append(
        CREDENTIALS,
        credential_frame(
            user=account.user,
            kind=kind,
            seq=account.next_seq,
            actor=run.actor,
            at=run.now(),
            run_id=run.run_id,
            secret_hash=secret_hash,
        ),
    )
    return Credentials(
        user=account.user, events=account.events, password_hash=account.password_hash, next_seq=account.next_seq + 1
    )


@dataclass(frozen=True)
class AddedUser:
    user: str
    role: Role
    granted: bool  # False when the user already held the role


def add_user(ctx: Context, *, user: str, role: str, password: str, actor: str) -> AddedUser:
    """Give `user` a local account with `password` and grant `role`; admins only.

    Refused, with nothing written, if the password breaks the policy or the user already has a
    password (reset it with set_password instead).
    """
    require_user_name(user)
    parsed = parse_role(role)
    _check_password(password, user=user)
    with job_run(ctx, job="users_add", actor=actor) as run:
        policy = run.authorize(Action.MANAGE_ACCESS, object_type="user", object_id=user)
        account = credentials_of(ctx.store, user=user)
        if account.password_hash is not None:
            raise PolicyViolation(f"{user} already has a password; to reset it: mlgov users passwd {user}")
        granted = parsed not in policy.roles_of(user)
        # The password is written before the grant: should the grant fail, the account exists
        # without roles, and an account without roles cannot sign in.
        _record(run, account, CredentialEventKind.PASSWORD_SET, secret_hash=hash_password(password))
        if granted:

            def grant(version: int | None) -> list[Change]:
                authorize(access_policy(ctx.ledger, version=version), user=actor, action=Action.MANAGE_ACCESS)
                if parsed in access_policy(ctx.ledger, version=version).roles_of(user):
                    return []
                return [
                    grant_change(
                        run, user=user, role=parsed, change=GrantChange.GRANT, reason="new user", version=version
                    )
                ]

            run.govern(grant, refused=Refused(Action.MANAGE_ACCESS, "user", user))
        run.audit(action=AuditAction.ADD_USER, object_type="user", object_id=user, details={"role": parsed.value})
    return AddedUser(user=user, role=parsed, granted=granted)


@dataclass(frozen=True)
class PasswordChange:
    user: str
    reset_by_admin: bool


def set_password(
    ctx: Context, *, user: str, password: str, actor: str, current_password: str | None = None
) -> PasswordChange:
    """Set a new password for `user`.

    Users change their own by giving the current one, which is checked like a sign-in (so wrong
    guesses count towards a lockout). Admins reset anyone else's without it; a reset also ends a
    lockout. The user must exist: hold a role or a password.
    """
    require_user_name(user)
    _check_password(password, user=user)
    with job_run(ctx, job="users_passwd", actor=actor) as run:
        own = actor == user
        if own:
            if current_password is None:
                raise InputError("changing your own password needs your current password")
            _verify(run, user=user, password=current_password)
            with run.refusals_audited(AuditAction.SET_PASSWORD, object_type="user", object_id=user):
                require_enabled_actor(access_policy(ctx.ledger), user=user)
        else:
            run.authorize(Action.MANAGE_ACCESS, object_type="user", object_id=user)
        account = credentials_of(ctx.store, user=user)
        if account.password_hash is None and not access_policy(ctx.ledger).knows(user):
            raise NotFoundError(f"no user {user!r}: add one with mlgov users add {user} --role ROLE")
        _record(run, account, CredentialEventKind.PASSWORD_SET, secret_hash=hash_password(password))
        run.audit(
            action=AuditAction.SET_PASSWORD,
            object_type="user",
            object_id=user,
            reason="changed by the user" if own else "reset by an admin",
        )
    return PasswordChange(user=user, reset_by_admin=not own)


def authenticate(ctx: Context, *, user: str, password: str) -> SignedIn:
    """Check a password and return the signed-in identity with its roles.

    Raises PermissionDenied with one message for an unknown user, a user without a password and
    a wrong password alike; with a distinct one while the account is locked; and when the user
    holds no roles. Every failure is recorded and audited; the failure that reaches the lockout
    threshold also locks the account. A successful sign-in replaces a hash in an older scheme or
    with older costs by a current one (see _upgrade_hash).
    """
    if user_name_problem(user):
        with job_run(ctx, job="login", actor=INVALID_NAME_ACTOR) as run:
            run.audit(
                action=AuditAction.LOGIN,
                object_type="user",
                object_id="",
                outcome=AuditOutcome.REFUSED,
                reason="invalid user name",
            )
            raise PermissionDenied(GENERIC_LOGIN_FAILURE)
    require_migrated(ctx)
    with job_run(ctx, job="login", actor=user) as run:
        account = _verify(run, user=user, password=password)
        with run.refusals_audited(AuditAction.LOGIN, object_type="user", object_id=user):
            identity = signed_in(access_policy(ctx.ledger), user=user)
        _record(run, account, CredentialEventKind.LOGIN_SUCCEEDED)
        run.audit(
            action=AuditAction.LOGIN,
            object_type="user",
            object_id=user,
            details={"method": "password", "roles": sorted(r.value for r in identity.roles)},
        )
        _upgrade_hash(run, account, password=password)
    return identity


def _upgrade_hash(run: JobRun, account: Credentials, *, password: str) -> None:
    """Rehash a password just verified if its stored hash is scrypt or has outdated Argon2id costs.

    The password is only known at sign-in, so this is when old hashes are upgraded. A new
    password_set row is appended (rows are never updated) and audited as a password change by the
    user, naming the schemes and costs only. Skipped if the credentials changed since they were
    read, so a concurrent reset is never undone; the next sign-in tries again.
    """
    old = account.password_hash
    if old is None or not needs_rehash(old):
        return
    new = hash_password(password)
    written = append_rehash(
        run.ctx.store, user=account.user, verified_hash=old, new_hash=new, at=run.now(), commit=run.commit
    )
    if written is None:
        return
    run.rows += written.rows
    run.bytes_written += written.bytes_written
    run.audit(
        action=AuditAction.SET_PASSWORD,
        object_type="user",
        object_id=account.user,
        reason="rehashed at sign-in",
        details={"from": describe_hash(old), "to": describe_hash(new)},
    )


def _verify(run: JobRun, *, user: str, password: str) -> Credentials:
    """The account, once `password` is its password; otherwise the failure is recorded and raised."""
    account = credentials_of(run.ctx.store, user=user)
    now = run.now()
    gate = login_gate(account.events, now=now, policy=LOCKOUT)
    if gate.locked_until is not None:
        message = locked_message(gate.locked_until)
        _record(run, account, CredentialEventKind.LOGIN_FAILED)
        run.audit(
            action=AuditAction.LOGIN, object_type="user", object_id=user, outcome=AuditOutcome.REFUSED, reason=message
        )
        raise PermissionDenied(message)
    if verify_password(password, account.password_hash):
        return account
    # Callers hear one message; auditors read which of the three it was.
    if account.password_hash is not None:
        reason = "wrong password"
    elif access_policy(run.ctx.ledger).knows(user):
        reason = "user has no password"
    else:
        reason = "unknown user"
    account = _record(run, account, CredentialEventKind.LOGIN_FAILED)
    run.audit(
        action=AuditAction.LOGIN,
        object_type="user",
        object_id=user,
        outcome=AuditOutcome.REFUSED,
        reason=reason,
        details={"recent_failures": gate.failures + 1},
    )
    if gate.lock_after_failure is not None:
        # Unknown names lock too, so lockout behaviour does not tell which accounts exist.
        _record(run, account, CredentialEventKind.LOCKED)
        run.audit(
            action=AuditAction.LOCK_ACCOUNT,
            object_type="user",
            object_id=user,
            reason=f"{LOCKOUT.max_failures} failed sign-ins within {LOCKOUT.window.total_seconds() / 60:.0f} minutes",
            details={"locked_until": f"{gate.lock_after_failure:%Y-%m-%dT%H:%M:%SZ}"},
        )
    raise PermissionDenied(GENERIC_LOGIN_FAILURE)


def sign_in_external(ctx: Context, *, user: str, provider: str) -> SignedIn:
    """The identity of a user whom an outside provider (OIDC single sign-on) has authenticated.

    Roles come from the same access policy as for local accounts; a user with none is refused.
    The sign-in is audited either way.
    """
    require_user_name(user)
    require_migrated(ctx)
    with job_run(ctx, job="login", actor=user) as run:
        with run.refusals_audited(AuditAction.LOGIN, object_type="user", object_id=user, details={"method": provider}):
            identity = signed_in(access_policy(ctx.ledger), user=user)
        # recorded like a password sign-in, so the Access page shows when this user last signed in
        _record(run, credentials_of(ctx.store, user=user), CredentialEventKind.LOGIN_SUCCEEDED)
        run.audit(
            action=AuditAction.LOGIN,
            object_type="user",
            object_id=user,
            details={"method": provider, "roles": sorted(r.value for r in identity.roles)},
        )
    return identity


@dataclass(frozen=True)
class Unlocked:
    user: str
    changed: bool  # False when the account was neither locked nor had failures to forgive


def unlock_user(ctx: Context, *, user: str, actor: str) -> Unlocked:
    """End a lockout and forget recent failures; admins only."""
    require_user_name(user)
    with job_run(ctx, job="users_unlock", actor=actor) as run:
        policy = run.authorize(Action.MANAGE_ACCESS, object_type="user", object_id=user)
        account = credentials_of(ctx.store, user=user)
        if not account.events and not policy.knows(user):
            raise NotFoundError(f"no user {user!r}")
        gate = login_gate(account.events, now=run.now(), policy=LOCKOUT)
        if gate.allowed and gate.failures == 0:
            return Unlocked(user=user, changed=False)
        _record(run, account, CredentialEventKind.UNLOCKED)
        run.audit(
            action=AuditAction.UNLOCK_ACCOUNT,
            object_type="user",
            object_id=user,
            details={"was_locked": not gate.allowed, "recent_failures": gate.failures},
        )
    return Unlocked(user=user, changed=True)


@dataclass(frozen=True)
class AccountStatusChange:
    user: str
    disabled: bool  # the account's state after the change
    changed: bool  # False when it already was in that state


def change_account_status(
    ctx: Context, *, user: str, change: AccountChange, actor: str, reason: str = ""
) -> AccountStatusChange:
    """Disable `user` (no sign-in; their sessions stop on the next request) or enable them again.

    Decided in governance.accounts on the access policy and the disabled users as the audit chain holds
    them at the commit, so two admins disabling each other at once cannot leave no active admin.
    Disabling needs a reason. Audited either way, refusals included.
    """
    require_user_name(user)
    if change is AccountChange.DISABLE and not reason.strip():
        raise InputError(f"disabling {user} needs a reason: say why (it is kept in the audit trail)")
    with job_run(ctx, job=f"users_{change.value}", actor=actor) as run:
        policy = run.authorize(Action.MANAGE_ACCESS, object_type="user", object_id=user)
        if not policy.knows(user) and credentials_of(ctx.store, user=user).password_hash is None:
            raise NotFoundError(f"no user {user!r}")
        changed = False

        def decide(version: int | None) -> list[Change]:
            nonlocal changed
            changed = decide_account_change(
                access_policy(ctx.ledger, version=version),
                disabled=disabled_users(ctx.ledger, version=version),
                actor=actor,
                user=user,
                change=change,
            )
            if not changed:
                return []
            rows = account_status_frame(
                user=user,
                change=change,
                ledger=ctx.ledger,
                version=version,
                actor=actor,
                reason=reason.strip(),
                at=run.now(),
                run_id=run.run_id,
            )
            action = AuditAction.DISABLE_USER if change is AccountChange.DISABLE else AuditAction.ENABLE_USER
            return [
                Change(
                    action=action,
                    object_type="user",
                    object_id=user,
                    reason=reason.strip(),
                    rows={ACCOUNT_STATUS: rows},
                )
            ]

        run.govern(decide, refused=Refused(Action.MANAGE_ACCESS, "user", user))
    return AccountStatusChange(user=user, disabled=change is AccountChange.DISABLE, changed=changed)


@dataclass(frozen=True)
class UserSummary:
    """What an admin sees of an account: never a hash."""

    user: str
    roles: tuple[str, ...]
    has_password: bool
    locked_until: datetime | None
    last_sign_in: datetime | None = None  # None: never signed in (or not since sign-ins were recorded)
    disabled: bool = False


def list_users(ctx: Context) -> list[UserSummary]:
    """Every user who holds a role or a password, by name."""
    policy = access_policy(ctx.ledger)
    histories = credential_histories(ctx.store)
    disabled = disabled_users(ctx.ledger)
    now = ctx.clock()
    names = set(policy.grants) | {u for u, events in histories.items() if has_password(events)} | disabled
    summaries = []
    for name in sorted(names):
        events = histories.get(name, ())
        summaries.append(
            UserSummary(
                user=name,
                roles=tuple(sorted(r.value for r in policy.roles_of(name))),
                has_password=has_password(events),
                locked_until=login_gate(events, now=now, policy=LOCKOUT).locked_until,
                last_sign_in=last_sign_in(events),
                disabled=name in disabled,
            )
        )
    return summaries
