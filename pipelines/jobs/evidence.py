"""Evidence packs: everything an auditor needs about one model version, in one zip they can verify
without mlgov installed."""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from governance.audit.actions import AuditAction
from governance.audit.canonical import utc_text
from governance.audit.chain import AuditRecord
from governance.errors import InputError
from governance.promotion import fold_requests
from governance.roles import Action
from lakehouse.records import promotion_events
from pipelines.context import Context, job_run
from pipelines.reads.evidence import compute_evidence
from pipelines.reads.lineage import graph, table_lineage
from pipelines.reads.promotions import alias_history, show_request
from pipelines.reads.versions import version_recipe

_VERIFY_SCRIPT = '''"""Verify an mlgov evidence pack with nothing but Python 3.11's standard library.

    python verify_pack.py            (run inside the unzipped folder)

Checks that (1) every record in audit_records.jsonl hashes to the value it claims, using the same
canonical form as mlgov; (2) chain.jsonl links every record to the one before it, from record 1
to the tip; (3) each full record sits in the chain at its sequence number with the same hash.
"""

import hashlib
import json
import sys
from pathlib import Path

GENESIS = "0" * 64
HASHED = ("event_id", "at", "actor", "action", "object_type", "object_id", "outcome", "reason", "details")


def record_hash(record):
    payload = {"seq": record["seq"], "prev_hash": record["prev_hash"], **{k: record[k] for k in HASHED}}
    text = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def lines(name):
    return [json.loads(line) for line in Path(name).read_text(encoding="utf-8").splitlines() if line]


def main():
    chain = lines("chain.jsonl")
    previous = GENESIS
    for expected, link in enumerate(chain, start=1):
        if link["seq"] != expected or link["prev_hash"] != previous:
            sys.exit(f"FAIL: the chain breaks at record {expected}")
        previous = link["hash"]
    by_seq = {link["seq"]: link["hash"] for link in chain}
    records = lines("audit_records.jsonl")
    for record in records:
        if record_hash(record) != record["hash"]:
            sys.exit(f"FAIL: record {record['seq']} does not match its hash (it was altered)")
        if by_seq.get(record["seq"]) != record["hash"]:
            sys.exit(f"FAIL: record {record['seq']} is not the record the chain holds at that place")
    print(f"OK: {len(records)} records verified within a chain of {len(chain)} ending in {previous}")


if __name__ == "__main__":
    main()
'''

_README = """# Evidence pack: {model} version {version}

Exported by {actor} at {exported_at} from the mlgov lakehouse at {home}.

| file | what it holds |
| --- | --- |
| model_card.json | purpose, owner, features, training data, metrics and limitations |
| requests.json | each promotion request of this version: evidence, approvals (counted or not), verdict |
| alias_history.json | which version held the champion alias, when, and how (approved, break-glass, rollback) |
| lineage.json | the training table version, and every batch this version scored |
| audit_records.jsonl | the full audit records that concern this version, its requests and its batches |
| chain.jsonl | the sequence number, previous hash and hash of every record of the audit trail at export time |
| verification.json | the result of `mlgov audit verify` at export time |
| verify_pack.py | an independent check, using the Python standard library only |

## Verifying it independently

1. Unzip the pack and run `python verify_pack.py` in that folder. It recomputes each audit
   record's SHA-256 from its fields. The canonical form is: sorted keys, no whitespace, UTF-8,
   timestamps as UTC ISO-8601 with microseconds, and the hash of the previous record included.
   It checks that every link of chain.jsonl points at the hash before it, and that each full
   record sits in the chain at its place.
2. Compare the tip hash it prints with a tip you hold from elsewhere: a signed checkpoint from
   `mlgov audit seal`, or a later export. Without such an anchor, the chain shows that nothing
   was edited, removed or reordered. It cannot show that the whole chain was not rebuilt by
   someone with write access to the storage.
"""


@dataclass(frozen=True)
class EvidencePack:
    path: Path
    records: int
    requests: int


def _record_document(record: AuditRecord) -> dict[str, Any]:
    fields = record.entry.hashed_fields()
    return {"seq": record.seq, "prev_hash": record.prev_hash, "hash": record.hash, **fields}


def export_evidence(ctx: Context, *, model: str, version: str, out: Path, actor: str) -> EvidencePack:
    """Write the evidence pack of MODEL VERSION to `out` (a .zip); auditors only, and audited."""
    if out.suffix.lower() != ".zip":
        raise InputError(f"{str(out)!r}: the evidence pack is a zip file, expected a path ending in .zip")
    if not out.parent.is_dir():
        raise InputError(f"folder {str(out.parent)!r} does not exist")
    with job_run(ctx, job="evidence_export", actor=actor, model=model) as run:
        run.authorize(Action.EXPORT_EVIDENCE, object_type="model_version", object_id=f"{model}/{version}")
        recipe = version_recipe(ctx, model, version)
        requests = [
            r for r in fold_requests(promotion_events(ctx.ledger, model=model)).values() if r.version == version
        ]
        shown = [show_request(ctx, request_id=r.request_id) for r in requests]
        card = (
            shown[-1]["evidence"]["model_card"]
            if shown
            else compute_evidence(ctx, model=model, version=version).payload["model_card"]
        )
        edges = graph(ctx)
        version_node = f"{model}/{version}"
        batch_ids = sorted(e.dst.id for e in edges if e.src.id == version_node and e.dst.kind == "batch")
        lineage = {
            "training": table_lineage(ctx, table=recipe.table, version=recipe.table_version),
            "batches_scored": batch_ids,
            **(
                {
                    "feature_tables": [
                        table_lineage(ctx, table=ref.table, version=ref.version) for ref in recipe.feature_tables
                    ]
                }
                if recipe.feature_tables
                else {}
            ),
        }
        verdict = ctx.audit.verify()
        records = ctx.audit.records()
        concerned = {version_node, model, *(r.request_id for r in requests), *batch_ids}
        chosen = [r for r in records if r.entry.object_id in concerned]
        documents = {
            "model_card.json": card,
            "requests.json": shown,
            "alias_history.json": [
                {
                    **i.__dict__,
                    "kind": i.kind.value,
                    "start": utc_text(i.start),
                    "end": utc_text(i.end) if i.end else None,
                }
                for i in alias_history(ctx, model=model)
            ],
            "lineage.json": lineage,
            "verification.json": verdict.__dict__,
        }
        exported_at = utc_text(run.now())
        with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as pack:
            for name, document in documents.items():
                pack.writestr(name, json.dumps(document, ensure_ascii=False, indent=2, default=str))
            pack.writestr(
                "audit_records.jsonl",
                "".join(json.dumps(_record_document(r), ensure_ascii=False) + "\n" for r in chosen),
            )
            pack.writestr(
                "chain.jsonl",
                "".join(json.dumps({"seq": r.seq, "prev_hash": r.prev_hash, "hash": r.hash}) + "\n" for r in records),
            )
            pack.writestr("verify_pack.py", _VERIFY_SCRIPT)
            readme = _README.format(
                model=model, version=version, actor=actor, exported_at=exported_at, home=ctx.settings.home
            )
            pack.writestr("README.md", readme)
        run.audit(
            action=AuditAction.EXPORT_EVIDENCE,
            object_type="model_version",
            object_id=version_node,
            details={"file": out.name, "records": str(len(chosen)), "requests": str(len(requests))},
        )
    return EvidencePack(path=out, records=len(chosen), requests=len(requests))
