"""Sensors: small components, one per file, that watch something and emit events.

The shape follows mitmproxy's addons. A sensor is a subclass of `Sensor` that

1. declares its **options** (`options = (Option(...), ...)`), each with a type, a default, a
   help text and optionally `from_bundle`, a function picking its value out of the signed rule
   bundle (`rules.model.Bundle`);
2. is **configured**: `configure(options, updated)` is called before `start` and again with
   the names that changed whenever a new bundle is applied;
3. is **started** with a `SensorContext` (`start(ctx)`) and **stopped** (`stop()`);
4. **reacts**: `on_signal(signal)` for broadcast signals (names in `agent.events.SIGNALS`:
   `idle-crossed`, `active`, `locked`, `unlocked`, `about-to-sleep`, `woke`,
   `rules-applied`, `location-changed`, `scans-paused`, `scans-resumed`), and `tick()` every
   `tick_seconds` (a tick may return the delay until the next one);
5. **emits**: `ctx.emit(Event(...))` queues an event for the server in the durable outbox,
   `ctx.publish(name, **data)` broadcasts a signal to the other sensors, `ctx.set_state(key,
   value)` puts a value in the check-in state and `status` (e.g. `seal` counters);
   `ctx.notify(item)` shows a local notification in the tray (never sent to the server) and
   `ctx.answer_choices(kind, handler)` receives the tray's choices on them;
   `ctx.answer_requests(name, handler)` answers a local API request of the tray (e.g. the seal
   sensor's `seal.now`) while the sensor runs.

A sensor keeps its own files in `ctx.state_dir` (the agent's private state folder);
`ctx.home_country()` is the employee's home country from the enrolment.

Each sensor runs in its own thread and receives its signals in order. A sensor that raises
(in any method, or from a thread started with `ctx.spawn`) is logged, stopped and restarted
with exponential backoff (1 s doubling up to 5 min) while the other sensors carry on. Handlers
should return quickly; long work belongs in `ctx.spawn`.

Add a sensor: write `agent/sensors/<name>.py` with one `Sensor` subclass and add it to
`default_sensors()` below. While `scans-paused` is in force (the footprint watchdog found the
agent too heavy), skip or slow down heavy work until `scans-resumed`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from agent.events import Event, Signal


@dataclass(frozen=True)
class Option:
    """One declared sensor option.

    `from_bundle` maps the rule bundle to the value (None: the option is not policy and keeps
    its default unless the sensor reads an agent setting).
    """

    name: str
    type: type
    default: Any
    help: str
    from_bundle: Callable[[Any], Any] | None = None

    def value(self, bundle: Any) -> Any:
        """This option's value under `bundle` (the default when the bundle has no say)."""
        if self.from_bundle is None or bundle is None:
            return self.default
        return self.type(self.from_bundle(bundle))


class SensorContext:
    """What a running sensor may use; created by the host, one per sensor."""

    def __init__(self, *, name: str, host: Any, platform: Any, settings: Any,
                 clock: Callable[[], float]) -> None:
        self.name, self.platform, self.settings, self.clock = name, platform, settings, clock
        self._host = host
        self.log = logging.getLogger(f"agent.sensors.{name}")

    def emit(self, *events: Event) -> int:
        """Queue events for the server (durable before this returns); returns how many new."""
        added = self._host.outbox.put_many(events)
        if added and self._host.on_emitted:
            self._host.on_emitted(added)
        return added

    def publish(self, name: str, **data: Any) -> None:
        """Broadcast a signal to the other sensors and the runtime."""
        self._host.publish(Signal(name, data), source=self.name)

    def set_state(self, key: str, value: Any) -> None:
        """Expose a value in the check-in `state` and in `status` under `key`."""
        self._host.set_state(key, value)

    def checkpoint(self, key: str, default: Any = None) -> Any:
        """This sensor's persisted checkpoint `key` (namespaced by the sensor's name)."""
        return self._host.store.get_checkpoint(f"{self.name}:{key}", default)

    def save_checkpoint(self, key: str, value: Any) -> None:
        """Persist a checkpoint; save it *after* emitting the events it covers."""
        self._host.store.put_checkpoint(f"{self.name}:{key}", value)

    def bundle(self) -> Any:
        """The rule bundle in force."""
        return self._host.bundle

    def location(self) -> dict[str, Any]:
        """Where the server last saw the laptop (`country_code`, `city`, ...), or {}."""
        return dict(self._host.location or {})

    @property
    def state_dir(self) -> Path:
        """The agent's private state folder (0700), where a sensor may keep its own files."""
        return Path(self._host.store.home)

    def home_country(self) -> str | None:
        """The employee's home country (ISO alpha-2) from the enrolment, or None."""
        from agent import enrolment

        found = enrolment.load(self._host.store)
        return (found.employee.get("home_country") or None) if found else None

    def notify(self, item: dict[str, Any], *, keep_seconds: float = 3600.0) -> bool:
        """Show `item` (`id`, `kind`, `title`, `body`, `data`) in the tray for up to
        `keep_seconds`; it never leaves the laptop. True when a tray is listening; False
        when the agent runs headless (then the log is the only place it shows)."""
        local = getattr(self._host.notifications, "local", None)
        if local is None:  # a host without the runtime's notification stream
            return False
        local.post(item, keep_seconds=keep_seconds)
        return local.tray_connected()

    def answer_choices(self, kind: str, handler: Callable[[str, dict[str, Any]],
                                                          dict[str, Any]]) -> None:
        """Receive the tray's choices on local notifications of `kind`: `handler(id, body)`
        returns the reply (`"open": True` keeps the notification on the stream)."""
        local = getattr(self._host.notifications, "local", None)
        if local is not None:
            local.handle(kind, handler)

    def answer_requests(self, name: str,
                        handler: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
        """Answer the tray's local API request `name` (`handler(body)` returns the reply, on
        the API's thread) until this sensor stops or crashes; then the tray is told the
        sensor is not running (agent.local_requests)."""
        requests = getattr(self._host, "requests", None)
        if requests is not None:
            requests.handle(name, handler, owner=self.name)

    def spawn(self, target: Callable[[], None], name: str = "") -> threading.Thread:
        """Run `target` in a daemon thread; an exception there counts as this sensor's crash."""
        def guarded() -> None:
            try:
                target()
            except Exception as exc:  # reported to the supervisor, which restarts the sensor
                self.fail(exc)

        thread = threading.Thread(target=guarded, name=f"sensor-{self.name}-{name}",
                                  daemon=True)
        thread.start()
        return thread

    def fail(self, exc: BaseException) -> None:
        """Report a crash from a thread of this sensor's own."""
        self._host.report_crash(self.name, exc)


class Sensor:
    """Base class of every sensor; override what you need (all methods are optional)."""

    name: ClassVar[str] = ""
    options: ClassVar[tuple[Option, ...]] = ()
    tick_seconds: ClassVar[float | None] = None

    def configure(self, options: Mapping[str, Any], updated: set[str]) -> None:
        """Take option values; `updated` names those that changed (all of them at first)."""

    def start(self, ctx: SensorContext) -> None:
        """Begin watching. Keep `ctx` to emit and publish."""

    def tick(self) -> float | None:
        """Periodic work; may return the delay in seconds until the next tick."""
        return None

    def on_signal(self, signal: Signal) -> None:
        """React to a broadcast signal."""

    def stop(self) -> None:
        """Stop watching and release resources; must be safe to call twice."""

    def status(self) -> dict[str, Any]:
        """Extra facts for `heedful-agent status` (JSON-friendly)."""
        return {}


def default_sensors() -> list[Sensor]:
    """The sensors the agent runs (issues 6 and 7 add seal-on-idle and browsing nudges)."""
    from agent.sensors.browsing import BrowsingSensor
    from agent.sensors.presence import PresenceSensor
    from agent.sensors.seal import SealSensor
    from agent.sensors.signins import LaptopSigninsSensor

    return [PresenceSensor(), LaptopSigninsSensor(), BrowsingSensor(), SealSensor()]
