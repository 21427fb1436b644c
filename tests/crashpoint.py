"""Run the mlgov command line and kill the process right after its Nth Delta commit, as kill -9 would.

    python -m tests.crashpoint N mlgov-arguments...

Exit code 137 means it was killed at commit N; any other code is the command's own (it made fewer
than N commits). The crash tests run every commit boundary of a job this way, then rerun the job.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from lakehouse.storage import Storage

KILLED = 137


def main() -> None:
    target, arguments = int(sys.argv[1]), sys.argv[2:]
    commits = 0
    write = Storage.write

    def write_then_maybe_die(self: Storage, *args: Any, **kwargs: Any) -> None:
        nonlocal commits
        write(self, *args, **kwargs)
        commits += 1
        if commits == target:
            os._exit(KILLED)  # no cleanup, no finally blocks: the process just stops

    Storage.write = write_then_maybe_die  # type: ignore[method-assign]
    from pipelines.cli import main as mlgov

    sys.argv = ["mlgov", *arguments]
    mlgov()


if __name__ == "__main__":
    main()
