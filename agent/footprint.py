"""The footprint watchdog: the agent watches its own CPU and memory, like osquery's watchdog.

Every `sample()` measures CPU time used since the previous sample (as % of one core) and the
resident set size. When the last `window` samples are all over the CPU limit, or RSS is over
the memory limit, the watchdog enters *pressure*: the runtime doubles its intervals and
broadcasts `scans-paused` so sensors pause heavy work. When samples are back under the limits
for `window` samples, it broadcasts `scans-resumed`. Unlike osquery it never kills the agent:
protection keeps running, just slower.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Sample:
    """One measurement."""

    cpu_percent: float
    rss_bytes: int


class Footprint:
    """Own-process CPU/RSS meter with hysteresis; `process` is a psutil.Process (injectable)."""

    def __init__(self, process: Any = None, *, cpu_limit: float = 5.0,
                 rss_limit_mb: float = 150.0, window: int = 3,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if process is None:
            import psutil

            process = psutil.Process()
        self.process, self.clock = process, clock
        self.cpu_limit, self.rss_limit = cpu_limit, rss_limit_mb * 1024 * 1024
        self.window = window
        self.recent: deque[Sample] = deque(maxlen=window)
        self.pressure = False
        self.peak_rss = 0
        self._last = self._mark()
        self._checkin_mark = self._last

    def _mark(self) -> tuple[float, float]:
        times = self.process.cpu_times()
        return self.clock(), float(times.user + times.system)

    @staticmethod
    def _percent(earlier: tuple[float, float], later: tuple[float, float]) -> float:
        wall = later[0] - earlier[0]
        return max(0.0, (later[1] - earlier[1]) / wall * 100) if wall > 0 else 0.0

    def sample(self) -> str | None:
        """Measure; returns "scans-paused"/"scans-resumed" when the pressure state flips."""
        now = self._mark()
        rss = int(self.process.memory_info().rss)
        self.recent.append(Sample(self._percent(self._last, now), rss))
        self._last = now
        self.peak_rss = max(self.peak_rss, rss)
        over = [s.cpu_percent > self.cpu_limit or s.rss_bytes > self.rss_limit
                for s in self.recent]
        if not self.pressure and (rss > self.rss_limit or
                                  (len(over) == self.window and all(over))):
            self.pressure = True
            return "scans-paused"
        if self.pressure and len(over) == self.window and not any(over):
            self.pressure = False
            return "scans-resumed"
        return None

    @property
    def interval_factor(self) -> float:
        """Multiply intervals by this (2 under pressure)."""
        return 2.0 if self.pressure else 1.0

    def checkin_figures(self) -> dict[str, Any]:
        """CPU % averaged since the previous call and current RSS (the check-in `footprint`)."""
        now = self._mark()
        cpu = self._percent(self._checkin_mark, now)
        self._checkin_mark = now
        return {"cpu_percent": round(cpu, 3),
                "rss_bytes": int(self.process.memory_info().rss)}

    def status(self) -> dict[str, Any]:
        """For `heedful-agent status`."""
        last = self.recent[-1] if self.recent else None
        return {"cpu_percent": round(last.cpu_percent, 3) if last else None,
                "rss_bytes": last.rss_bytes if last else None,
                "peak_rss_bytes": self.peak_rss or None,
                "cpu_limit_percent": self.cpu_limit,
                "rss_limit_bytes": int(self.rss_limit), "backing_off": self.pressure}
