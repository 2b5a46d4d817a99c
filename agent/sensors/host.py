"""The sensor supervisor: one thread per sensor, signals in order, restart with backoff."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from agent.events import Signal
from agent.local_requests import LocalRequests
from agent.sensors import Sensor, SensorContext

log = logging.getLogger("agent.sensors")
BACKOFF_START, BACKOFF_MAX = 1.0, 300.0
STABLE_AFTER = 600.0  # running this long without a crash resets the backoff


class _Configure:
    """Inbox message: new option values."""

    def __init__(self, values: dict[str, Any], updated: set[str]) -> None:
        self.values, self.updated = values, updated


class _Crash(Exception):
    """Inbox message turned exception: a sensor-owned thread failed."""


class _Slot:
    """One supervised sensor: its thread, inbox and crash bookkeeping."""

    def __init__(self, sensor: Sensor, ctx: SensorContext) -> None:
        self.sensor, self.ctx = sensor, ctx
        self.inbox: queue.Queue[Any] = queue.Queue()
        self.thread: threading.Thread | None = None
        self.state = "new"
        self.crashes = 0
        self.last_error = ""
        self.values: dict[str, Any] = {}


class SensorHost:
    """Runs sensors, routes signals between them, and keeps the shared live state."""

    def __init__(self, sensors: list[Sensor], *, store: Any, outbox: Any, platform: Any,
                 settings: Any, clock: Callable[[], float] = time.time,
                 backoff_start: float = BACKOFF_START) -> None:
        self.store, self.outbox, self.clock = store, outbox, clock
        self.backoff_start = backoff_start
        self.bundle: Any = None
        self.location: dict[str, Any] | None = None
        self.live: dict[str, Any] = {}
        self.listeners: list[Callable[[Signal], None]] = []
        self.on_emitted: Callable[[int], None] | None = None  # set by the runtime
        self.notifications: Any = None  # set by the runtime: the tray's stream (ctx.notify)
        self.requests = LocalRequests()  # the tray's requests to running sensors (local API)
        self._stopping = threading.Event()
        self._slots = {s.name: _Slot(s, SensorContext(name=s.name, host=self, platform=platform,
                                                       settings=settings, clock=clock))
                       for s in sensors}

    # -- used by sensors through their context ---------------------------------------------
    def publish(self, signal: Signal, source: str | None = None) -> None:
        """Deliver `signal` to every sensor but its source, then to the listeners."""
        for name, slot in self._slots.items():
            if name != source:
                slot.inbox.put(signal)
        for listener in list(self.listeners):
            try:
                listener(signal)
            except Exception:
                log.exception("signal listener failed on %s", signal.name)

    def set_state(self, key: str, value: Any) -> None:
        """Shared live state (idle seconds, lock, seal counters) for check-ins and status."""
        self.live[key] = value

    def report_crash(self, name: str, exc: BaseException) -> None:
        """A sensor's own thread failed: make the sensor's supervisor restart it."""
        self._slots[name].inbox.put(_Crash(f"{exc.__class__.__name__}: {exc}"))

    # -- used by the runtime ----------------------------------------------------------------
    def start(self, bundle: Any) -> None:
        """Configure every sensor from `bundle` and start its thread."""
        self.bundle = bundle
        for slot in self._slots.values():
            slot.values = {o.name: o.value(bundle) for o in slot.sensor.options}
            slot.thread = threading.Thread(target=self._run, args=(slot,), daemon=True,
                                           name=f"sensor-{slot.sensor.name}")
            slot.thread.start()

    def apply_bundle(self, bundle: Any) -> None:
        """Reconfigure sensors whose options changed, then broadcast `rules-applied`."""
        self.bundle = bundle
        for slot in self._slots.values():
            values = {o.name: o.value(bundle) for o in slot.sensor.options}
            updated = {k for k, v in values.items() if slot.values.get(k) != v}
            slot.values = values
            if updated:
                slot.inbox.put(_Configure(values, updated))
        self.publish(Signal("rules-applied", {"version": getattr(bundle, "version", None)}))

    def stop(self, timeout: float = 5.0) -> None:
        """Stop every sensor (each gets `stop()`), waiting up to `timeout` in total."""
        self._stopping.set()
        for slot in self._slots.values():
            slot.inbox.put(None)
        deadline = self.clock() + timeout
        for slot in self._slots.values():
            if slot.thread:
                slot.thread.join(max(0.0, deadline - self.clock()))

    def status(self) -> list[dict[str, Any]]:
        """Per sensor: state (running, backoff, stopped), crashes, last error, own facts."""
        out = []
        for slot in self._slots.values():
            try:
                own = slot.sensor.status()
            except Exception as exc:
                own = {"status_error": str(exc)}
            out.append({"name": slot.sensor.name, "state": slot.state,
                        "crashes": slot.crashes, "last_error": slot.last_error, **own})
        return out

    # -- the supervisor loop ----------------------------------------------------------------
    def _run(self, slot: _Slot) -> None:
        while not self._stopping.is_set():
            started = time.monotonic()
            try:
                self._serve(slot)
                return  # clean stop
            except Exception as exc:
                slot.last_error = f"{exc.__class__.__name__}: {exc}"
                log.exception("sensor %s crashed; restarting with backoff", slot.sensor.name)
            self._safe_stop(slot)
            if time.monotonic() - started > STABLE_AFTER:
                slot.crashes = 0
            slot.crashes += 1
            slot.state = "backoff"
            delay = min(BACKOFF_MAX, self.backoff_start * 2 ** (slot.crashes - 1))
            if self._stopping.wait(delay):
                break
        slot.state = "stopped"

    def _serve(self, slot: _Slot) -> None:
        sensor = slot.sensor
        sensor.configure(dict(slot.values), set(slot.values))
        sensor.start(slot.ctx)
        slot.state = "running"
        next_tick = time.monotonic() if sensor.tick_seconds is not None else None
        while True:
            timeout = None if next_tick is None else max(0.0, next_tick - time.monotonic())
            try:
                item = slot.inbox.get(timeout=timeout)
            except queue.Empty:
                item = "tick"
            if item is None:
                self._safe_stop(slot)
                slot.state = "stopped"
                return
            if isinstance(item, _Crash):
                raise item
            if isinstance(item, _Configure):
                sensor.configure(dict(item.values), item.updated)
            elif isinstance(item, Signal):
                sensor.on_signal(item)
            if next_tick is not None and time.monotonic() >= next_tick:
                delay = sensor.tick()
                next_tick = time.monotonic() + (delay if delay is not None
                                                else sensor.tick_seconds)

    def _safe_stop(self, slot: _Slot) -> None:
        self.requests.withdraw(slot.sensor.name)  # the tray now hears "not running"
        try:
            slot.sensor.stop()
        except Exception:
            log.exception("sensor %s failed to stop cleanly", slot.sensor.name)
