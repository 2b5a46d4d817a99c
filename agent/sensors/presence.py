"""Presence: is someone at the laptop? Turns idle time, lock state and clock gaps into signals.

Publishes `idle-crossed` when input idle passes the bundle's seal threshold, `active` when
input resumes after that, `locked`/`unlocked` on lock changes, and `woke` (with
`slept_seconds`) when the clocks show the laptop slept. Unknown idle or lock (None from the
platform facade) never produces a signal: the agent does not pretend.

Polling adapts: while someone is active it checks again shortly before the threshold could be
reached (at most every `max_poll_seconds`); once idle it checks every `idle_poll_seconds` to
notice the return quickly.
"""

from __future__ import annotations

from typing import Any

from agent.events import ACTIVE, IDLE_CROSSED, LOCKED, UNLOCKED, WOKE, Signal
from agent.sensors import Option, Sensor, SensorContext


class PresenceSensor(Sensor):
    """Idle, lock and sleep/wake from the platform facade."""

    name = "presence"
    tick_seconds = 5.0
    options = (
        Option("idle_threshold_seconds", float, 300.0,
               "Input idle after which `idle-crossed` is published (bundle: seal).",
               from_bundle=lambda b: b.seal.idle_threshold_seconds),
        Option("idle_poll_seconds", float, 2.0, "Check interval once idle."),
        Option("max_poll_seconds", float, 10.0, "Longest interval between checks while "
               "active (also bounds how late a lock is noticed)."),
        Option("unknown_poll_seconds", float, 30.0, "Interval when neither idle nor lock "
               "can be observed."),
    )

    def __init__(self) -> None:
        self.threshold, self.idle_poll, self.max_poll, self.unknown_poll = 300.0, 2.0, 10.0, 30.0
        self.ctx: SensorContext | None = None
        self.idle_crossed = False
        self.locked: bool | None = None
        self.last_delay = 0.0
        self.asleep_since: float | None = None
        self.paused = False

    def configure(self, options, updated) -> None:
        self.threshold = float(options["idle_threshold_seconds"])
        self.idle_poll = float(options["idle_poll_seconds"])
        self.max_poll = float(options["max_poll_seconds"])
        self.unknown_poll = float(options["unknown_poll_seconds"])

    def start(self, ctx: SensorContext) -> None:
        self.ctx = ctx
        self.detector = ctx.platform.SleepDetector(wall=ctx.clock)
        self.last_delay = 0.0

    def on_signal(self, signal: Signal) -> None:
        if signal.name in ("scans-paused", "scans-resumed"):
            self.paused = signal.name == "scans-paused"

    def tick(self) -> float:
        ctx = self.ctx
        slept = self.detector.check(self.last_delay)
        if slept is not None:
            self.asleep_since = ctx.clock() - slept
            ctx.publish(WOKE, slept_seconds=round(slept, 1), asleep_since=self.asleep_since)
            ctx.set_state("asleep_since", self.asleep_since)  # cleared once a check-in sent it
        idle, locked = ctx.platform.idle_seconds(), ctx.platform.session_locked()
        self._lock_change(locked)
        if idle is not None:
            self._idle_change(idle)
        ctx.set_state("idle_seconds", None if idle is None else round(idle, 1))
        ctx.set_state("locked", locked)
        self.last_delay = self._next_delay(idle, locked)
        return self.last_delay

    def _lock_change(self, locked: bool | None) -> None:
        if locked is None or locked == self.locked:
            return
        first = self.locked is None
        self.locked = locked
        if locked or not first:  # an unlocked session at start-up is not news
            self.ctx.publish(LOCKED if locked else UNLOCKED)

    def _idle_change(self, idle: float) -> None:
        if not self.idle_crossed and idle >= self.threshold:
            self.idle_crossed = True
            self.ctx.publish(IDLE_CROSSED, idle_seconds=round(idle, 1),
                             threshold=self.threshold)
        elif self.idle_crossed and idle < self.threshold:
            self.idle_crossed = False
            self.ctx.publish(ACTIVE, idle_seconds=round(idle, 1))

    def _next_delay(self, idle: float | None, locked: bool | None) -> float:
        if idle is None and locked is None:
            delay = self.unknown_poll
        elif idle is None or self.idle_crossed:
            delay = self.idle_poll if self.idle_crossed else self.max_poll
        else:
            delay = min(self.max_poll, max(self.idle_poll, self.threshold - idle))
        return delay * (3 if self.paused else 1)

    def status(self) -> dict[str, Any]:
        return {"idle_crossed": self.idle_crossed, "threshold_seconds": self.threshold}
