"""Disabled and re-enabled accounts to and from governance/account_status, as the audit chain carries them."""

from __future__ import annotations

from datetime import datetime

import polars as pl

from governance.accounts import AccountChange, AccountEvent, fold_disabled
from lakehouse.ledger import Ledger
from lakehouse.schemas import ACCOUNT_STATUS, SCHEMAS


def disabled_users(ledger: Ledger, *, version: int | None = None) -> frozenset[str]:
    """The users disabled now (or at audit `version`); none on a lakehouse that never disabled anyone."""
    return ledger.derived(disabled_in, ACCOUNT_STATUS, version=version)


def disabled_in(account_status: pl.DataFrame) -> frozenset[str]:
    """The users the rows of governance/account_status leave disabled."""
    return fold_disabled(
        AccountEvent(user=row["user"], change=AccountChange(row["change"]))
        for row in account_status.select("user", "change").iter_rows(named=True)
    )


def account_status_frame(
    *,
    user: str,
    change: AccountChange,
    ledger: Ledger,
    version: int | None,
    actor: str,
    reason: str,
    at: datetime,
    run_id: str,
) -> pl.DataFrame:
    """The row recording `change` to `user`'s account, numbered after the chain's last one (at audit `version`)."""
    return pl.DataFrame(
        [
            {
                "seq": ledger.table(ACCOUNT_STATUS, version=version).height + 1,
                "user": user,
                "change": change.value,
                "actor": actor,
                "reason": reason,
                "at": at,
                "run_id": run_id,
            }
        ],
        schema={k: v for k, v in SCHEMAS[ACCOUNT_STATUS].items() if k != "audit_seq"},
    )
