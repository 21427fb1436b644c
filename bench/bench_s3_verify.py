"""`mlgov audit verify` on an audit trail in S3 before and after `mlgov maintain` (issue #10).

    .venv/bin/python bench/bench_s3_verify.py --records 50000 --per-commit 100 --json /tmp/s3-verify.json

Builds a trail of --records records on an S3-compatible server (moto) on 127.0.0.1, one Delta commit
and so one data file per --per-commit records (`AuditLog.append_many`), then times the user's command
in a fresh process: `mlgov audit verify --json` on the many small files, `mlgov maintain`, and the
verify again on the compacted trail. Both verifies must say ok. Loopback only: a real cloud adds
tens of milliseconds per object read, which is what compaction saves.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine
from bench_s3_loop import start_moto

from governance.audit.chain import AuditEntry
from lakehouse.delta import CommitInfo
from pipelines.context import build_audit_log

MLGOV = str(Path(sys.executable).parent / "mlgov")
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def timed(args: list[str], env: dict[str, str], cwd: Path) -> tuple[float, dict[str, Any]]:
    started = time.perf_counter()
    done = subprocess.run([MLGOV, *args], capture_output=True, text=True, env=env, cwd=cwd, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"mlgov {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return seconds, json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=50_000)
    parser.add_argument("--per-commit", type=int, default=100)
    parser.add_argument("--json", type=Path)
    options = parser.parse_args()

    import boto3

    server, s3_env = start_moto()
    try:
        bucket = f"verify-{uuid.uuid4().hex[:8]}"
        boto3.client("s3", endpoint_url=s3_env["AWS_ENDPOINT_URL"], region_name="us-east-1",
                     aws_access_key_id="bench", aws_secret_access_key="bench").create_bucket(Bucket=bucket)  # fmt: skip
        with tempfile.TemporaryDirectory(prefix="mlgov-s3-verify-") as scratch:
            base = {k: v for k, v in os.environ.items() if not k.startswith(("MLGOV_", "MLFLOW_", "AWS_"))}
            env = {**base, **s3_env, "MLGOV_HOME": f"{scratch}/home", "MLGOV_LAKEHOUSE": f"s3://{bucket}/home"}
            cwd = Path(scratch)
            timed(["init", "--admin", "ada", "--json"], env, cwd)
            log = build_audit_log(env, cwd=cwd)
            started = time.perf_counter()
            for first in range(0, options.records, options.per_commit):
                batch = [
                    AuditEntry(event_id=f"e{i}", at=T0 + timedelta(seconds=i), actor="ada", action="grant_role",
                               object_type="user", object_id=f"user{i % 97}", outcome="ok", reason=f"r {i}",
                               details="{}")
                    for i in range(first, min(first + options.per_commit, options.records))
                ]  # fmt: skip
                log.append_many(batch, commit=CommitInfo(run_id="bench", job="bench", actor="ada"))
            built = time.perf_counter() - started
            before_s, before = timed(["audit", "verify", "--json"], env, cwd)
            maintain_s, maintained = timed(["maintain", "--actor", "ada", "--json"], env, cwd)
            after_s, after = timed(["audit", "verify", "--json"], env, cwd)
    finally:
        server.terminate()
        server.wait(timeout=30)
    if not (before["ok"] and after["ok"]):
        raise RuntimeError(f"the trail did not verify: before {before['problem']}, after {after['problem']}")
    audit = next(t for t in maintained["tables"] if t["table"] == "governance/audit")
    document = {
        "machine": machine(),
        "records": after["records"],
        "build_s": round(built, 1),
        "files_before": audit["files_before"],
        "files_after": audit["files_after"],
        "verify_before_s": round(before_s, 2),
        "maintain_s": round(maintain_s, 2),
        "verify_after_s": round(after_s, 2),
    }
    print(json.dumps(document, indent=2))
    if options.json:
        options.json.write_text(json.dumps(document, indent=2))


if __name__ == "__main__":
    main()
