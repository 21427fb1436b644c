"""What the server does once it starts, before anyone signs in: the work every first visit would
otherwise wait for.

Left to the first user, it made the first sign-in after a start take 20 s or more on a large
lakehouse: importing the stack the pages use, building the lakehouse context, folding the access
policy out of the audit chain (which reads every record once), and the Overview page's reads, where
every sign-in lands. The server does it in a thread of its own as soon as it starts, so it answers at
once; a sign-in that arrives meanwhile waits on the same locks instead of doing the work twice.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from governance.errors import MlgovError

THREAD = "mlgov-warm-up"
# Streamlit warns of every cached read outside a page's script run; the warm-up's are meant to be.
_SCRIPT_CONTEXT_LOGGER = "streamlit.runtime.scriptrunner_utils.script_run_context"


class _NotFromWarmUp(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.threadName != THREAD


def warm_up() -> None:
    """Import what the pages use, build the server's context and read what a first sign-in reads."""
    from app import charts, components, queries, services  # noqa: F401  (imported to have them loaded)
    from lakehouse.account_status import disabled_users
    from lakehouse.records import access_policy

    context = services.get_context()
    access_policy(context.ledger)
    disabled_users(context.ledger)
    home = services.lakehouse_key()
    queries.forget_reads_if_changed(home)
    queries.access_policy(home)
    queries.model_summaries(home)
    queries.drift_histories(home)


def _warm_up_and_say_so() -> None:
    started = time.perf_counter()
    try:
        warm_up()
    except Exception as problem:  # best effort: a page that reads the same meets the problem and says so
        said = str(problem) if isinstance(problem, MlgovError) else f"{type(problem).__name__}: {problem}"
        print(f"mlgov app: not warmed up: {said}", file=sys.stderr, flush=True)
        return
    print(f"mlgov app: warmed up in {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)


@asynccontextmanager
async def lifespan(_app: object) -> AsyncIterator[None]:
    """The server's lifespan (streamlit.starlette.App): start warming up, and answer meanwhile."""
    logging.getLogger(_SCRIPT_CONTEXT_LOGGER).addFilter(_NotFromWarmUp())
    threading.Thread(target=_warm_up_and_say_so, name=THREAD, daemon=True).start()
    yield
