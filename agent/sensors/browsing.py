"""Browsing nudges as a sensor: a thin adapter around `agent.browsing`.

* Watches every browser profile the platform facade knows about (`agent.browsing.watch`),
  reads new visits from safe snapshots (`agent.browsing.reader`) and hands them to the
  `Nudger`, which remembers nudges in `nudges.db` in the state folder and shows them: as a
  local notification of kind `nudge` on the tray's stream (`ctx.notify`, never sent to the
  server), and in the agent's log (a warning when no tray is listening: headless).
* The tray's choices come back through the local API (`POST /v1/nudges/{id}/choice`) to
  `choose`: "Got it", "Why am I seeing this?" (the explanation), "This site is
  miscategorised" (a report is queued only when the employee chose to send it), dismiss.
* Once per check-in interval (`tick`), queues the `nudge_outcomes` counts, the only thing this
  sensor sends unless the employee explicitly reports a miscategorised site.
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
from agent.local_notifications import NoHandler
from agent.sensors import Option, Sensor, SensorContext

NUDGES_DB = "nudges.db"
NUDGE_KIND = "nudge"
NOTICE_SECONDS = 3600.0  # an unanswered nudge leaves the tray after an hour: it is stale


def notification_of(nudge: Nudge) -> dict[str, Any]:
    """The local notification for the tray: the server notification's shape, kind `nudge`."""
    shown = nudge.as_dict()
    return {"id": nudge.id, "kind": NUDGE_KIND, "title": nudge.title, "body": nudge.message,
            "created_at": shown["shown_at"],
            "data": {k: shown[k] for k in ("host", "category", "country", "why", "choices")}}


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
        self.use_watchdog, self.on_nudge = use_watchdog, deliver  # tests and embedders
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
        home = self.home or ctx.state_dir
        self.store = NudgeStore(home / NUDGES_DB)
        self.nudger = Nudger(self.store, bundle=ctx.bundle(), home_country=ctx.home_country(),
                             deliver=self._deliver, clock=ctx.clock)
        ctx.answer_choices(NUDGE_KIND, self._answer)
        reader = HistoryReader(_ContextCheckpoints(ctx), settle=self.settle)
        self.watcher = HistoryWatcher(reader, self._on_visits, discover=self._profiles,
                                      debounce=self.debounce, scan_interval=self.scan_interval,
                                      use_watchdog=self.use_watchdog)
        self.watcher.start()

    def _profiles(self) -> list[Profile]:
        return discover(self.ctx.platform.browser_profile_roots())

    def _deliver(self, nudge: Nudge) -> None:
        # Called while the visit is already done: posting is in memory, nothing waits on it.
        self.shown += 1
        if self.ctx.notify(notification_of(nudge), keep_seconds=NOTICE_SECONDS):
            self.ctx.log.info("nudge %s shown in the tray: %s", nudge.id, nudge.text())
        else:
            self.ctx.log.warning("%s", nudge.text())  # headless: the log is where it shows
        if self.on_nudge is not None:
            self.on_nudge(nudge)

    def _on_visits(self, _profile: Profile, visits: Sequence[Visit]) -> None:
        if not self.enabled:
            return
        country = laptop_country(self.ctx.location().get("country_code"))
        with self._lock:
            if self.nudger is not None:  # None once stopped; the watcher may lag behind
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

    def choose(self, nudge_id: str, choice: str, *,
               send_report: bool = False) -> dict[str, Any]:
        """The employee's answer from the tray; queues a report only if they chose to send.

        Returns the reply for the tray: `id`, `choice`, `outcome` (so far, or None),
        `report_queued`, `open` (True after "why": the nudge stays shown) and, for "why",
        `explanation`. KeyError for an unknown (or purged) nudge, ValueError for an unknown
        choice, NoHandler while the sensor is not running."""
        with self._lock:
            if self.nudger is None:
                raise NoHandler("the browsing sensor is not running (restarting?)")
            events = self.nudger.choose(nudge_id, choice, send_report=send_report)
            record = self.store.get(nudge_id)
            reply = {"id": nudge_id, "choice": choice,
                     "outcome": record.outcome if record else None,
                     "report_queued": bool(events), "open": choice == "why"}
            if choice == "why":
                reply["explanation"] = self.nudger.explain(nudge_id)
        if events:
            self.queued += self.ctx.emit(*events)
        return reply

    def _answer(self, nudge_id: str, body: dict[str, Any]) -> dict[str, Any]:
        send = body.get("send_report", False)
        if not isinstance(send, bool):
            raise ValueError("send_report must be true or false")
        return self.choose(nudge_id, str(body.get("choice")), send_report=send)

    def stop(self) -> None:
        if self.watcher is not None:
            self.watcher.stop()
            self.watcher = None
        with self._lock:  # a choice arriving now gets "not running", not a closed database
            self.nudger = None
            if self.store is not None:
                self.store.close()
                self.store = None

    def status(self) -> dict[str, Any]:
        profiles = len(self.watcher.profiles) if self.watcher is not None else 0
        return {"profiles": profiles, "nudges_shown": self.shown,
                "outcome_events_queued": self.queued}
