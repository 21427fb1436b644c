"""Browser end-to-end harness: `mlgov app` on loopback over a seeded lakehouse, driven by Debian's chromium.

Each pytest process (each xdist worker) serves one copy of the session's seeded lakehouse and launches
one browser; every test gets a fresh browser context. A test that changes the lakehouse through the UI
should serve its own copy with `serve_app` rather than write to the shared `app_server`.

Playwright cannot download its own browser here, so it drives /usr/bin/chromium (`make browser`).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Locator, Page, Playwright, expect, sync_playwright

from pipelines.jobs.users import add_user, set_password
from tests.browser import CHROMIUM, CHROMIUM_ARGS
from tests.conftest import ADMIN, Seeded, context_for
from tests.servers import clean_environment, free_port, stop_process_group

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
SCREENSHOTS = REPO / "docs" / "screenshots"
SERVER_START_SECONDS = 60
PAGE_TIMEOUT_MS = 30_000
# A fresh server's first run imports the whole stack (MLflow, Evidently, ...): 10-20 s on a busy machine.
SCRIPT_RUN_TIMEOUT_MS = 90_000
# A page waits as long for an `expect` as for an action: 5 s (Playwright's default) is short on a busy machine.
expect.set_options(timeout=PAGE_TIMEOUT_MS)


@dataclass(frozen=True)
class ServedApp:
    """A running `mlgov app`: where to reach it, what it serves, and where it logs."""

    url: str
    home: Path
    log: Path


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Every test under tests/e2e is an e2e test, including the ones added later for other pages.
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(pytest.mark.e2e)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    # A failing browser test usually needs the server's side of the story: attach its log.
    report = yield
    served = getattr(item, "funcargs", {}).get("app_server")
    if report.failed and isinstance(served, ServedApp) and served.log.is_file():
        report.sections.append(("mlgov app log", _log_tail(served.log)))
    return report


def _server_environment(home: Path, extra: Mapping[str, str]) -> dict[str, str]:
    # Settings reject unknown MLGOV_* keys, and an MLFLOW_TRACKING_URI exported by the seeding in this
    # process would point the server at the template's registry: start from an environment without them.
    environ = clean_environment(also=("STREAMLIT_",))
    environ |= {
        "MLGOV_HOME": str(home),
        "STREAMLIT_SERVER_FILE_WATCHER_TYPE": "none",  # nothing edits the scripts during a run; save the CPU
        "PYTHONUNBUFFERED": "1",
        **extra,
    }
    return environ


def _healthy(url: str) -> bool:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"{url}/_stcore/health", timeout=2) as response:
            return bool(response.status == 200 and response.read().strip() == b"ok")
    except (OSError, urllib.error.URLError):
        return False


def _log_tail(log: Path, lines: int = 40) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


def _app_command(port: int) -> list[str]:
    # `mlgov app` itself, through the CLI of this interpreter (no reliance on a console script on PATH).
    cli = "from pipelines.cli import main; main()"
    return [sys.executable, "-c", cli, "app", "--port", str(port), "--address", "127.0.0.1"]


@contextmanager
def serve_app(home: Path, *, log: Path, env: Mapping[str, str] | None = None) -> Iterator[ServedApp]:
    """Serve `mlgov app` for lakehouse `home` on a free loopback port until the block ends.

    `env` adds settings for this server (e.g. MLGOV_* options). Fails the test, with the server's log,
    when the app does not answer its health check within SERVER_START_SECONDS.
    """
    environ = _server_environment(home, env or {})
    attempts = 3  # a free port can be taken by another process between choosing it and binding it
    for attempt in range(1, attempts + 1):
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        with log.open("ab") as out:
            out.write(f"--- mlgov app on {url} (attempt {attempt})\n".encode())
            out.flush()
            logged_before = out.tell()
            process = subprocess.Popen(
                _app_command(port),
                cwd=REPO,  # the repository's .streamlit/config.toml applies, as with `make run`
                env=environ,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            deadline = time.monotonic() + SERVER_START_SECONDS
            while process.poll() is None and time.monotonic() < deadline and not _healthy(url):
                time.sleep(0.25)
            if process.poll() is None and _healthy(url):
                yield ServedApp(url=url, home=home, log=log)
                return
            returncode = process.poll()  # None: still starting when the time ran out
        finally:
            stop_process_group(process)
        with log.open("rb") as logged:
            logged.seek(logged_before)
            port_taken = f"Port {port} is not available".encode() in logged.read()
        if not port_taken or attempt == attempts:
            reason = f"not healthy after {SERVER_START_SECONDS}s" if returncode is None else f"exited with {returncode}"
            pytest.fail(f"mlgov app on {url} {reason}; its log ({log}):\n{_log_tail(log)}", pytrace=False)


@contextmanager
def serve_seeded_copy(template: Seeded, folder: Path, *, passwords: Mapping[str, str]) -> Iterator[ServedApp]:
    """`mlgov app` over a copy of the seeded lakehouse in `folder`, where each user of `passwords` signs
    in with theirs (the admin is given a password first, as it sets the others')."""
    home = folder / "home"
    shutil.copytree(template.home, home)
    ctx = context_for(home)
    add_user(ctx, user=ADMIN, role="admin", password=passwords.get(ADMIN, "Admin-Password-For-Tests-1"), actor=ADMIN)
    for user, password in passwords.items():
        if user != ADMIN:
            set_password(ctx, user=user, password=password, actor=ADMIN)
    with serve_app(home, log=folder / "server.log") as served:
        yield served


@pytest.fixture(scope="session")
def app_server(seeded_template: Seeded, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedApp]:
    """`mlgov app` over this worker's own copy of the seeded lakehouse, for the whole session."""
    folder = tmp_path_factory.mktemp("e2e")
    home = folder / "home"
    shutil.copytree(seeded_template.home, home)
    with serve_app(home, log=folder / "server.log") as served:
        yield served


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} is missing: run `make browser` to install Debian's chromium", pytrace=False)
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    context.set_default_timeout(PAGE_TIMEOUT_MS)
    page = context.new_page()
    yield page
    context.close()


def wait_for_app(page: Page, *, settle_ms: int = 250) -> None:
    """Wait until Streamlit is connected and has finished running the page's script.

    After a click, call it again: the pause first lets the rerun the click requested begin, since the
    script state reads "notRunning" until the server reports the new run.
    """
    page.wait_for_timeout(settle_ms)
    app = '[data-testid="stApp"]'
    page.wait_for_selector(f'{app}[data-test-connection-state="CONNECTED"]', state="attached")
    page.wait_for_selector(
        f'{app}[data-test-script-state="notRunning"]', state="attached", timeout=SCRIPT_RUN_TIMEOUT_MS
    )
    page.wait_for_selector('[data-testid="stStatusWidget"] >> text=Running...', state="detached")


def sign_in(page: Page, app: ServedApp, user: str, password: str, *, path: str = "/") -> None:
    """Open `path` (the gate sends a browser without a session to the sign-in form), sign in there,
    and wait for the signed-in sidebar of the page the form returns to."""
    page.goto(app.url + path)
    expect(page.get_by_role("heading", name="Sign in to mlgov")).to_be_visible()
    page.get_by_role("textbox", name="User name").fill(user)
    page.get_by_role("textbox", name="Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    wait_for_app(page)
    expect(page.get_by_text(f"Signed in as {user}")).to_be_visible()


def open_page(page: Page, title: str) -> None:
    """Open a page from the sidebar menu and wait for its heading."""
    page.get_by_test_id("stSidebarNav").get_by_role("link", name=title).click()
    wait_for_app(page)
    expect(page.get_by_role("heading", name=title, exact=True)).to_be_visible()


def no_failure(page: Page) -> None:
    """Neither a traceback nor an error message on the page."""
    expect(page.get_by_test_id("stException")).to_have_count(0)
    expect(page.get_by_test_id("stAlertContentError")).to_have_count(0)


def whole_page_screenshot(page: Page, name: str, *, height: int | None = None) -> Path:
    """A screenshot of the whole page: Streamlit scrolls inside its main block, so a "full page" shot
    holds one viewport; grow the viewport to the content (or to `height`) for the shot."""
    wait_for_app(page)
    main = page.get_by_test_id("stMain")
    tall = height or max(900, int(main.evaluate("main => main.scrollHeight")))
    page.set_viewport_size({"width": 1440, "height": tall})
    try:
        expect(page.get_by_test_id("stToast")).to_have_count(0)  # a toast fades after a few seconds
        page.wait_for_timeout(1000)  # charts re-lay themselves out for the new size
        main.evaluate("main => main.scrollTo(0, 0)")
        return screenshot(page, name)
    finally:
        page.set_viewport_size({"width": 1440, "height": 900})


def screenshot(page: Page, name: str, *, streamlit: bool = True) -> Path:
    """Save a full-page PNG as docs/screenshots/<name>.png, once the app (unless the page is the server's
    own, such as the sign-in form) and its web fonts have settled."""
    if streamlit:
        wait_for_app(page)
    page.evaluate("document.fonts.ready")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True, animations="disabled")
    return path


def dataframe_cells(frame: Locator, text: str) -> Locator:
    """The cells of an `st.dataframe` whose whole text is `text`.

    Streamlit draws dataframes on a canvas: the cell text exists only in the grid's accessibility
    table inside it, written shortly after the frame appears and never "visible" to Playwright, so
    expect counts or text on these (they retry), not visibility. Only rendered rows are present.
    """
    return frame.locator('td[role="gridcell"]').filter(has_text=re.compile(rf"^\s*{re.escape(text)}\s*$"))
