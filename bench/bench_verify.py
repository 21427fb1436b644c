"""Time `mlgov audit verify --json` on a 1M-record audit trail, as a user runs it (issue #9).

    .venv/bin/python bench/bench_verify.py --json /tmp/verify.json      # builds bench/.data/verify-1000000 once
    .venv/bin/python bench/bench_verify.py --records 100000 --runs 5    # a quick look

The trail is built once and reused (bench/.data/verify-<records>/, ignored by git): a real mlgov
home whose audit table is written by `AuditLog.append_many` in batches (one Delta commit each), and
sealed with a real Ed25519 key every --seal-every records, so verification checks seals too. The
records look like the platform's own: every action, refusals, reasons with quotes and non-ASCII
text, and one record in a thousand with a line break in its reason (the rows the columnar hashing
hands to the reference implementation).

Each run is the user's command in a fresh process, its start (imports included) inside the timing,
under `/usr/bin/time -v` for the process's peak resident memory. Every run must say `ok` for every
record, or the script fails. Goals: at least 200,000 records/s and under 300 MB peak at 1M records.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, median

from governance.audit.actions import AuditAction, AuditOutcome
from governance.audit.canonical import canonical_json
from governance.audit.chain import AuditEntry
from lakehouse.delta import CommitInfo
from pipelines.context import build_audit_log

GOAL_RECORDS_PER_S = 200_000
GOAL_PEAK_MB = 300
DATA = Path(__file__).resolve().parent / ".data"
T0 = datetime(2025, 1, 1, 8, 0, tzinfo=UTC)
ACTORS = ("ada", "rita", "raj", "zoë", "渡辺", "svc-scoring")
OBJECTS = ("model_version", "promotion_request", "user", "batch", "table")


def environment(data: Path) -> dict[str, str]:
    return {
        "MLGOV_HOME": str(data / "home"),
        "MLGOV_AUDIT_KEY": str(data / "key" / "audit_ed25519.pem"),
        "MLGOV_AUDIT_SEALS": str(data / "seals"),
    }


def entries(first: int, count: int, rng: random.Random) -> list[AuditEntry]:
    made = []
    for i in range(first, first + count):
        action = rng.choice(list(AuditAction))
        refused = rng.random() < 0.03
        reason = f'{action.value} of "{i % 97}" für Zürich' if i % 5 else ""
        if i % 1000 == 0:
            reason += "\nsecond line"
        made.append(
            AuditEntry(
                event_id=uuid.UUID(int=rng.getrandbits(128)).hex,
                at=T0 + timedelta(seconds=7 * i, microseconds=rng.randrange(1_000_000)),
                actor=rng.choice(ACTORS),
                action=action.value,
                object_type=rng.choice(OBJECTS),
                object_id=f"churn_{i % 50}/{i % 1000}",
                outcome=(AuditOutcome.REFUSED if refused else AuditOutcome.OK).value,
                reason=reason,
                details=canonical_json({"run_id": uuid.UUID(int=rng.getrandbits(128)).hex, "rows": str(i % 10_000)}),
            )
        )
    return made


def build(data: Path, *, records: int, batch: int, seal_every: int) -> dict[str, Any]:
    """A home holding `records` audit records in commits of `batch`, sealed every `seal_every`."""
    marker = data / "built.json"
    wanted = {"records": records, "batch": batch, "seal_every": seal_every}
    if marker.exists() and json.loads(marker.read_text()) == wanted:
        print(f"reusing {data}", flush=True)
        return wanted
    shutil.rmtree(data, ignore_errors=True)
    data.mkdir(parents=True)
    log = build_audit_log(environment(data), cwd=data)
    log.seals.create_key()
    rng = random.Random(9)
    commit = CommitInfo(run_id="bench-verify", job="bench_verify", actor="bench")
    started = time.perf_counter()
    done = 0
    while done < records:
        count = min(batch, records - done)
        log.append_many(entries(done + 1, count, rng), commit=commit)
        done += count
        if done % seal_every == 0 or done == records:
            log.seal(at=T0 + timedelta(seconds=7 * done))
        if done % 100_000 == 0 or done == records:
            print(f"  {done:,} records ({time.perf_counter() - started:.0f} s)", flush=True)
    marker.write_text(json.dumps(wanted))
    return wanted


def run_verify(data: Path) -> dict[str, Any]:
    """One `mlgov audit verify --json` in a fresh process: wall seconds, peak RSS and its verdict."""
    mlgov = Path(sys.executable).parent / "mlgov"
    started = time.perf_counter()
    done = subprocess.run(
        ["/usr/bin/time", "-v", str(mlgov), "audit", "verify", "--json"],
        capture_output=True,
        text=True,
        env={**_base_env(), **environment(data)},
        cwd=data,
    )
    seconds = time.perf_counter() - started
    peak = re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr)
    if peak is None:
        raise SystemExit(f"no peak memory from /usr/bin/time:\n{done.stderr[-2000:]}")
    verdict = json.loads(done.stdout) if done.stdout.strip() else {}
    return {"seconds": seconds, "peak_mb": int(peak.group(1)) / 1024, "exit": done.returncode, "verdict": verdict}


def _base_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("MLGOV_")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=10_000, help="records per append_many (one Delta commit)")
    parser.add_argument("--seal-every", type=int, default=250_000, help="records between seals")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--data", type=Path, help="where the trail is built (default bench/.data/verify-<records>)")
    parser.add_argument("--json", type=Path, help="also write every figure here")
    args = parser.parse_args()
    if not Path("/usr/bin/time").exists():
        raise SystemExit("error: /usr/bin/time is needed for peak memory (apt-get install time)")
    data = (args.data or DATA / f"verify-{args.records}").resolve()

    info = machine()
    print(f"machine: {info}", flush=True)
    built = build(data, records=args.records, batch=args.batch, seal_every=args.seal_every)
    runs = []
    for number in range(1, args.runs + 1):
        run = run_verify(data)
        verdict = run["verdict"]
        if run["exit"] != 0 or not verdict.get("ok") or verdict.get("records") != args.records:
            raise SystemExit(f"run {number}: verify did not pass on every record: {verdict or run}")
        runs.append(run)
        print(
            f"  run {number}: {run['seconds']:.2f} s, {args.records / run['seconds']:,.0f} records/s, "
            f"peak {run['peak_mb']:.0f} MB (sealed through {verdict['sealed_through']:,})",
            flush=True,
        )
    seconds = median([r["seconds"] for r in runs])
    peak = max(r["peak_mb"] for r in runs)
    rate = args.records / seconds
    summary = {
        "machine": info,
        "trail": {**built, "data": str(data)},
        "command": "mlgov audit verify --json",
        "runs": [{k: v for k, v in r.items() if k != "verdict"} for r in runs],
        "median_s": seconds,
        "records_per_s": rate,
        "peak_mb": peak,
        "goals": {"records_per_s": GOAL_RECORDS_PER_S, "peak_mb": GOAL_PEAK_MB},
        "load_avg_at_end": Path("/proc/loadavg").read_text().split()[:3],
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    print(f"median {seconds:.2f} s = {rate:,.0f} records/s; highest peak {peak:.0f} MB", flush=True)
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2))
    if args.records >= 1_000_000 and (rate < GOAL_RECORDS_PER_S or peak >= GOAL_PEAK_MB):
        raise SystemExit(f"missed a goal: {rate:,.0f} records/s (>= {GOAL_RECORDS_PER_S:,}), {peak:.0f} MB (< 300)")


if __name__ == "__main__":
    main()
