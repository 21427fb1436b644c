"""Auditors seal the audit chain from the app, as `mlgov audit seal` does, and see the key's fingerprint."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from governance.roles import Role
from pipelines.context import build_context
from tests.app.conftest import open_app
from tests.conftest import Seeded

PAGE = "views/audit.py"


@pytest.fixture
def keyed(seeded: Seeded, serve_home: Callable[[Path], None], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """The seeded lakehouse served with an audit key; returns the key's fingerprint."""
    serve_home(seeded.home)
    monkeypatch.setenv("MLGOV_AUDIT_KEY", str(tmp_path / "audit_ed25519.pem"))
    ctx = build_context({"MLGOV_HOME": str(seeded.home), "MLGOV_AUDIT_KEY": str(tmp_path / "audit_ed25519.pem")})
    return ctx.audit.seals.create_key().fingerprint


def test_an_auditor_seals_the_chain_and_sees_the_key_fingerprint(keyed: str, seeded: Seeded) -> None:
    at = open_app("aiko", Role.AUDITOR, page=PAGE)
    assert f"Audit key fingerprint: {keyed}" in [t.value for t in at.text]

    at.button(key="audit.seal.run").click().run()

    assert not at.exception
    (done,) = [s.value.replace("\\", "") for s in at.success]
    assert done.startswith("Sealed record ")
    assert done.endswith(f"signed by the key {keyed}.")
    ctx = build_context({"MLGOV_HOME": str(seeded.home)})
    assert len(ctx.audit.seals.read()) == 1  # the seal the CLI would have written


def test_an_admin_sees_the_fingerprint_but_does_not_seal(keyed: str) -> None:
    at = open_app("ada", Role.ADMIN, page=PAGE)

    assert f"Audit key fingerprint: {keyed}" in [t.value for t in at.text]
    assert not [b for b in at.button if b.key == "audit.seal.run"]


def test_without_a_published_key_the_page_says_how_to_make_one(
    seeded: Seeded, serve_home: Callable[[Path], None]
) -> None:
    serve_home(seeded.home)
    at = open_app("aiko", Role.AUDITOR, page=PAGE)

    assert any("mlgov audit keygen" in c.value for c in at.caption)
    assert not [b for b in at.button if b.key == "audit.seal.run"]
