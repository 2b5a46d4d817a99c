"""Seal on idle as a sensor: a thin adapter around `agent.seal.service.SealService`.

Signals drive it: `idle-crossed` and `locked` (if the rules say `seal_on_lock`) seal every
pending file; `active` and `unlocked` (input after unlock) unseal that idle period's files,
unless the policy keeps them sealed; `about-to-sleep` seals within the sleep budget. Each tick
writes what the folder watcher saw into the pending journal, seals files that became due
while away and puts the counters in the check-in state (`state.seal`). Passes run on a thread
made with `ctx.spawn`, so this sensor's inbox never waits on file work; events
(`seal_started`, `seal_finished`, `unseal_finished`, `seal_error`) go to the outbox.

Before sleep the OS itself is asked (`ctx.platform.on_about_to_sleep`, agent/platform/sleep.py):
the platform calls `_before_sleep(budget)` on its own thread and lets the laptop sleep only
when it returns, so that pass (reason `sleep`) runs right there rather than through the inbox
or the worker; other sensors hear `about-to-sleep`. After the wake, input in an unlocked
session counts as the return (an unlock does anyway).

The tray reaches it through the local API (`ctx.answer_requests`): `seal.now` and
`seal.unseal` queue a pass on the same worker thread (after any pass already running) and wait
for its outcome; `seal.status` reads the journal. The policy fields come from the rule bundle's
`seal` section (`rules.model.SealSettings`), the Option names matching the field names.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import CancelledError, Future
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
from agent.local_requests import Refused
from agent.sensors import Option, Sensor, SensorContext

REFRESH_WATCHES_EVERY = 60.0
REQUEST_WAIT = 900.0  # a tray's seal-now waits this long for its pass (many GB take minutes)


def _seal(name: str, default: Any) -> Any:
    """Read a field of the bundle's `seal` section (`rules.model.SealSettings`; a section
    without the field, e.g. from a test double, gives the default)."""
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
        self._waiting: set[Future] = set()  # tray requests queued on the worker
        self._lock = threading.Lock()
        self._stopping = False
        self._unsubscribe_sleep: Callable[[], None] | None = None
        self._sleep_pass = threading.Lock()  # held while a before-sleep pass runs
        self._woke_at: float | None = None  # set on resume until the employee is back

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

        self.ctx, self._stopping = ctx, False
        home = self.home or Path(ctx._host.store.home)  # the agent's state folder
        self.stack = build(home, folders=self._folders(), policy=self._policy(),
                           clock=ctx.clock, emit=self._emit, **self.engine_options)
        service = self.stack.service
        service.start(spawn=lambda target, name: ctx.spawn(target, name))
        service.worker.submit(self._start_up)  # recovery and the start-up scan, off-thread
        self._publish()
        ctx.answer_requests("seal.now", lambda _body: self.seal_now())
        ctx.answer_requests("seal.unseal", lambda _body: self.unseal_now())
        ctx.answer_requests("seal.status", lambda _body: self.seal_status())
        subscribe = getattr(ctx.platform, "on_about_to_sleep", None)
        if subscribe is not None:
            self._unsubscribe_sleep = subscribe(self._before_sleep, self._after_wake)

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

    def _before_sleep(self, budget: float) -> None:
        """The OS announced sleep and waits for this to return (platform thread)."""
        with self._sleep_pass:
            stack = self.stack
            if stack is None or self._stopping or not self.values.get("enabled", True):
                return
            self.ctx.publish(ABOUT_TO_SLEEP, budget_seconds=round(budget, 2))
            stack.service.before_sleep(budget)
            self._publish()

    def _after_wake(self) -> None:
        """The OS resumed (platform thread): watch for the employee's return."""
        self._woke_at = self.ctx.clock()
        self._return_after_wake()

    def _return_after_wake(self) -> None:
        """After a before-sleep seal, input after the wake in an unlocked session is the
        return (a locked session comes back through `unlocked`)."""
        woke_at, stack = self._woke_at, self.stack
        if woke_at is None or stack is None:
            return
        service = stack.service
        if not service.away or service.away_reason != "sleep":
            self._woke_at = None  # back already, or away for idle/lock: the signals decide
            return
        platform = self.ctx.platform
        locked, idle = platform.session_locked(), platform.idle_seconds()
        if locked or idle is None or self.ctx.clock() - idle < woke_at:
            return
        self._woke_at = None
        service.came_back()
        self._publish()

    def tick(self) -> float:
        service = self.stack.service
        if self.values.get("enabled", True):
            service.tick()
            self._return_after_wake()
        service.drain_events()  # already in the outbox (`emit`); only the CLI reads this buffer
        now = self.ctx.clock()
        if now - self._last_refresh >= REFRESH_WATCHES_EVERY:
            self._last_refresh = now
            service.worker.submit(service.refresh_watches)
        self._publish()
        return self.tick_seconds

    def stop(self) -> None:
        with self._lock:  # requests whose pass has not started get a clear "not running"
            self._stopping = True
            for future in self._waiting:
                future.cancel()
        unsubscribe, self._unsubscribe_sleep = self._unsubscribe_sleep, None
        if unsubscribe is not None:
            unsubscribe()  # releases the OS's sleep delay
        with self._sleep_pass:  # a before-sleep pass in progress finishes first
            if self.stack is not None:
                self.stack.close()
                self.stack = None

    def status(self) -> dict[str, Any]:
        return {"seal": self.stack.service.status().as_dict()} if self.stack is not None else {}

    def seal_now(self, timeout: float = REQUEST_WAIT) -> dict[str, Any]:
        """For the local API / tray: seal every pending file now; the `seal_finished`
        payload. Raises `Refused` (not running, busy, still running after `timeout`)."""
        return self._on_worker(lambda service: service.seal_now(), "seal", timeout).as_dict()

    def unseal_now(self, timeout: float = REQUEST_WAIT) -> dict[str, Any]:
        """For the local API / tray: unseal every file this agent sealed (what the policy
        kept sealed on return, and manual seals); the `unseal_finished` payload."""
        return self._on_worker(lambda service: service.unseal_now(), "unseal",
                               timeout).as_dict()

    def seal_status(self) -> dict[str, Any]:
        """For the local API / tray: the seal status with local folder paths."""
        stack = self.stack
        if stack is None:
            raise Refused(503, "unavailable", "the seal sensor is not running")
        return stack.service.status().as_dict()

    def _on_worker(self, job: Callable[[Any], Any], what: str, timeout: float) -> Any:
        """Run `job(service)` on the worker thread, after the pass in progress: passes stay
        serialised and a stopping sensor finishes or drops it cleanly."""
        from agent.seal.errors import SealBusyError

        future: Future = Future()
        with self._lock:
            stack = self.stack
            if stack is None or self._stopping:
                raise Refused(503, "unavailable", "the seal sensor is not running")
            self._waiting.add(future)

        def run() -> None:
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(job(stack.service))
                except BaseException as exc:  # handed to the waiting request
                    future.set_exception(exc)
        try:
            stack.service.worker.submit(run)
            return future.result(timeout)
        except CancelledError:
            raise Refused(503, "unavailable", f"the seal sensor stopped before the {what} "
                          "pass could start; nothing was changed") from None
        except TimeoutError:
            if future.done():  # the pass itself raised it
                raise
            raise Refused(504, "still_running", f"the {what} pass is still running after "
                          f"{timeout:.0f} s; it finishes in the background (see "
                          "/v1/seal/status)") from None
        except SealBusyError as exc:
            raise Refused(409, "busy", str(exc)) from exc
        finally:
            with self._lock:
                self._waiting.discard(future)
