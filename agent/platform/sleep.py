"""Before-sleep notifications: what every OS module shares.

The agent registers callbacks with `PlatformBase.on_about_to_sleep(before_sleep, after_wake)`;
the first registration starts the OS watch (`sleep_linux.LogindSleepWatch`,
`sleep_windows.WindowsSleepWatch`, `sleep_macos.MacSleepWatch`). When the OS announces sleep,
the watch calls every `before_sleep(budget_seconds)` on its own thread and only then lets the
OS go on (closes its logind inhibitor, returns from the Windows callback, calls
IOAllowPowerChange), so the callback's work happens before the laptop sleeps. `after_wake()`
is called once the OS says it resumed.

The OS waits only so long (logind: InhibitDelayMaxUSec, 5 s by default; Windows: about 2 s;
macOS: 30 s), and a seal pass cannot stop in the middle of a file, so the budget handed to
`before_sleep` keeps a margin for the file in progress and never holds a closing lid longer
than `MAX_BUDGET_SECONDS`.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Callable

from agent.platform.base import Capability

log = logging.getLogger(__name__)

ABOUT_TO_SLEEP = "about_to_sleep"  # the capability's name
MAX_BUDGET_SECONDS = 10.0  # even where the OS would wait longer (macOS: 30 s)
MIN_BUDGET_SECONDS = 0.5
BeforeSleep = Callable[[float], None]  # budget in seconds; returns when done
AfterWake = Callable[[], None]


def seal_budget(allowed: float) -> float:
    """Seconds a before-sleep callback may use when the OS waits at most `allowed` seconds:
    a quarter of it (at most 1 s) is kept for the file in progress and the acknowledgement."""
    return max(MIN_BUDGET_SECONDS, min(MAX_BUDGET_SECONDS, allowed - min(1.0, allowed / 4)))


class SleepHooks:
    """The registered callbacks; an OS watch calls `before_sleep`/`after_wake` on its thread.

    A failing callback is logged and the others still run: the OS must be acknowledged
    whatever happens, or sleep is held up until the OS gives up waiting."""

    def __init__(self) -> None:
        self._hooks: dict[int, tuple[BeforeSleep, AfterWake | None]] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def add(self, before_sleep: BeforeSleep, after_wake: AfterWake | None = None) -> int:
        """Register a pair of callbacks; returns its id for `remove`."""
        with self._lock:
            hook_id = next(self._ids)
            self._hooks[hook_id] = (before_sleep, after_wake)
            return hook_id

    def remove(self, hook_id: int) -> bool:
        """Forget a registration; True when none is left."""
        with self._lock:
            self._hooks.pop(hook_id, None)
            return not self._hooks

    def before_sleep(self, allowed_seconds: float) -> None:
        """The OS is about to sleep and waits at most `allowed_seconds`: run every callback."""
        budget = seal_budget(allowed_seconds)
        with self._lock:
            hooks = [before for before, _ in self._hooks.values()]
        for before in hooks:
            try:
                before(budget)
            except Exception:  # the OS is acknowledged whatever a callback does
                log.exception("before-sleep callback failed")

    def after_wake(self) -> None:
        """The OS resumed from sleep."""
        with self._lock:
            hooks = [after for _, after in self._hooks.values() if after is not None]
        for after in hooks:
            try:
                after()
            except Exception:
                log.exception("after-wake callback failed")


class SleepWatch:
    """One OS mechanism announcing sleep. Subclasses implement the three methods."""

    capability: Capability = Capability(ABOUT_TO_SLEEP, False, "", False, "not started")

    def probe(self) -> Capability:
        """Whether this mechanism would work here, without registering anything."""
        raise NotImplementedError

    def start(self, hooks: SleepHooks) -> Capability:
        """Register with the OS and call `hooks` from now on; returns the capability."""
        raise NotImplementedError

    def stop(self) -> None:
        """Unregister (safe to call twice, or without a successful start)."""
        raise NotImplementedError


class Unobserved(SleepWatch):
    """Where the OS offers nothing: sleep is only seen afterwards, from the clock gap."""

    def __init__(self, reason: str) -> None:
        self.capability = Capability(ABOUT_TO_SLEEP, False, "", False, reason)

    def probe(self) -> Capability:
        return self.capability

    def start(self, hooks: SleepHooks) -> Capability:
        return self.capability

    def stop(self) -> None:
        return None


class SleepRegistry:
    """One platform object's callbacks and OS watch: the watch runs while someone listens."""

    def __init__(self, watch: SleepWatch) -> None:
        self.watch, self.hooks = watch, SleepHooks()
        self._started = False
        self._lock = threading.Lock()

    def subscribe(self, before_sleep: BeforeSleep,
                  after_wake: AfterWake | None = None) -> Callable[[], None]:
        """Register callbacks (starting the OS watch if needed); returns the unsubscriber.

        If the OS cannot tell, nothing is ever called and `capability()` says why."""
        hook_id = self.hooks.add(before_sleep, after_wake)
        with self._lock:
            if not self._started:
                self._started = True
                try:
                    cap = self.watch.start(self.hooks)
                except Exception as exc:  # an OS surprise must not stop the caller
                    log.exception("the sleep watch failed to start")
                    cap = self.watch.capability = Capability(
                        ABOUT_TO_SLEEP, False, "", False,
                        f"failed to start: {exc.__class__.__name__}: {exc}")
                if not cap.available:
                    log.info("before-sleep sealing unavailable: %s", cap.reason)
        return lambda: self._unsubscribe(hook_id)

    def _unsubscribe(self, hook_id: int) -> None:
        if self.hooks.remove(hook_id):
            with self._lock:
                if self._started:
                    self._started = False
                    self.watch.stop()

    def capability(self) -> Capability:
        """The running watch's state, or a fresh probe when nobody listens."""
        with self._lock:
            started = self._started
        return self.watch.capability if started else self.watch.probe()
