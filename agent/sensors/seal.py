"""Seal on idle as a sensor: a thin adapter around `agent.seal.service.SealService`.

Signals drive it: `idle-crossed` and `locked` (if the rules say `seal_on_lock`) seal every
pending file; `active` and `unlocked` (input after unlock) unseal that idle period's files,
unless the policy keeps them sealed; `about-to-sleep` seals within the sleep budget. Each tick
writes what the folder watcher saw into the pending journal, seals files that became due
while away and puts the counters in the check-in state (`state.seal`). Passes run on a thread
made with `ctx.spawn`, so this sensor's inbox never waits on file work; events
(`seal_started`, `seal_finished`, `unseal_finished`, `seal_error`) go to the outbox.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agent.events import (
    ABOUT_TO_SLEEP,
    ACTIVE,
    IDLE_CROSSED,
    LOCKED,
    UNLOCKED,
    Event,
    Signal,
)
from agent.sensors import Option, Sensor, SensorContext

REFRESH_WATCHES_EVERY = 60.0


def _seal(name: str, default: Any) -> Any:
    """Read a field of the bundle's `seal` section (absent in older rule models: default)."""
    return lambda bundle: getattr(bundle.seal, name, default)


class SealSensor(Sensor):
    """Seals protected folders when the employee is away; unseals on return."""

    name = "seal"
    tick_seconds = 5.0
    options = (
        Option("enabled", bool, True, "Seal protected folders when the laptop is left."),
        Option("idle_threshold_seconds", float, 300.0, "Input idle before sealing (bundle).",
               from_bundle=_seal("idle_threshold_seconds", 300.0)),
        Option("protected_folders", tuple, ("~/Sensitive", "Downloads"),
               "Folders whose files are sealed (bundle).",
               from_bundle=_seal("protected_folders", ("~/Sensitive", "Downloads"))),
        Option("seal_on_lock", bool, True, "Seal when the session locks (bundle).",
               from_bundle=_seal("seal_on_lock", True)),
        Option("seal_before_sleep", bool, True, "Seal before sleep, best effort (bundle).",
               from_bundle=_seal("seal_before_sleep", True)),
        Option("unseal_on_return", bool, True, "Unseal on return; False keeps files sealed "
               "until the employee unseals them (bundle).",
               from_bundle=_seal("unseal_on_return", True)),
        Option("report_paths", bool, False, "Send pending paths, relative to their folder "
               "(bundle).", from_bundle=_seal("report_paths", False)),
    )

    def __init__(self, *, home: Path | None = None, user_home: Path | None = None,
                 **engine_options: Any) -> None:
        self.home, self.user_home, self.engine_options = home, user_home, engine_options
        self.values: dict[str, Any] = {}
        self.ctx: Any = None  # the SensorContext once started
        self.stack: Any = None
        self._last_refresh = 0.0

    def configure(self, options, updated) -> None:
        self.values = dict(options)
        if self.stack is not None and updated:
            policy, folders = self._policy(), self._folders()
            self.stack.service.worker.submit(
                lambda: self.stack.service.set_folders(folders, policy))

    def _policy(self):
        from agent.seal.policy import SealPolicy

        v = self.values
        return SealPolicy(idle_threshold_seconds=v["idle_threshold_seconds"],
                          seal_on_lock=v["seal_on_lock"],
                          seal_before_sleep=v["seal_before_sleep"],
                          unseal_on_return=v["unseal_on_return"], report_paths=v["report_paths"])

    def _folders(self):
        from agent.seal.setup import folders_for

        return folders_for(self.values["protected_folders"], self.ctx.platform.known_folders(),
                           self.user_home)

    def start(self, ctx: SensorContext) -> None:
        from agent.seal.setup import build

        self.ctx = ctx
        home = self.home or Path(ctx._host.store.home)  # the agent's state folder
        self.stack = build(home, folders=self._folders(), policy=self._policy(),
                           clock=ctx.clock, emit=self._emit, **self.engine_options)
        service = self.stack.service
        service.start(spawn=lambda target, name: ctx.spawn(target, name))
        service.worker.submit(self._start_up)  # recovery and the start-up scan, off-thread
        self._publish()

    def _start_up(self) -> None:
        stack = self.stack
        if stack is not None:
            stack.service.start_up()
            self._publish()

    def _emit(self, event) -> None:
        payload = event.as_dict()
        occurred_at = payload.pop("at")
        self.ctx.emit(Event(event.name, payload, occurred_at))
        self._publish()

    def _publish(self) -> None:
        stack = self.stack
        if stack is not None:
            self.ctx.set_state("seal", stack.service.checkin_state())

    def on_signal(self, signal: Signal) -> None:
        if not self.values.get("enabled", True) or self.stack is None:
            return
        service = self.stack.service
        if signal.name in (IDLE_CROSSED, LOCKED):
            service.went_away("idle" if signal.name == IDLE_CROSSED else "lock")
        elif signal.name in (ACTIVE, UNLOCKED):
            service.came_back()
        elif signal.name == ABOUT_TO_SLEEP:
            service.before_sleep()
        self._publish()

    def tick(self) -> float:
        service = self.stack.service
        if self.values.get("enabled", True):
            service.tick()
        now = self.ctx.clock()
        if now - self._last_refresh >= REFRESH_WATCHES_EVERY:
            self._last_refresh = now
            service.worker.submit(service.refresh_watches)
        self._publish()
        return self.tick_seconds

    def stop(self) -> None:
        if self.stack is not None:
            self.stack.close()
            self.stack = None

    def status(self) -> dict[str, Any]:
        return {"seal": self.stack.service.status().as_dict()} if self.stack is not None else {}

    def seal_now(self) -> dict[str, Any]:
        """For the local API / tray: seal every pending file now."""
        return self.stack.service.seal_now().as_dict()

    def unseal_now(self) -> dict[str, Any]:
        """For the local API / tray: unseal every sealed file now."""
        return self.stack.service.unseal_now().as_dict()
