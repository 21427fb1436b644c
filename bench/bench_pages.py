"""How long each app page takes to render on a lakehouse: cold (first visit) and warm (after warm-up).

    .venv/bin/python bench/make_scale_lakehouse.py --home /tmp/scale       # 50 models, 10M predictions, ...
    .venv/bin/python bench/bench_pages.py --home /tmp/scale --json /tmp/pages.json

Each page runs through Streamlit's AppTest (the real page script, in this process) as an admin, who
may open every page: once cold, right after the caches are cleared, then `--warm-runs` times more;
a warm run is what a user sees on their next click while the cached reads (TTL 30 s) hold. The
goal (issue #5) is every page's median warm render under 1 s. A page that raises fails the run.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, median

ROOT = Path(__file__).resolve().parents[1]
PAGES = {
    "overview": "views/overview.py",
    "approvals": "views/approvals.py",
    "models": "views/models.py",
    "lineage": "views/lineage.py",
    "audit": "views/audit.py",
    "drift": "views/drift.py",
    "performance": "views/performance.py",
    "cost": "views/cost.py",
    "access": "views/access.py",
}
GOAL_S = 1.0


def _render(page: str, *, warm_runs: int) -> dict[str, Any]:
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from app.auth import SESSION_KEY
    from governance.identity import SignedIn
    from governance.roles import Role

    at = AppTest.from_file(str(ROOT / "app" / "main.py"), default_timeout=600)
    at.session_state[SESSION_KEY] = SignedIn(user="bench-admin", roles=frozenset(Role))
    at.run()  # the router's first run lands on the overview
    st.cache_data.clear()  # so the page's first visit reads everything it needs
    st.cache_resource.clear()
    seconds = []
    for _ in range(1 + warm_runs):
        start = time.perf_counter()
        at.switch_page(PAGES[page]).run()
        seconds.append(time.perf_counter() - start)
        if at.exception:
            raise SystemExit(f"{page}: the page raised {at.exception[0].message}")
    return {"cold_s": seconds[0], "warm_s": seconds[1:], "median_warm_s": median(seconds[1:])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", type=Path, required=True, help="an mlgov home (MLGOV_HOME)")
    parser.add_argument("--pages", nargs="+", choices=list(PAGES), default=list(PAGES))
    parser.add_argument("--warm-runs", type=int, default=5)
    parser.add_argument("--json", type=Path, help="also write every figure here")
    args = parser.parse_args()
    if not (args.home / "lakehouse").is_dir():
        raise SystemExit(f"error: {args.home} is not an mlgov home (no lakehouse folder); make one first")
    os.environ["MLGOV_HOME"] = str(args.home.resolve())
    os.environ.pop("MLFLOW_TRACKING_URI", None)

    info = machine()
    print(f"machine: {info}", flush=True)
    results = {}
    for page in args.pages:
        results[page] = _render(page, warm_runs=args.warm_runs)
        figures = results[page]
        verdict = "ok" if figures["median_warm_s"] < GOAL_S else "OVER GOAL"
        print(
            f"  {page:<12} cold {figures['cold_s']:6.2f} s   warm median {figures['median_warm_s']:5.2f} s  {verdict}",
            flush=True,
        )
    summary = {
        "machine": info,
        "home": str(args.home),
        "goal_warm_s": GOAL_S,
        "pages": results,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2))
    over = [page for page, figures in results.items() if figures["median_warm_s"] >= GOAL_S]
    if over:
        raise SystemExit(f"over the {GOAL_S:.0f} s goal when warm: {', '.join(over)}")


if __name__ == "__main__":
    main()
