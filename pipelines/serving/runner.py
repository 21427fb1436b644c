"""Running the server: uvicorn on one process, or N worker processes sharing one listening socket.

Each worker is a whole server (its own version watch, log and shadow), as behind a load balancer; the
inference table takes their commits side by side (blind Delta appends never conflict).
"""

from __future__ import annotations

import multiprocessing
import signal
import socket
import sys
from collections.abc import Callable
from types import FrameType

import uvicorn

from pipelines.context import Context, build_context
from pipelines.serving.app import ServeOptions, Serving, build_app


def serve(
    options: ServeOptions,
    *,
    host: str,
    port: int,
    workers: int,
    ctx: Context,
    announce: Callable[[str], None],
) -> None:
    """Serve until interrupted (SIGINT, SIGTERM: graceful, the log flushed). Refuses to start (raises)
    when the champion cannot be resolved or verified."""
    serving = Serving(ctx, options)
    replayed = serving.open()
    if replayed:
        announce(f"replayed {replayed} answers a stopped server left in its log")
    champion = serving.watch.champion
    assert champion is not None
    announce(f"serving {options.model} version {champion.version} on http://{host}:{port} ({workers} workers)")
    if workers == 1:
        _run(serving, sockets=None, host=host, port=port)
        return
    serving.log.close()  # the workers open logs of their own
    listener = socket.create_server((host, port), reuse_port=False)
    listener.set_inheritable(True)
    spawn = multiprocessing.get_context("spawn")
    processes = [spawn.Process(target=_worker, args=(options, listener), daemon=False) for _ in range(workers)]
    for process in processes:
        process.start()

    def forward(signum: int, frame: FrameType | None) -> None:
        for process in processes:
            if process.is_alive() and process.pid is not None:
                process.terminate()

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    for process in processes:
        process.join()
    listener.close()
    if any(process.exitcode not in (0, -signal.SIGTERM) for process in processes):
        sys.exit(1)


def _worker(options: ServeOptions, listener: socket.socket) -> None:
    serving = Serving(build_context(), options)
    serving.open()
    _run(serving, sockets=[listener], host="", port=0)


def _run(serving: Serving, *, sockets: list[socket.socket] | None, host: str, port: int) -> None:
    config = uvicorn.Config(
        build_app(serving),
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=30,
    )
    uvicorn.Server(config).run(sockets=sockets)
