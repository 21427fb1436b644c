from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from datetime import date
from pathlib import Path

import polars as pl
import pytest
from deltalake import write_deltalake
from streamlit.testing.v1 import AppTest

from app.text import plain
from governance.errors import PermissionDenied
from governance.roles import Role
from lakehouse.schemas import AUDIT
from pipelines.jobs.evidence import export_evidence
from pipelines.jobs.promote import force_promotion
from pipelines.reads.audit import AuditFilter, audit_csv, audit_frame, audit_json, filter_audit
from tests.app.conftest import metric, open_app
from tests.conftest import ADMIN, AUDITOR, MAKER, START, Seeded, context_for, train_loan_model

PAGE = "views/audit.py"


def records_table(at: AppTest) -> pl.DataFrame:
    return pl.from_pandas(at.dataframe[-1].value)


def verify(at: AppTest) -> AppTest:
    return at.button(key="audit.verify.run").click().run()


def tamper_reason(home: Path, *, seq: int, reason: str) -> None:
    """An attacker with storage access rewrites the whole audit table with one reason edited."""
    store = context_for(home).store
    path = store.path(AUDIT)
    edited = (
        store.read(AUDIT)
        .sort("seq")
        .with_columns(pl.when(pl.col("seq") == seq).then(pl.lit(reason)).otherwise(pl.col("reason")).alias("reason"))
    )
    shutil.rmtree(path)
    write_deltalake(str(path), edited.to_arrow())


@pytest.mark.parametrize(("user", "role"), [(AUDITOR, Role.AUDITOR), (ADMIN, Role.ADMIN)])
def test_auditor_and_admin_see_every_record_newest_first_and_verify_it_intact(
    seeded: Seeded, serve_home: Callable[[Path], None], user: str, role: Role
) -> None:
    serve_home(seeded.home)
    stored = context_for(seeded.home).audit.records()

    at = open_app(user, role, page=PAGE)

    assert not at.exception
    assert not at.error
    assert at.title[0].value == "Audit trail"
    table = records_table(at)
    assert table["seq"].to_list() == [r.seq for r in reversed(stored)]
    assert {"seq", "at", "actor", "action", "object", "outcome", "reason"} <= set(table.columns)
    newest = table.row(0, named=True)
    assert newest["action"] == stored[-1].entry.action
    assert newest["object"] == f"{stored[-1].entry.object_type} {stored[-1].entry.object_id}"
    assert metric(at, "Records shown") == str(len(stored))
    assert metric(at, "Refusals") == "0"
    assert [b.key for b in at.download_button] == ["audit.download_csv", "audit.download_json"]
    assert not at.success  # nothing verified before the button is pressed

    at = verify(at)

    assert not at.exception
    assert len(at.success) == 1
    assert "Audit chain intact" in at.success[0].value
    assert f"{len(stored)} records" in at.success[0].value
    assert not at.error
    assert at.status[0].label == f"Verified {len(stored)} records"
    assert at.status[0].state == "complete"


def test_a_tampered_record_is_named_with_its_problem_and_shown_as_storage_holds_it(
    seeded: Seeded, serve_home: Callable[[Path], None]
) -> None:
    hostile = "**nothing** to [see](http://x) <b>here</b>"
    tamper_reason(seeded.home, seq=5, reason=hostile)
    serve_home(seeded.home)

    at = verify(open_app(AUDITOR, Role.AUDITOR, page=PAGE))

    assert not at.exception
    assert not at.success
    assert len(at.error) == 1
    message = at.error[0].value
    assert "BROKEN at record 5" in message
    assert plain("record 5 was altered: its content does not match its hash") in message
    assert len(message.splitlines()) == 1
    bad = at.dataframe[0].value  # the bad record, above the full table
    assert bad["seq"].tolist() == [5]
    assert bad["reason"].tolist() == [hostile]  # a dataframe shows it as text
    assert records_table(at).filter(pl.col("seq") == 5)["reason"].to_list() == [hostile]


def test_filters_narrow_the_records_and_exports_hold_what_is_shown(
    seeded: Seeded, serve_home: Callable[[Path], None]
) -> None:
    serve_home(seeded.home)
    stored = context_for(seeded.home).audit.records()
    by_maya = [r.seq for r in stored if r.entry.actor == MAKER]

    at = open_app(AUDITOR, Role.AUDITOR, page=PAGE)
    at.multiselect(key="audit.actors").set_value([MAKER]).run()

    assert not at.exception
    assert sorted(records_table(at)["seq"].to_list()) == by_maya
    assert set(records_table(at)["actor"]) == {MAKER}

    at.multiselect(key="audit.actions").set_value(["ingest"]).run()
    at.text_input(key="audit.object").set_value("LOANS").run()
    assert records_table(at)["object"].to_list() == ["table raw/loans@0"]
    assert metric(at, "Records shown") == "1"

    at.multiselect(key="audit.actors").set_value([]).run()
    at.multiselect(key="audit.actions").set_value([]).run()
    at.text_input(key="audit.object").set_value("").run()
    assert records_table(at).height == len(stored)  # no day range picked: every day
    at.date_input(key="audit.days").set_value((date(2020, 1, 1), date(2020, 1, 2))).run()
    assert records_table(at).height == 0
    at.date_input(key="audit.days").set_value((START.date(), START.date())).run()
    assert records_table(at).height == len(stored)  # the seeded clock stamps every record on START's day
    assert not at.exception


def test_refusals_and_break_glass_are_flagged_and_can_be_shown_alone(
    seeded: Seeded, serve_home: Callable[[Path], None]
) -> None:
    ctx = context_for(seeded.home)
    with pytest.raises(PermissionDenied):
        export_evidence(ctx, model="loan_default", version="1", out=seeded.home / "pack.zip", actor=MAKER)
    v2 = train_loan_model(ctx, seeded.dataset).version
    force_promotion(ctx, model="loan_default", version=v2, reason="outage: v1 scores are wrong, fix now", actor=ADMIN)
    serve_home(seeded.home)

    at = open_app(AUDITOR, Role.AUDITOR, page=PAGE)

    assert not at.exception
    assert metric(at, "Refusals") == "1"
    assert metric(at, "Break-glass") == "1"
    assert any(plain("1 break-glass actions") in w.value for w in at.warning)
    table = records_table(at)
    flagged = table.filter(pl.col("flag") != "")
    assert sorted(flagged["flag"].to_list()) == ["⛔ refused", "🚨 break-glass"]
    assert set(flagged["action"]) == {"export_evidence", "break_glass_promotion"}
    styles = at.dataframe[-1].proto.arrow_data.styler.styles
    assert "background-color" in styles  # flagged rows are tinted

    at.toggle(key="audit.flagged").set_value(True).run()
    assert records_table(at)["action"].to_list() == ["break_glass_promotion", "export_evidence"]


def test_exports_are_the_filtered_records_with_their_canonical_fields(seeded: Seeded) -> None:
    frame = audit_frame(context_for(seeded.home))
    grants = filter_audit(frame, where=AuditFilter(actions=("grant_role",), object_text="aiko"))
    assert grants["object"].to_list() == ["user aiko"]

    rows = json.loads(audit_json(grants))
    assert len(rows) == 1
    assert rows[0]["actor"] == ADMIN
    assert rows[0]["at"].endswith("Z")
    assert set(rows[0]) >= {"seq", "at", "actor", "action", "object_type", "object_id", "outcome", "reason"}
    csv = pl.read_csv(audit_csv(grants).encode())
    assert csv["seq"].to_list() == grants["seq"].to_list()
    assert csv["object_id"].to_list() == ["aiko"]


def test_a_long_trail_lists_its_newest_records_and_says_how_many_match(
    seeded: Seeded, serve_home: Callable[[Path], None]
) -> None:
    store = context_for(seeded.home).store
    stored = store.read(AUDIT).sort("seq")
    copies = 12_000 // stored.height + 1
    long_trail = pl.concat([stored] * copies).with_columns(seq=pl.int_range(1, stored.height * copies + 1))
    path = store.path(AUDIT)
    shutil.rmtree(path)
    write_deltalake(str(path), long_trail.to_arrow())
    serve_home(seeded.home)

    at = open_app(AUDITOR, Role.AUDITOR, page=PAGE)

    assert not at.exception
    table = records_table(at)
    assert table.height == 10_000
    assert table["seq"].to_list() == list(range(long_trail.height, long_trail.height - 10_000, -1))
    assert metric(at, "Records shown") == f"{long_trail.height:,}"
    assert any(f"The newest 10,000 of {long_trail.height:,} matching records" in c.value for c in at.caption)


def test_filtering_by_a_model_finds_its_approvals_whose_object_is_the_request(seeded: Seeded) -> None:
    frame = audit_frame(context_for(seeded.home))

    found = filter_audit(frame, where=AuditFilter(actions=("approve",), object_text="LOAN_default"))

    assert found.height == 2  # the seeded request's two approvals
    assert set(found["object"]) == {f"promotion_request {seeded.request_id}"}
    assert filter_audit(frame, where=AuditFilter(actions=("approve",), object_text="churn")).is_empty()
