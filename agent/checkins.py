"""The check-in schedule: when to run the next `Syncer.checkin()`.

* After a success: the server's `next_checkin_seconds` (never below the client minimum)
  with +-10 % jitter, doubled while the footprint watchdog reports pressure; soon again if
  the outbox still holds a full batch.
* After a network error, 5xx or 429: exponential backoff with full jitter (5 s doubling up to
  15 min), or the server's Retry-After.
* Not enrolled / needs re-enrolment: look again every 10 s (a `heedful-agent enroll` in
  another process will be noticed), without contacting the server.
* `trigger()` runs one at once (wake from sleep, the tray's "check now");
  `checkin_now(timeout)` also waits for its outcome.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from typing import Any

from agent.errors import DeviceInvalid, NotEnrolled, ServerError, TransportError
from agent.uplink import Backoff

log = logging.getLogger("agent.checkins")
NOT_ENROLLED_POLL = 10.0


class CheckinLoop:
    """Owns the check-in thread."""

    def __init__(self, syncer: Any, store: Any, *, footprint: Any = None,
                 backoff: Backoff | None = None, rng: Callable[[], float] = random.random,
                 clock: Callable[[], float] = time.time) -> None:
        self.syncer, self.store, self.footprint = syncer, store, footprint
        self.backoff = backoff or Backoff(base=5.0, cap=900.0, rng=rng)
        self.rng, self.clock = rng, clock
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._done = threading.Condition()
        self._requested = self._completed = 0
        self._last_outcome: dict[str, Any] = {}
        self.failures = 0
        self.next_at: float | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the thread; the first check-in happens at once."""
        self._thread = threading.Thread(target=self._run, name="checkins", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop after the current check-in (bounded by `timeout`)."""
        self._stopping.set()
        self._wake.set()
        if self._thread:
            self._thread.join(timeout)

    def trigger(self) -> int:
        """Ask for a check-in now; returns the request number to wait for."""
        with self._done:
            self._requested += 1
            ticket = self._requested
        self._wake.set()
        return ticket

    def checkin_now(self, timeout: float = 30.0) -> dict[str, Any]:
        """Run a check-in now and return its outcome (or {"outcome": "pending"})."""
        ticket = self.trigger()
        deadline = time.monotonic() + timeout
        with self._done:
            while self._completed < ticket:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return {"outcome": "pending", "message": "check-in still running"}
                self._done.wait(remaining)
            return dict(self._last_outcome)

    def _run(self) -> None:
        delay = 0.0
        while not self._stopping.is_set():
            self._wake.wait(delay)
            self._wake.clear()
            if self._stopping.is_set():
                break
            with self._done:
                ticket = self._requested
            outcome, delay = self._once()
            self.next_at = self.clock() + delay
            with self._done:
                self._last_outcome = outcome
                self._completed = max(self._completed, ticket)
                self._done.notify_all()

    def _once(self) -> tuple[dict[str, Any], float]:
        """One attempt; returns (outcome for waiters and status, delay until the next)."""
        now = self.clock()
        try:
            result = self.syncer.checkin()
        except NotEnrolled as exc:
            return self._record(now, "not_enrolled", str(exc), None), NOT_ENROLLED_POLL
        except DeviceInvalid as exc:
            log.error("server refused the device credential: %s", exc)
            return self._record(now, "device_invalid", str(exc), True), NOT_ENROLLED_POLL
        except (TransportError, ServerError) as exc:
            self.failures += 1
            reachable = isinstance(exc, ServerError)
            wait = getattr(exc, "retry_after", None) or self.backoff.delay(self.failures - 1)
            log.warning("check-in failed (%d in a row): %s; next try in %.0f s",
                        self.failures, exc, wait)
            return self._record(now, "failed", str(exc), reachable), max(1.0, wait)
        except Exception as exc:  # a bug must not end check-ins for good: log, retry later
            self.failures += 1
            log.exception("check-in failed unexpectedly")
            return self._record(now, "failed", str(exc), None), 60.0
        self.failures = 0
        factor = self.footprint.interval_factor if self.footprint else 1.0
        delay = result.next_interval * (0.9 + 0.2 * self.rng()) * factor
        if result.more_waiting:
            delay = 1.0  # drain a backlog batch by batch, without waiting a full interval
        outcome = self._record(now, "ok", "", True)
        outcome.update(sent=result.sent, accepted=result.accepted, rules=result.rules,
                       notifications_new=result.notifications_new)
        return outcome, delay

    def _record(self, at: float, outcome: str, message: str,
                reachable: bool | None) -> dict[str, Any]:
        """Persist the last attempt so `status` (even from another process) can show it."""
        record = {"outcome": outcome, "message": message, "at": at, "reachable": reachable,
                  "consecutive_failures": self.failures}
        self.store.put_state("last_attempt", record)
        return dict(record)

    def status(self) -> dict[str, Any]:
        """Schedule facts for status."""
        return {"next_checkin_at": self.next_at, "consecutive_failures": self.failures}
