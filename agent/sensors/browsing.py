"""Browsing nudges as a sensor: a thin adapter around `agent.browsing`.

* Watches every browser profile the platform facade knows about (`agent.browsing.watch`),
  reads new visits from safe snapshots (`agent.browsing.reader`) and hands them to the
  `Nudger`, which shows nudges through `deliver` (the tray, when it registered one; the
  console log always) and remembers them in `nudges.db` in the state folder.
* Once per check-in interval (`tick`), queues the `nudge_outcomes` counts, the only thing this
  sensor sends unless the employee explicitly reports a miscategorised site (`choose`).
* The country the laptop is in: the server's view of its address (`ctx.location()`), else the
  time zone's country; the home country comes from the enrolment (`employee.home_country`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from agent.browsing.nudge_store import NudgeStore
from agent.browsing.nudger import Nudge, Nudger
from agent.browsing.profiles import Profile, discover
from agent.browsing.reader import HistoryReader
from agent.browsing.tzcountry import laptop_country
from agent.browsing.visits import SETTLE_SECONDS, Visit
from agent.browsing.watch import HistoryWatcher
from agent.events import Signal
from agent.sensors import Option, Sensor, SensorContext

NUDGES_DB = "nudges.db"


class _ContextCheckpoints:
    """The sensor context's checkpoints, in the shape `HistoryReader` expects."""

    def __init__(self, ctx: SensorContext) -> None:
        self.ctx = ctx

    def get_checkpoint(self, name: str, default: Any = None) -> Any:
        return self.ctx.checkpoint(name, default)

    def put_checkpoint(self, name: str, value: Any) -> None:
        self.ctx.save_checkpoint(name, value)


class BrowsingSensor(Sensor):
    """Reads browser history, nudges by category and country, counts outcomes."""

    name = "browsing"
    tick_seconds = 60.0
    options = (Option("enabled", bool, True, "Read browser history and show nudges."),
               Option("checkin_seconds", float, 60.0, "How often outcome counts are queued.",
                      from_bundle=lambda b: b.checkin.interval_seconds),)

    def __init__(self, *, home: Path | None = None, debounce: float = 2.0,
                 scan_interval: float = 300.0, settle: float = SETTLE_SECONDS,
                 tick_seconds: float | None = None,
                 deliver: Callable[[Nudge], None] | None = None,
                 use_watchdog: bool = True) -> None:
        self.home, self.debounce, self.scan_interval = home, debounce, scan_interval
        self.settle = settle
        self.use_watchdog, self.tray = use_watchdog, deliver
        self.fixed_tick = tick_seconds  # tests: queue counts this often, not per check-in
        if tick_seconds is not None:
            self.tick_seconds = tick_seconds
        self.ctx: SensorContext | None = None
        self.nudger: Nudger | None = None
        self.watcher: HistoryWatcher | None = None
        self.store: NudgeStore | None = None
        self._lock = threading.RLock()
        self.enabled, self.interval = True, 60.0
        self.shown = 0
        self.queued = 0

    def configure(self, options, updated) -> None:
        self.enabled = bool(options["enabled"])
        self.interval = float(options["checkin_seconds"])

    def start(self, ctx: SensorContext) -> None:
        self.ctx = ctx
        home = self.home or Path(ctx._host.store.home)  # the agent's state folder
        self.store = NudgeStore(home / NUDGES_DB)
        self.nudger = Nudger(self.store, bundle=ctx.bundle(),
                             home_country=self._home_country(ctx), deliver=self._deliver,
                             clock=ctx.clock)
        reader = HistoryReader(_ContextCheckpoints(ctx), settle=self.settle)
        self.watcher = HistoryWatcher(reader, self._on_visits, discover=self._profiles,
                                      debounce=self.debounce, scan_interval=self.scan_interval,
                                      use_watchdog=self.use_watchdog)
        self.watcher.start()

    @staticmethod
    def _home_country(ctx: SensorContext) -> str | None:
        from agent import enrolment

        found = enrolment.load(ctx._host.store)
        return (found.employee.get("home_country") or None) if found else None

    def _profiles(self) -> list[Profile]:
        return discover(self.ctx.platform.browser_profile_roots())

    def _deliver(self, nudge: Nudge) -> None:
        self.shown += 1
        self.ctx.log.warning("%s", nudge.text())  # the console log of a headless agent
        if self.tray is not None:
            self.tray(nudge)

    def _on_visits(self, _profile: Profile, visits: Sequence[Visit]) -> None:
        if not self.enabled:
            return
        country = laptop_country(self.ctx.location().get("country_code"))
        with self._lock:
            self.nudger.observe(visits, country=country)

    def on_signal(self, signal: Signal) -> None:
        if signal.name == "rules-applied" and self.nudger is not None:
            with self._lock:
                self.nudger.apply_bundle(self.ctx.bundle())

    def tick(self) -> float:
        with self._lock:
            pending = self.nudger.outgoing() if self.nudger is not None else None
            if pending is not None:
                event, batch = pending
                self.queued += self.ctx.emit(event)
                self.nudger.sent(batch)
        return self.fixed_tick or self.interval

    def choose(self, nudge_id: str, choice: str, *, send_report: bool = False) -> None:
        """The employee's answer from the tray; queues a report only if they chose to send."""
        with self._lock:
            events = self.nudger.choose(nudge_id, choice, send_report=send_report)
        if events:
            self.queued += self.ctx.emit(*events)

    def stop(self) -> None:
        if self.watcher is not None:
            self.watcher.stop()
            self.watcher = None
        if self.store is not None:
            self.store.close()
            self.store = None

    def status(self) -> dict[str, Any]:
        profiles = len(self.watcher.profiles) if self.watcher is not None else 0
        return {"profiles": profiles, "nudges_shown": self.shown,
                "outcome_events_queued": self.queued}
