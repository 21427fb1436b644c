"""Signed seals of the audit chain on real Delta tables and real Ed25519 keys, and every tamper case verify names."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import stat
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from deltalake import DeltaTable, write_deltalake

from governance.audit.canonical import canonical_json
from governance.audit.chain import GENESIS_HASH, record_hash
from governance.audit.seals import checkpoint_digest, parse_checkpoint
from governance.errors import InputError, MlgovError, PolicyViolation
from lakehouse.audit.log import AuditLog
from lakehouse.delta import DeltaStore
from lakehouse.seals import PUBLIC_KEY_NAME, SealStore
from lakehouse.settings import load_settings
from lakehouse.storage import Storage
from tests.lakehouse.test_audit_log import COMMIT, T0, audit_path, entry, rewrite_audit_table


def make_log(tmp_path: Path, *, key: Path | None = None, seals: Path | None = None) -> AuditLog:
    store = SealStore(seals or tmp_path / "seals", key_path=key or tmp_path / "keys" / "audit.pem")
    return AuditLog(
        DeltaStore(Storage(tmp_path / "lakehouse")), lock_path=tmp_path / "locks" / "audit.lock", seals=store
    )


@pytest.fixture
def log(tmp_path: Path) -> AuditLog:
    return make_log(tmp_path)


@pytest.fixture
def keyed(log: AuditLog) -> AuditLog:
    log.seals.create_key()
    return log


def append(log: AuditLog, *numbers: int) -> None:
    for i in numbers:
        log.append(entry(i), commit=COMMIT)


def seal_files(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "seals").glob("seal-*.json"))


def data_file_holding(tmp_path: Path, seq: int) -> Path:
    actions = pl.DataFrame(DeltaTable(str(audit_path(tmp_path))).get_add_actions(flatten=True))
    row = actions.filter((pl.col("min.seq") <= seq) & (pl.col("max.seq") >= seq)).row(0, named=True)
    return audit_path(tmp_path) / row["path"]


# --- the key ---------------------------------------------------------------------------------------


def test_keygen_writes_a_private_key_only_its_owner_can_read_and_publishes_the_public_half(
    log: AuditLog, tmp_path: Path
) -> None:
    key = log.seals.create_key()

    private = tmp_path / "keys" / "audit.pem"
    assert key.path == private
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    loaded = serialization.load_pem_private_key(private.read_bytes(), password=None)
    assert isinstance(loaded, Ed25519PrivateKey)
    published = tmp_path / "seals" / PUBLIC_KEY_NAME
    assert published.read_text() == key.public_pem
    public = serialization.load_pem_public_key(published.read_bytes())
    assert isinstance(public, Ed25519PublicKey)
    raw = loaded.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw) == raw
    assert key.fingerprint.startswith("SHA256:")
    assert log.seals.published_fingerprint() == key.fingerprint


def test_keygen_refuses_to_replace_an_existing_key(keyed: AuditLog, tmp_path: Path) -> None:
    before = (tmp_path / "keys" / "audit.pem").read_bytes()
    with pytest.raises(InputError, match=r"an audit key already exists at .*audit\.pem"):
        keyed.seals.create_key()
    assert (tmp_path / "keys" / "audit.pem").read_bytes() == before


def test_keygen_refuses_a_new_key_beside_seals_signed_with_another(keyed: AuditLog, tmp_path: Path) -> None:
    append(keyed, 1)
    keyed.seal(at=T0)
    other = make_log(tmp_path, key=tmp_path / "other" / "key.pem")
    with pytest.raises(InputError, match=r"were signed with key SHA256:.*MLGOV_AUDIT_SEALS"):
        other.seals.create_key()
    assert not (tmp_path / "other" / "key.pem").exists()


def test_sealing_without_a_key_says_how_to_make_one(log: AuditLog, tmp_path: Path) -> None:
    append(log, 1)
    with pytest.raises(InputError) as raised:
        log.seal(at=T0)
    assert str(raised.value) == f"no audit key at {tmp_path / 'keys' / 'audit.pem'}: run mlgov audit keygen"
    assert seal_files(tmp_path) == []


def test_a_key_open_to_other_users_is_refused(keyed: AuditLog, tmp_path: Path) -> None:
    append(keyed, 1)
    key = tmp_path / "keys" / "audit.pem"
    key.chmod(0o644)
    with pytest.raises(InputError, match=re.escape(f"open to other users: run chmod 600 {key}")):
        keyed.seal(at=T0)


def test_a_file_that_is_not_a_key_is_refused(log: AuditLog, tmp_path: Path) -> None:
    append(log, 1)
    key = tmp_path / "keys" / "audit.pem"
    key.parent.mkdir()
    key.write_text("not a key")
    key.chmod(0o600)
    with pytest.raises(InputError, match="is not an unencrypted PEM private key"):
        log.seal(at=T0)


def test_sealing_an_empty_trail_is_refused(keyed: AuditLog) -> None:
    with pytest.raises(InputError, match="nothing to seal"):
        keyed.seal(at=T0)


# --- sealing and verifying -----------------------------------------------------------------------


def test_a_seal_signs_the_tip_and_verify_reports_the_unsealed_tail(keyed: AuditLog, tmp_path: Path) -> None:
    append(keyed, 1, 2, 3)
    seal = keyed.seal(at=T0)
    append(keyed, 4, 5)

    assert seal.name == "seal-000001.json"
    tip = keyed.records()[2]
    checkpoint = seal.checkpoint
    assert (checkpoint.index, checkpoint.seq, checkpoint.tip_hash) == (1, 3, tip.hash)
    assert checkpoint.delta_version == 2  # records 1, 2, 3 are versions 0, 1, 2
    assert checkpoint.table_id == str(DeltaTable(str(audit_path(tmp_path))).metadata().id)
    assert checkpoint.prev_seal == GENESIS_HASH
    assert checkpoint.sealed_at == T0

    verdict = keyed.verify()
    assert verdict.ok, verdict.problem
    assert (verdict.records, verdict.sealed_through, verdict.unsealed_records, verdict.seals) == (5, 3, 2, 1)


def test_a_seal_file_is_read_only_canonical_json_whose_signature_checks_with_the_published_key(
    keyed: AuditLog, tmp_path: Path
) -> None:
    append(keyed, 1, 2)
    keyed.seal(at=T0)

    (path,) = seal_files(tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o444
    text = path.read_text()
    document = json.loads(text)
    assert text == canonical_json(document) + "\n"
    payload = canonical_json(document["checkpoint"]).encode()
    public = serialization.load_pem_public_key((tmp_path / "seals" / PUBLIC_KEY_NAME).read_bytes())
    assert isinstance(public, Ed25519PublicKey)
    public.verify(base64.b64decode(document["signature"]), payload)  # raises if it does not check


def test_sealing_again_links_the_new_seal_to_the_last(keyed: AuditLog) -> None:
    append(keyed, 1, 2)
    first = keyed.seal(at=T0)
    append(keyed, 3)
    second = keyed.seal(at=T0)
    assert second.name == "seal-000002.json"
    assert second.checkpoint.prev_seal == checkpoint_digest(first.checkpoint)
    assert keyed.verify().sealed_through == 3


def test_seals_go_only_where_they_were_asked_to(keyed: AuditLog, tmp_path: Path) -> None:
    append(keyed, 1)
    keyed.seal(at=T0)
    assert not list((tmp_path / "lakehouse").rglob("seal-*.json"))
    assert {p.name for p in (tmp_path / "seals").iterdir()} == {PUBLIC_KEY_NAME, "seal-000001.json"}


def test_a_broken_trail_is_not_sealed(keyed: AuditLog, tmp_path: Path) -> None:
    append(keyed, 1, 2, 3)
    rewrite_audit_table(
        tmp_path, pl.when(pl.col("seq") == 2).then(pl.lit("edited")).otherwise(pl.col("reason")).alias("reason")
    )
    with pytest.raises(PolicyViolation, match="does not verify at record 2, so it is not sealed: record 2 was altered"):
        keyed.seal(at=T0)
    assert seal_files(tmp_path) == []


# --- every tamper case, named ----------------------------------------------------------------------


def test_an_edited_field_is_named(keyed: AuditLog, tmp_path: Path) -> None:
    append(keyed, 1, 2, 3, 4)
    keyed.seal(at=T0)
    rewrite_audit_table(
        tmp_path, pl.when(pl.col("seq") == 2).then(pl.lit("approved")).otherwise(pl.col("actor")).alias("actor")
    )
    verdict = keyed.verify()
    assert (verdict.ok, verdict.first_bad_seq) == (False, 2)
    assert verdict.problem == "record 2 was altered: its content does not match its hash"
    assert verdict.sealed_through is None  # the only seal covers record 2


def test_a_deleted_record_is_named(keyed: AuditLog, tmp_path: Path) -> None:
    append(keyed, 1, 2, 3, 4)
    rewrite_audit_table(tmp_path, drop_seq=3)
    verdict = keyed.verify()
    assert (verdict.ok, verdict.first_bad_seq) == (False, 3)
    assert verdict.problem == "record 3 is missing (next record found is 4)"


def test_reordered_records_are_named(keyed: AuditLog, tmp_path: Path) -> None:
    append(keyed, 1, 2, 3, 4)
    swapped = pl.when(pl.col("seq") == 2).then(3).when(pl.col("seq") == 3).then(2).otherwise(pl.col("seq"))
    rewrite_audit_table(tmp_path, swapped.cast(pl.Int64).alias("seq"))
    verdict = keyed.verify()
    assert (verdict.ok, verdict.first_bad_seq) == (False, 2)
    assert verdict.problem == "record 2 does not point at the hash of record 1"


def test_a_deleted_data_file_is_named_with_the_records_it_held(keyed: AuditLog, tmp_path: Path) -> None:
    append(keyed, 1, 2, 3, 4)
    gone = data_file_holding(tmp_path, 3)
    gone.unlink()

    verdict = keyed.verify()
    assert (verdict.ok, verdict.first_bad_seq, verdict.records) == (False, 3, 3)
    assert verdict.problem == f"record 3 cannot be read: data file {gone} is missing or unreadable"
    with pytest.raises(MlgovError, match=re.escape(f"audit data file {gone} cannot be read: run mlgov audit verify")):
        keyed.records()


def test_a_corrupt_data_file_is_named_too(keyed: AuditLog, tmp_path: Path) -> None:
    append(keyed, 1, 2, 3)
    broken = data_file_holding(tmp_path, 2)
    broken.write_bytes(b"not parquet")
    verdict = keyed.verify()
    assert verdict.first_bad_seq == 2
    assert f"data file {broken} is missing or unreadable" in (verdict.problem or "")


def test_a_rewritten_table_with_recomputed_hashes_is_caught_by_the_seals(keyed: AuditLog, tmp_path: Path) -> None:
    append(keyed, 1, 2)
    keyed.seal(at=T0)
    append(keyed, 3, 4, 5)
    keyed.seal(at=T0)

    # Someone with write access rebuilds the table: record 4 edited, every hash after it recomputed.
    records = keyed.records()
    frame = pl.read_delta(str(audit_path(tmp_path))).sort("seq")
    prev = records[2].hash
    hashes = [r.hash for r in records[:3]]
    for record in records[3:]:
        edited = record.entry if record.seq != 4 else type(record.entry)(**{**record.entry.__dict__, "reason": "fine"})
        prev = record_hash(seq=record.seq, entry=edited, prev_hash=prev)
        hashes.append(prev)
    forged = frame.with_columns(
        pl.when(pl.col("seq") == 4).then(pl.lit("fine")).otherwise(pl.col("reason")).alias("reason"),
        pl.Series("hash", hashes),
        pl.Series("prev_hash", [GENESIS_HASH, *hashes[:-1]]),
    )
    shutil.rmtree(audit_path(tmp_path))
    write_deltalake(str(audit_path(tmp_path)), forged.to_arrow())

    verdict = keyed.verify()
    assert verdict.ok is False
    assert verdict.first_bad_seq == 3  # seal 1 still vouches for records 1..2
    assert verdict.problem is not None
    assert verdict.problem.startswith(
        "records 3..5 were rewritten: record 5 no longer has the hash sealed by seal-000002.json"
    )
    assert "the audit table was recreated after seal seal-000001.json" in verdict.problem
    assert verdict.sealed_through == 2


def test_a_table_restored_from_an_older_copy_is_caught(keyed: AuditLog, tmp_path: Path) -> None:
    append(keyed, 1, 2, 3)
    backup = tmp_path / "backup"
    shutil.copytree(audit_path(tmp_path), backup)
    append(keyed, 4, 5)
    keyed.seal(at=T0)
    shutil.rmtree(audit_path(tmp_path))
    shutil.copytree(backup, audit_path(tmp_path))

    verdict = keyed.verify()
    assert (verdict.ok, verdict.first_bad_seq) == (False, 4)
    assert verdict.problem == (
        "records 4..5 are gone, though sealed by seal-000001.json; the audit table is at Delta version 2, "
        "before version 4 sealed by seal-000001.json: it was rolled back or rebuilt"
    )


def test_an_old_seal_copied_as_the_newest_is_named_as_a_replay(keyed: AuditLog, tmp_path: Path) -> None:
    append(keyed, 1, 2)
    keyed.seal(at=T0)
    append(keyed, 3)
    keyed.seal(at=T0)
    shutil.copy(tmp_path / "seals" / "seal-000001.json", tmp_path / "seals" / "seal-000003.json")

    verdict = keyed.verify()
    assert verdict.ok is False
    assert verdict.problem == "seal seal-000003.json is a replay of seal seal-000001.json"
    assert verdict.first_bad_seq is None  # it claims nothing the genuine seals do not already vouch for
    assert verdict.sealed_through == 3


def test_an_edited_seal_is_named(keyed: AuditLog, tmp_path: Path) -> None:
    append(keyed, 1, 2, 3)
    keyed.seal(at=T0)
    path = tmp_path / "seals" / "seal-000001.json"
    document = json.loads(path.read_text())
    document["checkpoint"]["seq"] = 2
    path.chmod(0o644)
    path.write_text(canonical_json(document) + "\n")

    verdict = keyed.verify()
    assert verdict.ok is False
    assert verdict.problem == "seal seal-000001.json has a signature that does not match: it was edited or forged"
    assert verdict.first_bad_seq == 1


def test_seals_resigned_with_a_swapped_public_key_are_not_trusted_by_the_key_holder(
    keyed: AuditLog, tmp_path: Path
) -> None:
    append(keyed, 1, 2)
    keyed.seal(at=T0)
    intruder = Ed25519PrivateKey.generate()
    path = tmp_path / "seals" / "seal-000001.json"
    document = json.loads(path.read_text())
    payload = canonical_json(parse_checkpoint(document["checkpoint"]).fields()).encode()
    document["signature"] = base64.b64encode(intruder.sign(payload)).decode()
    path.chmod(0o644)
    path.write_text(canonical_json(document) + "\n")
    (tmp_path / "seals" / PUBLIC_KEY_NAME).write_bytes(
        intruder.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )

    verdict = keyed.verify()
    assert verdict.ok is False
    assert "cannot be trusted: the public key at" in (verdict.problem or "")
    assert "is not the public half of the audit key at" in (verdict.problem or "")
    with pytest.raises(PolicyViolation, match="is not the public half of the audit key"):
        keyed.seal(at=T0)


def test_seals_without_their_public_key_cannot_be_checked(keyed: AuditLog, tmp_path: Path) -> None:
    append(keyed, 1)
    keyed.seal(at=T0)
    (tmp_path / "seals" / PUBLIC_KEY_NAME).unlink()
    auditor = make_log(tmp_path, key=tmp_path / "auditor-has-no-key.pem")
    verdict = auditor.verify()
    assert verdict.ok is False
    assert "cannot be checked: there is no public key at" in (verdict.problem or "")


def test_an_auditor_without_the_private_key_verifies_with_the_published_key(keyed: AuditLog, tmp_path: Path) -> None:
    append(keyed, 1, 2)
    keyed.seal(at=T0)
    auditor = make_log(tmp_path, key=tmp_path / "auditor-has-no-key.pem")
    verdict = auditor.verify()
    assert verdict.ok, verdict.problem
    assert verdict.sealed_through == 2


def test_an_append_that_cannot_read_the_tip_fails_in_one_line_and_leaves_nothing_queued(
    keyed: AuditLog, tmp_path: Path
) -> None:
    append(keyed, 1, 2)
    data_file_holding(tmp_path, 2).unlink()
    fresh = make_log(tmp_path)  # no cached tip: it must read the file
    with pytest.raises(MlgovError, match="cannot be read") as raised:
        fresh.append(entry(3), commit=COMMIT)
    assert "\n" not in str(raised.value)
    assert [p.name for p in (tmp_path / "locks" / "audit.spool").iterdir() if p.suffix == ".ticket"] == []


# --- settings ----------------------------------------------------------------------------------------


def test_settings_default_the_seals_beside_home_and_the_key_in_the_users_config(tmp_path: Path) -> None:
    settings = load_settings({"MLGOV_HOME": "lake", "XDG_CONFIG_HOME": str(tmp_path / "cfg")}, cwd=tmp_path)
    assert settings.audit_seals_root == (tmp_path / "lake-seals").resolve()
    assert settings.audit_key == tmp_path / "cfg" / "mlgov" / "audit_ed25519.pem"
    without_xdg = load_settings({"HOME": str(tmp_path / "me")}, cwd=tmp_path)
    assert without_xdg.audit_key == tmp_path / "me" / ".config" / "mlgov" / "audit_ed25519.pem"
    assert not without_xdg.audit_seals_root.is_relative_to(without_xdg.home)


def test_settings_take_the_key_and_seals_paths(tmp_path: Path) -> None:
    settings = load_settings(
        {"MLGOV_AUDIT_KEY": "~/keys/a.pem", "MLGOV_AUDIT_SEALS": "vault/seals", "HOME": str(tmp_path / "me")},
        cwd=tmp_path,
    )
    assert settings.audit_key == (tmp_path / "me" / "keys" / "a.pem").resolve()
    assert settings.audit_seals_root == (tmp_path / "vault" / "seals").resolve()


@pytest.mark.parametrize(
    ("key", "value"), [("MLGOV_AUDIT_KEY", "home/key.pem"), ("MLGOV_AUDIT_SEALS", "home/lakehouse/seals")]
)
def test_settings_refuse_a_key_or_seals_inside_the_lakehouse(tmp_path: Path, key: str, value: str) -> None:
    with pytest.raises(InputError, match=rf"{key}=.* is inside .*: keep it outside the lakehouse"):
        load_settings({"MLGOV_HOME": "home", key: value}, cwd=tmp_path)


# --- the command line ----------------------------------------------------------------------------------


def test_the_cli_makes_a_key_seals_and_verifies(tmp_path: Path) -> None:
    from pipelines.cli import main  # the CLI over these same stores

    env = {
        "MLGOV_HOME": str(tmp_path / "home"),
        "MLGOV_AUDIT_KEY": str(tmp_path / "keys" / "audit.pem"),
        "MLGOV_AUDIT_SEALS": str(tmp_path / "seals"),
    }
    log = AuditLog(
        DeltaStore(Storage(tmp_path / "home" / "lakehouse")), lock_path=tmp_path / "home" / "locks" / "audit.lock"
    )
    append(log, 1, 2, 3)
    runner = CliRunner()

    def run(*args: str, code: int = 0) -> dict:
        result = runner.invoke(main, ["audit", *args, "--json"], env=env, catch_exceptions=False)
        assert result.exit_code == code, result.stderr
        return json.loads(result.stdout) if result.stdout else {}

    unsealed = run("verify")
    assert {"ok", "records", "first_bad_seq"} <= set(unsealed)
    assert (unsealed["ok"], unsealed["sealed_through"], unsealed["unsealed_records"]) == (True, None, 3)

    refused = runner.invoke(main, ["audit", "seal"], env=env)
    assert refused.exit_code == 1
    assert refused.stderr.strip() == f"error: no audit key at {tmp_path / 'keys' / 'audit.pem'}: run mlgov audit keygen"

    made = run("keygen")
    assert made["fingerprint"].startswith("SHA256:")
    assert made["public_key"].startswith("-----BEGIN PUBLIC KEY-----")
    assert stat.S_IMODE(os.stat(made["key"]).st_mode) == 0o600

    sealed = run("seal")
    assert (sealed["seal"], sealed["seq"], sealed["delta_version"]) == ("seal-000001.json", 3, 2)

    append(log, 4)
    verdict = run("verify")
    assert verdict["ok"] is True
    assert (verdict["sealed_through"], verdict["unsealed_records"], verdict["seals"]) == (3, 1, 1)
    assert verdict["key_fingerprint"] == made["fingerprint"]

    text = runner.invoke(main, ["audit", "verify"], env=env).stdout.splitlines()
    assert text[0] == "audit chain intact: 4 records"
    assert text[1].startswith("sealed through record 3 (key SHA256:")
    assert text[1].endswith("; 1 record after it is not sealed yet")

    data_file_holding(tmp_path / "home", 2).unlink()
    broken = run("verify", code=1)
    assert (broken["ok"], broken["first_bad_seq"]) == (False, 2)


def test_a_new_key_replaces_a_published_key_that_signed_no_seal(keyed: AuditLog, tmp_path: Path) -> None:
    first = keyed.seals.published_fingerprint()
    (tmp_path / "keys" / "audit.pem").unlink()
    second = keyed.seals.create_key()
    assert second.fingerprint != first
    assert keyed.seals.published_fingerprint() == second.fingerprint
