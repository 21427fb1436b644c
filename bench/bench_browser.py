"""How fast the app feels in a real browser: sign-in, and every page once warm, for every role.

    .venv/bin/python bench/make_scale_lakehouse.py --home /tmp/scale       # 50 models, 10M predictions, ...
    .venv/bin/python bench/bench_browser.py --home /tmp/scale --json /tmp/browser.json

It serves the home with `mlgov app` as a user starts it (its own process, on 127.0.0.1) and drives
Debian's headless chromium with Playwright, as the e2e tests do (tests/e2e/conftest.py), at 1440x900.
The demo's users sign in with the passwords in `<home>/demo-credentials.txt`, one per role.

* **server start**: `mlgov app` started -> its health check answers;
* **warm-up**: `mlgov app` started -> it logs that it has warmed up (app.warmup: imports, the lakehouse
  context, the access policy folded out of the audit chain, the Overview page's reads);
* **first sign-in**: the first user after the warm-up; with `--no-wait`, at once after the health
  check, while the server warms up;
* **sign-in**: submit the form -> the first page fully rendered (the script finished, the user's name
  in the sidebar), each a new session: in a browser that has opened the app before (cookies cleared,
  its cache of the app's scripts kept), and apart in a new browser context, which also fetches and
  compiles Streamlit's scripts (the goal applies to the first);
* **pages**: per role, signed in once more, after one untimed pass over the pages it may open,
  `--runs` passes: click the page in the menu -> its script finished and its heading drawn.

Every figure is a median over the runs. The goals (issue #11): sign-in under 2 s, every page under 1 s.
A page that shows an error or a traceback fails the run; so does a figure over its goal, unless
`--no-goals`.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.browser
from _common import machine, median
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from governance.roles import Role
from governance.screens import Screen, screens_for
from tests.browser import CHROMIUM, CHROMIUM_ARGS

ROOT = Path(__file__).resolve().parents[1]
# One demo user per role (pipelines.demo.story).
USERS = {Role.ADMIN: "ada", Role.MAKER: "maya", Role.REVIEWER: "rita", Role.AUDITOR: "aiko", Role.ANALYST: "ana"}
# The menu title of each page; each page's heading is its title (app/main.py).
TITLES = {
    Screen.OVERVIEW: "Overview",
    Screen.APPROVALS: "Approvals",
    Screen.MODELS: "Models",
    Screen.LINEAGE: "Lineage",
    Screen.AUDIT: "Audit trail",
    Screen.DRIFT: "Drift",
    Screen.PERFORMANCE: "Performance",
    Screen.COST: "Cost vs model count",
    Screen.SQL: "SQL console",
    Screen.ACCESS: "Access",
    Screen.FEATURES: "Features",
}
SIGN_IN_GOAL_S = 2.0
PAGE_GOAL_S = 1.0
TIMEOUT_MS = 300_000  # a cold page on the scale lakehouse on a busy machine
APP = '[data-testid="stApp"]'


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _healthy(url: str) -> bool:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"{url}/_stcore/health", timeout=2) as response:
            return bool(response.status == 200)
    except (OSError, urllib.error.URLError):
        return False


@contextmanager
def serve(home: Path, log: Path) -> Iterator[tuple[str, float]]:
    """`mlgov app` over `home` on a free loopback port: its URL and how long it took to answer."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("MLGOV_", "MLFLOW_", "STREAMLIT_"))}
    environ["MLGOV_HOME"] = str(home)
    command = [str(Path(sys.executable).parent / "mlgov"), "app", "--address", "127.0.0.1", "--port", str(port)]
    start = time.perf_counter()
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, cwd=ROOT, env=environ, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    try:
        while not _healthy(url):
            if process.poll() is not None or time.perf_counter() - start > 120:
                raise SystemExit(f"mlgov app did not start; its log: {log}")
            time.sleep(0.1)
        yield url, time.perf_counter() - start
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


WARMED_UP = "mlgov app: warmed up in"


def wait_for_warm_up(log: Path, *, since: float) -> float:
    """Seconds from `since` (the server's start) until the server's log says it has warmed up."""
    while True:
        text = log.read_text(errors="replace")
        if WARMED_UP in text:
            return time.perf_counter() - since
        if "not warmed up" in text or time.perf_counter() - since > TIMEOUT_MS / 1000:
            raise SystemExit(f"mlgov app did not warm up; its log: {log}")
        time.sleep(0.1)


def _passwords(home: Path) -> dict[str, str]:
    path = home / "demo-credentials.txt"
    if not path.is_file():
        raise SystemExit(f"error: {path} is missing: make the home with bench/make_scale_lakehouse.py")
    return dict(line.split(" ", 1) for line in path.read_text().splitlines() if line.strip())


def _fail_on_error(page: Page, where: str) -> None:
    for test_id in ("stException", "stAlertContentError"):
        shown = page.get_by_test_id(test_id)
        if shown.count():
            raise SystemExit(f"{where}: the page shows an error: {shown.first.inner_text()[:300]}")


def _finished(page: Page) -> None:
    """The script run that just started has finished (called once its first output is on screen)."""
    page.wait_for_selector(f'{APP}[data-test-script-state="notRunning"]', state="attached", timeout=TIMEOUT_MS)
    page.wait_for_selector('[data-testid="stStatusWidget"] >> text=Running...', state="detached", timeout=TIMEOUT_MS)


def new_context(browser: Browser) -> BrowserContext:
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    return context


def sign_in(context: BrowserContext, url: str, user: str, password: str) -> tuple[Page, float]:
    """A new tab of `context` signed in as `user`; seconds from submitting the form to the page rendered."""
    context.clear_cookies()  # a new session each time; the assets the browser cached stay
    page = context.new_page()
    page.goto(f"{url}/signin")
    page.get_by_role("textbox", name="User name").fill(user)
    page.get_by_role("textbox", name="Password").fill(password)
    start = time.perf_counter()
    page.get_by_role("button", name="Sign in").click()
    page.get_by_text(f"Signed in as {user}").wait_for(state="visible")
    page.get_by_role("heading", name="Overview", exact=True).wait_for(state="visible")
    _finished(page)
    seconds = time.perf_counter() - start
    _fail_on_error(page, f"sign-in of {user}")
    return page, seconds


def open_page(page: Page, title: str) -> float:
    """Seconds from clicking `title` in the menu to its script finished and its heading drawn."""
    link = page.get_by_test_id("stSidebarNav").get_by_role("link", name=title, exact=True)
    start = time.perf_counter()
    link.click()
    page.get_by_role("heading", name=title, exact=True).wait_for(state="visible")
    _finished(page)
    seconds = time.perf_counter() - start
    _fail_on_error(page, title)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", type=Path, required=True, help="an mlgov home made by make_scale_lakehouse.py")
    parser.add_argument("--runs", type=int, default=5, help="timed sign-ins and passes over the pages per role")
    parser.add_argument("--roles", nargs="+", choices=[r.value for r in USERS], default=[r.value for r in USERS])
    parser.add_argument("--json", type=Path, help="also write every figure here")
    parser.add_argument("--no-goals", action="store_true", help="report figures over a goal without failing")
    parser.add_argument("--no-wait", action="store_true", help="sign in first at once, not after the warm-up")
    args = parser.parse_args()
    home = args.home.resolve()
    if not (home / "lakehouse").is_dir():
        raise SystemExit(f"error: {home} is not an mlgov home (no lakehouse folder); make one first")
    if not CHROMIUM.is_file():
        raise SystemExit(f"error: {CHROMIUM} is missing: run `make browser`")
    passwords = _passwords(home)
    roles = [Role(value) for value in args.roles]

    info = machine()
    print(f"machine: {info}", flush=True)
    results: dict[str, Any] = {"sign_in_s": {}, "sign_in_new_browser_s": {}, "pages_s": {}}
    log = home.parent / f"{home.name}-bench-browser.log"
    started = time.perf_counter()
    with serve(home, log) as (url, started_s), sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        results["server_start_s"] = started_s
        print(f"  server start        {started_s:6.2f} s", flush=True)
        if not args.no_wait:
            results["warm_up_s"] = wait_for_warm_up(log, since=started)
            print(f"  warm-up             {results['warm_up_s']:6.2f} s", flush=True)
        first_user = USERS[roles[0]]
        page, results["first_sign_in_s"] = sign_in(new_context(browser), url, first_user, passwords[first_user])
        page.context.close()
        when = "while the server warms up" if args.no_wait else "after the warm-up"
        print(f"  first sign-in       {results['first_sign_in_s']:6.2f} s  ({when}, {first_user})", flush=True)
        if args.no_wait:
            wait_for_warm_up(log, since=started)
        for role in roles:
            user = USERS[role]
            screens = [s for s in Screen if s in screens_for({role})]
            sign_ins: list[float] = []
            new_browser: list[float] = []
            pages: dict[str, list[float]] = {TITLES[s]: [] for s in screens}
            returning = new_context(browser)
            for _ in range(args.runs):
                page, seconds = sign_in(new_context(browser), url, user, passwords[user])
                new_browser.append(seconds)
                page.context.close()
                page, seconds = sign_in(returning, url, user, passwords[user])
                sign_ins.append(seconds)
                page.close()
            returning.close()
            page, _ = sign_in(new_context(browser), url, user, passwords[user])
            for screen in screens:  # warm-up: each page's first visit reads what it caches
                open_page(page, TITLES[screen])
            for _ in range(args.runs):
                for screen in screens:
                    pages[TITLES[screen]].append(open_page(page, TITLES[screen]))
            page.context.close()
            results["sign_in_s"][role.value] = sign_ins
            results["sign_in_new_browser_s"][role.value] = new_browser
            results["pages_s"][role.value] = pages
            print(
                f"  {role.value:<9} sign-in median {median(sign_ins):5.2f} s  (new browser {median(new_browser):5.2f} s)",
                flush=True,
            )
            for title, seconds in pages.items():
                verdict = "ok" if median(seconds) < PAGE_GOAL_S else "OVER GOAL"
                print(
                    f"    {title:<20} median {median(seconds):5.2f} s  max {max(seconds):5.2f} s  {verdict}", flush=True
                )
        browser.close()

    summary = {
        "machine": info,
        "home": str(home),
        "runs": args.runs,
        "goals_s": {"sign_in": SIGN_IN_GOAL_S, "page": PAGE_GOAL_S},
        "results": results,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2))
    over = [f"sign-in of {r}" for r, s in results["sign_in_s"].items() if median(s) >= SIGN_IN_GOAL_S]
    over += [
        f"{title} for {role}"
        for role, pages in results["pages_s"].items()
        for title, seconds in pages.items()
        if median(seconds) >= PAGE_GOAL_S
    ]
    if over and not args.no_goals:
        raise SystemExit(f"over the goal: {', '.join(over)}")


if __name__ == "__main__":
    main()
