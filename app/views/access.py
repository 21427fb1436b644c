import streamlit as st

from app import components, page, queries, services
from app.components import Outcome, Tone
from app.text import plain
from governance.accounts import AccountChange
from governance.errors import MlgovError
from governance.roles import GrantChange, Role
from governance.screens import Screen
from pipelines.jobs.access import change_role
from pipelines.jobs.users import add_user, change_account_status, set_password, unlock_user

OUTCOME_KEY = "access.outcome"
ROLES = [role.value for role in Role]

visit = page.start(
    Screen.ACCESS,
    title="Access",
    caption="Who may sign in and what their roles let them do. Every change is checked and audited by the platform; "
    "passwords are stored only as salted hashes and never shown.",
    outcome_key=OUTCOME_KEY,
)
admin, home = visit.user, visit.home
with page.reading():
    accounts = queries.user_accounts(home)


def done(message: str, *, tone: Tone = Tone.SUCCESS) -> None:
    queries.forget_governance_reads()
    components.announce(Outcome(tone, message), key=OUTCOME_KEY)
    st.rerun()


st.subheader(f"Users · {len(accounts)}")
st.dataframe(
    [
        {
            "user": a.user,
            "roles": ", ".join(a.roles) or "(none)",
            "status": "disabled" if a.disabled else "active",
            "last_sign_in": a.last_sign_in,
            "has_password": a.has_password,
            "locked_until": a.locked_until,
        }
        for a in accounts
    ],
    hide_index=True,
    width="stretch",
    column_config={
        "user": st.column_config.TextColumn("User"),
        "roles": st.column_config.TextColumn("Roles"),
        "status": st.column_config.TextColumn("Status", help="A disabled user cannot sign in; their roles are kept"),
        "last_sign_in": st.column_config.DatetimeColumn(
            "Last sign-in", format="YYYY-MM-DD HH:mm z", help="Empty: never signed in"
        ),
        "has_password": st.column_config.CheckboxColumn("Has password", help="Without one, only single sign-on"),
        "locked_until": st.column_config.DatetimeColumn("Locked until", format="YYYY-MM-DD HH:mm z"),
    },
)
names = [a.user for a in accounts]
ctx = services.get_context()
left, right = st.columns(2, gap="medium")

with left, st.form("access.roles", clear_on_submit=True):
    st.markdown("**Grant or revoke a role**")
    # nobody preselected: a change to the wrong account is worse than one more click
    user = st.selectbox("User", names, index=None, placeholder="Choose a user", key="access.roles.user")
    role = st.selectbox("Role", ROLES, key="access.roles.role")
    change = st.radio("Change", [c.value for c in GrantChange], horizontal=True, key="access.roles.change")
    reason = st.text_input("Reason (required, kept in the audit trail)", key="access.roles.reason")
    if st.form_submit_button("Apply", type="primary", key="access.roles.apply"):
        if user is None:
            st.error("Choose the user whose role changes.")
        elif not reason.strip():
            st.error("A reason is required: say why this role changes.")
        else:
            try:
                granted = change_role(
                    ctx, user=user, role=role, change=GrantChange(change), actor=admin.user, reason=reason.strip()
                )
            except MlgovError as error:
                st.error(plain(str(error)))
            else:
                verb = "granted to" if granted.change is GrantChange.GRANT else "revoked from"
                if granted.changed:
                    done(f"{granted.role.value} {verb} {granted.user}.")
                else:
                    done(f"Nothing changed: {granted.role.value} already {verb} {granted.user}.", tone=Tone.INFO)

with right, st.form("access.add", clear_on_submit=True):
    st.markdown("**Add a user**")
    new_user = st.text_input("User name", key="access.add.user")
    new_role = st.selectbox("Role", ROLES, key="access.add.role")
    first = st.text_input("Initial password", type="password", key="access.add.password")
    again = st.text_input("Initial password, again", type="password", key="access.add.confirm")
    if st.form_submit_button("Add user", type="primary", key="access.add.submit"):
        if first != again:
            st.error("The two passwords differ: type the same password twice.")
        else:
            try:
                with st.spinner("Hashing the password and adding the user…"):
                    added = add_user(ctx, user=new_user.strip(), role=new_role, password=first, actor=admin.user)
            except MlgovError as error:
                st.error(plain(str(error)))
            else:
                done(
                    f"Added {added.user} as {added.role.value}. "
                    "Hand them the password in person: it is not shown again."
                )

left, right = st.columns(2, gap="medium")

with left, st.form("access.password", clear_on_submit=True):
    st.markdown("**Reset a password**")
    reset_user = st.selectbox("User", names, index=None, placeholder="Choose a user", key="access.password.user")
    password = st.text_input("New password", type="password", key="access.password.new")
    confirm = st.text_input("New password, again", type="password", key="access.password.confirm")
    if st.form_submit_button("Reset password", key="access.password.submit"):
        if reset_user is None:
            st.error("Choose the user whose password is reset.")
        elif password != confirm:
            st.error("The two passwords differ: type the same password twice.")
        else:
            try:
                with st.spinner("Hashing the new password…"):
                    set_password(ctx, user=reset_user, password=password, actor=admin.user)
            except MlgovError as error:
                st.error(plain(str(error)))
            else:
                done(f"Password of {reset_user} reset; any lockout has ended.")

with right, st.form("access.unlock"):
    st.markdown("**Unlock an account**")
    locked = [a.user for a in accounts if a.locked_until is not None]
    st.caption(plain(f"Locked now: {', '.join(locked)}") if locked else "No account is locked now.")
    unlock = st.selectbox(
        "User",
        locked + [n for n in names if n not in locked],
        index=0 if locked else None,  # the first locked account, else nobody
        placeholder="Choose a user",
        key="access.unlock.user",
    )
    if st.form_submit_button("Unlock", key="access.unlock.submit") and unlock is not None:
        try:
            unlocked = unlock_user(ctx, user=unlock, actor=admin.user)
        except MlgovError as error:
            st.error(plain(str(error)))
        else:
            if unlocked.changed:
                done(f"Unlocked {unlock}: recent failed sign-ins are forgotten.")
            else:
                done(f"{unlock} was not locked and had no failed sign-ins: nothing to unlock.", tone=Tone.INFO)

st.markdown("**Disable or enable an account**")
with st.form("access.status"):
    st.caption(
        "A disabled user cannot sign in, and a session they already have stops on its next page. Their roles "
        "are kept for when an admin enables the account again. You cannot disable yourself or the last active admin."
    )
    disabled_names = [a.user for a in accounts if a.disabled]
    status_user = st.selectbox("User", names, index=None, placeholder="Choose a user", key="access.status.user")
    status_reason = st.text_input("Reason (required to disable, kept in the audit trail)", key="access.status.reason")
    disable_column, enable_column = st.columns(2)
    disable_pressed = disable_column.form_submit_button("Disable", key="access.status.disable")
    enable_pressed = enable_column.form_submit_button("Enable", key="access.status.enable")
    if disable_pressed or enable_pressed:
        change = AccountChange.DISABLE if disable_pressed else AccountChange.ENABLE
        if status_user is None:
            st.error("Choose the user whose account changes.")
        elif change is AccountChange.DISABLE and not status_reason.strip():
            st.error("A reason is required: say why this account is disabled.")
        else:
            try:
                result = change_account_status(
                    ctx, user=status_user, change=change, actor=admin.user, reason=status_reason.strip()
                )
            except MlgovError as error:
                st.error(plain(str(error)))
            else:
                state = "disabled" if result.disabled else "enabled"
                if result.changed:
                    done(f"{result.user} is {state}.")
                else:
                    done(f"Nothing changed: {result.user} already is {state}.", tone=Tone.INFO)
    if disabled_names:
        st.caption(plain(f"Disabled now: {', '.join(disabled_names)}"))
