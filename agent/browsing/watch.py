"""Watches browser profiles and reads their history when it changes.

A watchdog observer on each profile folder (not recursive: the history files sit at its top)
reports writes to the history database, its `-wal` or its `-journal`. Writes come in bursts,
so a read is scheduled `debounce` seconds after the last one, but never later than `max_wait`
after the first (a busy browser still gets read). A slow periodic scan re-discovers profiles
and reads all of them, in case an event was missed (network drives, sleeping laptops, an
observer that failed to start).

A read that fails (`SnapshotError`: database mid-write, locked, corrupt) is logged and
retried with a growing delay; one that held back fresh visits is re-run when they settle.
`on_visits(profile, visits)` is called before the checkpoint is committed: if it raises, the
same visits are read again next time instead of being lost.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from agent.browsing.profiles import Profile
from agent.browsing.reader import HistoryReader
from agent.browsing.snapshot import SnapshotError
from agent.browsing.visits import Visit

log = logging.getLogger(__name__)
VisitHandler = Callable[[Profile, Sequence[Visit]], None]


@dataclass
class _Due:
    at: float  # monotonic time of the next read
    first_change: float | None = None  # first unhandled change of the current burst
    failures: int = 0


class HistoryWatcher:
    """Debounced, checkpointed reads of every profile; `step()` does one round of work."""

    def __init__(self, reader: HistoryReader, on_visits: VisitHandler, *,
                 discover: Callable[[], list[Profile]], debounce: float = 2.0,
                 max_wait: float = 10.0, scan_interval: float = 300.0,
                 max_backoff: float = 600.0, clock: Callable[[], float] = time.monotonic,
                 use_watchdog: bool = True) -> None:
        self.reader, self.on_visits, self.discover = reader, on_visits, discover
        self.debounce, self.max_wait, self.scan_interval = debounce, max_wait, scan_interval
        self.max_backoff, self.clock, self.use_watchdog = max_backoff, clock, use_watchdog
        self.profiles: dict[str, Profile] = {}
        self._due: dict[str, _Due] = {}
        self._next_scan = 0.0
        self._lock = threading.Condition()
        self._observer = None
        self._watched: set[str] = set()
        self._thread: threading.Thread | None = None
        self._stopping = False

    # -- events -----------------------------------------------------------------------------
    def changed(self, profile_key: str) -> None:
        """A history file of this profile changed: read it after the debounce delay."""
        with self._lock:
            now = self.clock()
            due = self._due.setdefault(profile_key, _Due(now + self.debounce))
            if due.first_change is None:
                due.first_change = now
            if due.failures == 0:
                due.at = min(now + self.debounce, due.first_change + self.max_wait)
            self._lock.notify_all()

    def rescan(self) -> None:
        """Re-discover profiles, watch new ones and schedule a read of every one."""
        found = {p.key: p for p in self.discover()}
        now = self.clock()
        with self._lock:
            self.profiles = found
            for key in found:
                due = self._due.setdefault(key, _Due(now))
                if due.failures == 0:
                    due.at = min(due.at, now)
            for key in list(self._due):
                if key not in found:
                    del self._due[key]
            self._next_scan = now + self.scan_interval
        if self._observer is not None:
            self._watch(found.values())

    # -- work -------------------------------------------------------------------------------
    def step(self) -> float:
        """Do whatever is due now; returns seconds until something is due next."""
        now = self.clock()
        if now >= self._next_scan:
            self.rescan()
        with self._lock:
            ready = [k for k, d in self._due.items() if d.at <= now and k in self.profiles]
        for key in ready:
            self._read(self.profiles[key])
        with self._lock:
            upcoming = [d.at for d in self._due.values()] + [self._next_scan]
        return max(0.0, min(upcoming) - self.clock())

    def _read(self, profile: Profile) -> None:
        due = self._due[profile.key]
        with self._lock:
            due.first_change = None
        try:
            result = self.reader.read_new(profile)
            if result.visits:
                self.on_visits(profile, result.visits)
        except SnapshotError as exc:
            self._retry_later(profile, due, f"history not readable now: {exc}")
            return
        except Exception:  # noqa: BLE001 - a failing handler must not stop the watcher
            log.exception("handling visits of %s failed; they will be read again", profile.key)
            self._retry_later(profile, due, "handler failed")
            return
        self.reader.commit(profile, result)
        with self._lock:
            due.failures = 0
            far = self.clock() + self.scan_interval
            due.at = self.clock() + result.retry_after if result.retry_after else far
            if due.first_change is not None:  # changed again while we were reading
                due.at = min(due.at, due.first_change + self.debounce)

    def _retry_later(self, profile: Profile, due: _Due, reason: str) -> None:
        with self._lock:
            due.failures += 1
            delay = min(self.max_backoff, self.debounce * 2 ** due.failures)
            due.at = self.clock() + delay
        log.warning("%s: %s; retrying in %.0f s (attempt %d)", profile.database, reason, delay,
                    due.failures)

    # -- thread and watchdog ----------------------------------------------------------------
    def start(self) -> None:
        """Start the observer (if enabled) and the worker thread."""
        if self.use_watchdog:
            from watchdog.observers import Observer

            self._observer = Observer()
            self._observer.daemon = True
            self._observer.start()
        self._thread = threading.Thread(target=self._run, name="history-watcher", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the worker and the observer."""
        with self._lock:
            self._stopping = True
            self._lock.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout)

    def _run(self) -> None:
        while True:
            try:
                wait = self.step()
            except Exception:  # noqa: BLE001 - keep watching whatever one round did
                log.exception("history watcher round failed")
                wait = self.debounce
            with self._lock:
                if self._stopping:
                    return
                self._lock.wait(timeout=max(0.05, wait))
                if self._stopping:
                    return

    def _watch(self, profiles) -> None:
        from agent.browsing.watchdog_handler import ProfileEventHandler

        for profile in profiles:
            if profile.key in self._watched:
                continue
            try:
                self._observer.schedule(ProfileEventHandler(profile, self.changed),
                                        str(profile.path), recursive=False)
                self._watched.add(profile.key)
            except OSError as exc:  # e.g. inotify watch limit: the periodic scan still works
                log.warning("cannot watch %s (%s); relying on the periodic scan",
                            profile.path, exc)
