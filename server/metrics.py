"""A small Prometheus registry: counters and histograms with labels, text exposition format.

Each worker process has its own registry (scrape each worker, or run one worker per replica);
this keeps the hot path to a dict update under a lock, with no shared state between processes.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Iterable

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(names: tuple[str, ...], values: tuple[str, ...], extra: str = "") -> str:
    parts = [f'{n}="{_escape(v)}"' for n, v in zip(names, values, strict=True)]
    if extra:
        parts.append(extra)
    return "{" + ",".join(parts) + "}" if parts else ""


class Counter:
    """A monotonically increasing count per label combination."""

    def __init__(self, name: str, help_text: str, labels: Iterable[str] = ()) -> None:
        self.name, self.help, self.label_names = name, help_text, tuple(labels)
        self._values: dict[tuple[str, ...], float] = {}
        self._lock = threading.Lock()

    def inc(self, *label_values: str, amount: float = 1.0) -> None:
        """Add `amount` to the series for `label_values`."""
        with self._lock:
            self._values[label_values] = self._values.get(label_values, 0.0) + amount

    def value(self, *label_values: str) -> float:
        """Current value of one series (0 if never incremented)."""
        return self._values.get(label_values, 0.0)

    def render(self) -> list[str]:
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} counter"]
        with self._lock:
            items = sorted(self._values.items())
        lines += [f"{self.name}{_labels(self.label_names, k)} {v:g}" for k, v in items]
        return lines


class Histogram:
    """Observations counted into cumulative buckets, per label combination."""

    def __init__(self, name: str, help_text: str, labels: Iterable[str] = (),
                 buckets: tuple[float, ...] = LATENCY_BUCKETS) -> None:
        self.name, self.help, self.label_names = name, help_text, tuple(labels)
        self.buckets = buckets
        self._series: dict[tuple[str, ...], list[float]] = {}  # bucket counts..., sum, count
        self._lock = threading.Lock()

    def observe(self, value: float, *label_values: str) -> None:
        """Record one observation (e.g. seconds of latency)."""
        index = bisect.bisect_left(self.buckets, value)
        with self._lock:
            series = self._series.get(label_values)
            if series is None:
                series = self._series[label_values] = [0.0] * (len(self.buckets) + 2)
            if index < len(self.buckets):
                series[index] += 1
            series[-2] += value
            series[-1] += 1

    def count(self, *label_values: str) -> int:
        """Observations recorded for one series."""
        series = self._series.get(label_values)
        return int(series[-1]) if series else 0

    def render(self) -> list[str]:
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} histogram"]
        with self._lock:
            items = sorted((k, list(v)) for k, v in self._series.items())
        for key, series in items:
            cumulative = 0.0
            for bound, count in zip(self.buckets, series, strict=False):
                cumulative += count
                le = f'le="{bound:g}"'
                lines.append(f"{self.name}_bucket{_labels(self.label_names, key, le)} "
                             f"{cumulative:g}")
            labels = _labels(self.label_names, key)
            inf = _labels(self.label_names, key, 'le="+Inf"')
            lines.append(f"{self.name}_bucket{inf} {series[-1]:g}")
            lines.append(f"{self.name}_sum{labels} {series[-2]:.6f}")
            lines.append(f"{self.name}_count{labels} {series[-1]:g}")
        return lines


class Registry:
    """The metrics of one app instance."""

    def __init__(self) -> None:
        self.requests = Counter("heedful_http_requests_total", "HTTP requests by route, "
                                "method and status.", ("route", "method", "status"))
        self.latency = Histogram("heedful_http_request_duration_seconds", "HTTP request "
                                 "latency by route and method.", ("route", "method"))
        self.checkins = Counter("heedful_checkins_total", "Successful agent check-ins.")
        self.checkin_batches = Counter(
            "heedful_checkin_batches_total", "Statements that wrote check-ins together "
            "(PostgreSQL); the check-ins they wrote, divided by this, is the mean batch size.")
        self.checkins_batched = Counter("heedful_checkins_batched_total",
                                        "Check-ins written by those statements.")
        self.events = Counter("heedful_agent_events_total", "Agent events received, by "
                              "whether they were new or a resent duplicate.", ("outcome",))
        self.enrollments = Counter("heedful_enrollments_total", "Enrolment attempts by result.",
                                   ("result",))

    def count_checkin_batch(self, size: int) -> None:
        """One statement wrote `size` check-ins together."""
        self.checkin_batches.inc()
        self.checkins_batched.inc(amount=size)

    def render(self) -> str:
        """Every metric in the Prometheus text exposition format (version 0.0.4)."""
        lines: list[str] = []
        for metric in (self.requests, self.latency, self.checkins, self.checkin_batches,
                       self.checkins_batched, self.events, self.enrollments):
            lines += metric.render()
        return "\n".join(lines) + "\n"
