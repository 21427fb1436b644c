"""The browser the e2e tests and bench/bench_browser.py drive: Debian's chromium, with the flags that keep
it from calling out (Playwright cannot download its own browser here)."""

from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
# Without the background-networking flags Chromium's own outbound calls are refused here and it stalls.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-proxy-server",  # the app is on loopback; a proxy in the environment must not see it
]
