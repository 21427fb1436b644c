"""A seeded lakehouse with a pending promotion request, and passwords for the seeded users.

Shared by the Approvals and Models AppTests and the review-flow browser test. Training a candidate
and computing its evidence costs seconds, so callers build it once and copy it.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path

import pytest

from pipelines.jobs.promote import request_promotion
from pipelines.jobs.users import add_user, set_password
from tests.conftest import (
    ADMIN,
    ANALYST,
    AUDITOR,
    MAKER,
    REVIEWER_A,
    REVIEWER_B,
    START,
    FixedClock,
    Seeded,
    context_for,
    train_loan_model,
)

REQUEST_REASON = "retrained on **fresh** data"  # Markdown, to check it is shown as typed
# Passwords that pass the policy (12+ characters, not containing the user name).
PASSWORDS = {
    user: f"Tr0ub4dor-{i}-horse" for i, user in enumerate((ADMIN, MAKER, REVIEWER_A, REVIEWER_B, AUDITOR, ANALYST))
}


@dataclass(frozen=True)
class Pending:
    """`seeded` plus version 2 of loan_default, trained by maya and put forward for champion."""

    home: Path
    request_id: str
    version: str


def add_pending_request(seeded: Seeded) -> Pending:
    """Train a second LOGREG version on the same data (so the metric gate passes) and request its promotion."""
    ctx = context_for(seeded.home, clock=FixedClock(START + timedelta(days=1)))
    trained = train_loan_model(ctx, seeded.dataset)
    request = request_promotion(ctx, model="loan_default", version=trained.version, reason=REQUEST_REASON, actor=MAKER)
    return Pending(home=seeded.home, request_id=request.request_id, version=trained.version)


_TEMPLATES: dict[Path, Pending] = {}


def pending_template(seeded_template: Seeded, tmp_path_factory: pytest.TempPathFactory) -> Pending:
    """This process's one lakehouse with a pending request, built on first use; copy it before writing."""
    if seeded_template.home not in _TEMPLATES:
        home = tmp_path_factory.mktemp("pending") / "home"
        shutil.copytree(seeded_template.home, home)
        _TEMPLATES[seeded_template.home] = add_pending_request(replace(seeded_template, home=home))
    return _TEMPLATES[seeded_template.home]


def copy_pending(template: Pending, home: Path) -> Pending:
    shutil.copytree(template.home, home)
    return Pending(home=home, request_id=template.request_id, version=template.version)


def give_passwords(home: Path) -> dict[str, str]:
    """Passwords for every seeded user (ada first, who then resets the others'); returns them."""
    ctx = context_for(home)
    add_user(ctx, user=ADMIN, role="admin", password=PASSWORDS[ADMIN], actor=ADMIN)
    for user, password in PASSWORDS.items():
        if user != ADMIN:
            set_password(ctx, user=user, password=password, actor=ADMIN)
    return dict(PASSWORDS)
