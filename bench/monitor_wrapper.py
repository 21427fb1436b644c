"""`mlgov` with one part of `mlgov monitor` switched off or timed, for the benchmarks that weigh that part
against the whole command (the product has no switch for either):

    python bench/monitor_wrapper.py no-alerts monitor MODEL --json     # alert evaluation a no-op
    python bench/monitor_wrapper.py no-segments monitor MODEL --json   # no segment or fairness calculator
    python bench/monitor_wrapper.py timed monitor MODEL --json         # seconds per calculator and for alerts

Otherwise it is the installed `mlgov` script: the same entry point, started the same way. `timed`
prints `MONITOR_SECONDS={"wall": {...}, "cpu": {...}}` on stderr at exit: the wall-clock and CPU
seconds (the process's, every thread) of each calculator's `pending` + `rows` (its computation, not its
table's commit) and of `alert_on_monitoring` (rules, firing, delivery, commits).
"""

from __future__ import annotations

import atexit
import json
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

SECONDS_PREFIX = "MONITOR_SECONDS="
MODES = ("no-alerts", "no-segments", "timed")


class _Clock:
    """Wall-clock and CPU seconds spent under each name."""

    def __init__(self) -> None:
        self.wall: dict[str, float] = defaultdict(float)
        self.cpu: dict[str, float] = defaultdict(float)

    def timed(self, name: str, call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            return call(*args, **kwargs)
        finally:
            self.wall[name] += time.perf_counter() - wall
            self.cpu[name] += time.process_time() - cpu


class _TimedCalculator:
    def __init__(self, inner: Any, clock: _Clock) -> None:
        self._inner, self._clock = inner, clock
        self.name, self.table = inner.name, inner.table

    def pending(self, batches: Any) -> Any:
        return self._clock.timed(self.name, self._inner.pending, batches)

    def rows(self, batch: dict[str, Any]) -> Any:
        return self._clock.timed(self.name, self._inner.rows, batch)


def _time_monitor() -> None:
    import pipelines.jobs.monitor as monitor

    clock = _Clock()
    calculators_for, alert_on_monitoring = monitor.calculators_for, monitor.alert_on_monitoring

    def timed_calculators(*args: Any, **kwargs: Any) -> list[Any]:
        return [_TimedCalculator(c, clock) for c in calculators_for(*args, **kwargs)]

    def timed_alerts(*args: Any, **kwargs: Any) -> Any:
        return clock.timed("alerts", alert_on_monitoring, *args, **kwargs)

    monitor.calculators_for = timed_calculators
    monitor.alert_on_monitoring = timed_alerts
    atexit.register(lambda: print(SECONDS_PREFIX + json.dumps({"wall": clock.wall, "cpu": clock.cpu}), file=sys.stderr))


def main() -> None:
    mode = sys.argv.pop(1)
    if mode == "no-alerts":
        import pipelines.jobs.monitor as monitor
        from pipelines.jobs.alerts import AlertOutcome

        monitor.alert_on_monitoring = lambda *args, **kwargs: AlertOutcome()
    elif mode == "no-segments":
        import pipelines.jobs.segment_calculators as segment_calculators

        segment_calculators.segment_calculators = lambda *args: []
    elif mode == "timed":
        _time_monitor()
    else:
        raise SystemExit(f"mode {mode!r}: expected one of {', '.join(MODES)}")
    from pipelines.cli import main as mlgov

    sys.argv[0] = "mlgov"
    mlgov()


def seconds_from(stderr: str) -> dict[str, dict[str, float]]:
    """The seconds a `timed` run printed: {"wall": {name: s}, "cpu": {name: s}}."""
    lines = [line for line in stderr.splitlines() if line.startswith(SECONDS_PREFIX)]
    return json.loads(lines[-1].removeprefix(SECONDS_PREFIX)) if lines else {}


if __name__ == "__main__":
    main()
