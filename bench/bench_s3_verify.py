"""`mlgov audit verify` on the same audit trail in S3 and on local disk, after `mlgov maintain` (issue #10).

    .venv/bin/python bench/bench_s3_verify.py --json /tmp/s3-verify.json                  # 1M records
    .venv/bin/python bench/bench_s3_verify.py --records 100000 --per-commit 1000 --runs 1  # a quick look

Builds one trail twice, in the same run: in a lakehouse on local disk and in one at s3://... on an
S3-compatible server (moto) on 127.0.0.1 started by this script. Each side is a real home made by
`mlgov init`; its audit records (`bench_verify.entries`: every action, refusals, non-ASCII reasons,
the platform's mix) are chained and committed in-process by the writer the CLI uses
(`AuditLog.append_many`, one Delta commit and one data file per --per-commit records), then sealed
once with a real key. Then, each a fresh process as a user runs it: `mlgov audit verify --json` on
the many small files (with --verify-before), `mlgov maintain --actor ada --json`, and --runs times
`mlgov audit verify --json` on the maintained trail, the two sides alternating. Every verify must say
ok for every record, or the script fails.

Loopback only: a real cloud adds tens of milliseconds per request, which is what compaction and
checkpoints save; moto keeps every object in memory in one Python process on the same cores.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, median
from bench_s3_loop import RequestLog, start_moto
from bench_verify import T0, entries

from lakehouse.delta import CommitInfo
from pipelines.context import build_audit_log

MLGOV = str(Path(sys.executable).parent / "mlgov")
SIDES = ("local", "s3")


def timed(args: list[str], env: dict[str, str], cwd: Path) -> dict[str, Any]:
    """One `mlgov` command in a fresh process under /usr/bin/time -v: seconds, peak RSS, its JSON."""
    started = time.perf_counter()
    done = subprocess.run(
        ["/usr/bin/time", "-v", MLGOV, *args], capture_output=True, text=True, env=env, cwd=cwd, check=False
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"mlgov {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    peak = re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr)
    return {
        "seconds": round(seconds, 2),
        "peak_mb": round(int(peak.group(1)) / 1024) if peak else None,
        "document": json.loads(done.stdout),
    }


def build(env: dict[str, str], cwd: Path, *, records: int, per_commit: int) -> float:
    """The trail, as `mlgov init` and then the CLI's own writer leave it; seconds it took."""
    timed(["init", "--admin", "ada", "--json"], env, cwd)
    log = build_audit_log(env, cwd=cwd)
    log.seals.create_key()
    rng = random.Random(9)  # the same records on both sides
    commit = CommitInfo(run_id="bench-s3-verify", job="bench_s3_verify", actor="bench")
    started = time.perf_counter()
    done = 0
    while done < records:
        count = min(per_commit, records - done)
        log.append_many(entries(done + 1, count, rng), commit=commit)
        done += count
        if done % 100_000 == 0 or done == records:
            print(f"  {done:,} records ({time.perf_counter() - started:.0f} s)", file=sys.stderr, flush=True)
    log.seal(at=T0 + timedelta(days=365))
    return time.perf_counter() - started


def verified(result: dict[str, Any], *, at_least: int) -> dict[str, Any]:
    verdict = result["document"]
    if not verdict.get("ok") or verdict.get("records", 0) < at_least:
        raise RuntimeError(f"the trail did not verify: {verdict}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--per-commit", type=int, default=1000, help="records per Delta commit (one data file)")
    parser.add_argument("--runs", type=int, default=3, help="verifies after maintain, per side")
    parser.add_argument("--verify-before", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--json", type=Path)
    options = parser.parse_args()

    import boto3

    info = machine()
    base = {k: v for k, v in os.environ.items() if not k.startswith(("MLGOV_", "MLFLOW_", "AWS_"))}
    with tempfile.TemporaryDirectory(prefix="mlgov-s3-verify-") as scratch:
        moto_log = Path(scratch) / "moto.log"
        server, s3_env = start_moto(moto_log)
        requests = RequestLog(moto_log)
        try:
            bucket = f"verify-{uuid.uuid4().hex[:8]}"
            boto3.client("s3", endpoint_url=s3_env["AWS_ENDPOINT_URL"], region_name="us-east-1",
                         aws_access_key_id="bench", aws_secret_access_key="bench").create_bucket(Bucket=bucket)  # fmt: skip
            envs, cwds, figures = {}, {}, {}
            for side in SIDES:
                folder = Path(scratch) / side
                folder.mkdir()
                env = {**base, "MLGOV_HOME": str(folder / "home"), "MLGOV_AUDIT_KEY": str(folder / "key.pem")}
                if side == "s3":
                    env |= {**s3_env, "MLGOV_LAKEHOUSE": f"s3://{bucket}/home"}
                envs[side], cwds[side] = env, folder
                print(f"building {options.records:,} records on {side}", file=sys.stderr, flush=True)
                figures[side] = {"build_s": round(build(env, folder, records=options.records,
                                                        per_commit=options.per_commit), 1)}  # fmt: skip

            def run(side: str, name: str, args: list[str]) -> dict[str, Any]:
                requests.skip()
                result = timed(args, envs[side], cwds[side])
                time.sleep(0.3)  # moto logs a request after answering it
                if side == "s3":
                    result["s3_requests"] = requests.since_last()["total"]
                print(f"  {side} {name}: {result['seconds']:.1f} s", file=sys.stderr, flush=True)
                return result

            verify = ["audit", "verify", "--json"]
            for side in SIDES:
                if options.verify_before:
                    figures[side]["verify_before"] = verified(run(side, "verify", verify), at_least=options.records)
                figures[side]["maintain"] = run(side, "maintain", ["maintain", "--actor", "ada", "--json"])
            for number in range(options.runs):
                for side in SIDES if number % 2 == 0 else SIDES[::-1]:
                    result = verified(run(side, "verify after maintain", verify), at_least=options.records)
                    figures[side].setdefault("verify_after", []).append(result)
        finally:
            server.terminate()
            server.wait(timeout=30)

    document = summary(info, options, figures)
    print(json.dumps(document, indent=2))
    if options.json:
        options.json.write_text(json.dumps(document, indent=2))


def summary(info: dict[str, Any], options: argparse.Namespace, figures: dict[str, dict[str, Any]]) -> dict[str, Any]:
    sides: dict[str, Any] = {}
    for side, figure in figures.items():
        audit = next(t for t in figure["maintain"]["document"]["tables"] if t["table"] == "governance/audit")
        after = figure["verify_after"]
        sides[side] = {
            "build_s": figure["build_s"],
            "files_before": audit["files_before"],
            "files_after": audit["files_after"],
            "verify_before_s": figure["verify_before"]["seconds"] if "verify_before" in figure else None,
            "verify_before_peak_mb": figure["verify_before"]["peak_mb"] if "verify_before" in figure else None,
            "maintain_s": figure["maintain"]["seconds"],
            "verify_after_s": [r["seconds"] for r in after],
            "verify_after_median_s": round(median([r["seconds"] for r in after]), 2),
            "verify_after_peak_mb": max(r["peak_mb"] or 0 for r in after),
            "records": after[-1]["document"]["records"],
            "s3_requests": {
                name: figure[name]["s3_requests"] for name in ("verify_before", "maintain") if name in figure
            }
            | ({"verify_after": after[-1]["s3_requests"]} if "s3_requests" in after[-1] else {})
            if side == "s3"
            else None,
        }
    ratio = sides["s3"]["verify_after_median_s"] / sides["local"]["verify_after_median_s"]
    return {
        "machine": info,
        "records": options.records,
        "per_commit": options.per_commit,
        "command": "mlgov audit verify --json (after mlgov maintain --actor ada --json)",
        "sides": sides,
        "verify_after_s3_over_local": round(ratio, 2),
    }


if __name__ == "__main__":
    main()
