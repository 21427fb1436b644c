"""Lineage both ways and evidence packs, on the seeded lakehouse (real Delta tables and registry)."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import polars as pl

from tests.conftest import AUDITOR, MAKER, Seeded, context_for
from tests.pipelines.test_cli import Cli


def test_a_prediction_traces_back_to_the_table_version_that_trained_its_model(seeded: Seeded) -> None:
    cli = Cli(seeded.home)
    batch = seeded.batch_ids[0]
    key = context_for(seeded.home).store.read("predictions").filter(pl.col("batch_id") == batch)["entity_key"][0]
    document = cli.json("lineage", "--prediction", f"{batch}:{key}")
    assert document["batch"]["batch_id"] == batch
    assert document["model_version"] == {"model": "loan_default", "version": "1"}
    assert document["training_table"] == {"table": "raw/loans", "version": 0}
    assert document["input_table"]["table"] == "raw/applications"
    assert "income" in document["features"]["numeric"]
    tags = context_for(seeded.home).registry.version("loan_default", "1")
    assert document["training_run"] == tags.run_id


def test_a_table_version_lists_the_models_trained_on_it_and_their_batches(seeded: Seeded) -> None:
    document = Cli(seeded.home).json("lineage", "--table", "loans", "--version", "0")
    assert document["model_versions"] == [{"model": "loan_default", "version": "1"}]
    assert {b["batch_id"] for b in document["batches"]} == set(seeded.batch_ids)


def test_lineage_refuses_bad_references(seeded: Seeded) -> None:
    cli = Cli(seeded.home)
    cli.refused("lineage", "--prediction", "nonsense", needle="expected <batch_id>:<entity key>")
    cli.refused("lineage", "--prediction", f"{seeded.batch_ids[0]}:nope", needle="no prediction")
    cli.refused("lineage", "--table", "loans", "--version", "99", needle="no version 99")
    cli.refused("lineage", needle="either --prediction")


def test_the_evidence_pack_verifies_independently_and_catches_an_edit(seeded: Seeded, tmp_path: Path) -> None:
    cli = Cli(seeded.home)
    cli.refused("evidence", "loan_default", "1", "--out", str(tmp_path / "x.zip"), "--actor", MAKER, needle="may not")
    out = tmp_path / "pack.zip"
    result = cli.json("evidence", "loan_default", "1", "--out", str(out), "--actor", AUDITOR)
    assert result["requests"] == 1
    assert result["audit_records"] > 3
    folder = tmp_path / "unpacked"
    zipfile.ZipFile(out).extractall(folder)
    assert {"model_card.json", "requests.json", "alias_history.json", "lineage.json", "README.md"} <= {
        p.name for p in folder.iterdir()
    }
    requests = json.loads((folder / "requests.json").read_text())
    assert sorted(requests[0]["policy"]["counted"]) == ["raj", "rita"]
    assert json.loads((folder / "alias_history.json").read_text())[0]["version"] == "1"

    ok = subprocess.run([sys.executable, "verify_pack.py"], cwd=folder, capture_output=True, text=True, check=False)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith("OK:")

    records = (folder / "audit_records.jsonl").read_text().splitlines()
    edited = json.loads(records[1])
    edited["reason"] = "nothing to see here"
    records[1] = json.dumps(edited)
    (folder / "audit_records.jsonl").write_text("\n".join(records) + "\n")
    bad = subprocess.run([sys.executable, "verify_pack.py"], cwd=folder, capture_output=True, text=True, check=False)
    assert bad.returncode != 0
    assert f"record {edited['seq']} does not match its hash" in bad.stderr
