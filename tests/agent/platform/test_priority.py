"""Reduced priority and allocator tuning: the real calls on this machine, and failures."""

from __future__ import annotations

import psutil

from agent.platform.base import SleepDetector
from agent.platform.priority import reduce_priority, release_memory, tune_allocator


class Refusing:
    """A process object whose priority cannot be changed (as for an unprivileged user)."""

    def nice(self, value):
        raise psutil.AccessDenied(pid=1)

    def ionice(self, value):
        raise psutil.AccessDenied(pid=1)


def test_refused_priority_changes_are_reported_not_raised():
    assert reduce_priority(Refusing(), "linux") == ["cpu priority unchanged (AccessDenied)",
                                                    "io priority unchanged (AccessDenied)"]


def test_allocator_tuning_on_this_machine():
    applied = tune_allocator("linux")
    assert applied in ("malloc arenas=2", "allocator unchanged")  # glibc, or musl/other libc
    assert tune_allocator("windows") == "allocator unchanged"
    release_memory("linux")  # must not fail whatever the libc


def test_sleep_detector_sees_a_wall_clock_gap_the_monotonic_clock_missed():
    wall, mono = [0.0], [0.0]
    detector = SleepDetector(threshold=30, wall=lambda: wall[0], mono=lambda: mono[0])
    wall[0] += 5
    mono[0] += 5
    assert detector.check(expected_interval=5) is None
    wall[0] += 3605  # suspended for an hour: the monotonic clock stood still
    mono[0] += 5
    assert detector.check(expected_interval=5) == 3600
    wall[0] += 600  # Windows: the monotonic clock counted the sleep, but the tick came late
    mono[0] += 600
    assert detector.check(expected_interval=5) == 595
