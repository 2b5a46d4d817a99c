"""Notifications made on this laptop for the tray (nudges): in memory, never sent anywhere.

They travel on the same long-poll stream as the server's notifications (`GET
/v1/notifications`), marked `"local": true` and distinguished by `kind` (`nudge`), so the tray
needs one loop. Unlike the server's they are not in `agent.db`, not in the outbox and never
acknowledged to the server: a nudge names a visited site, and that stays on the laptop (in the
browsing sensor's own `nudges.db`, which purges it). An agent restart forgets the open ones,
which is right for a warning about a visit that just happened; the outcome is still counted.

The tray answers through `POST /v1/nudges/{id}/choice`; the sensor that posted the
notification registered the handler for its kind (`handle`), which decides the reply and
whether the notification stays open (`"open": true`, e.g. after "Why am I seeing this?").
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

MAX_OPEN = 50  # a tray that never answers cannot make the agent grow
TRAY_GRACE = 90.0  # a tray re-polls at once after each long poll (at most 60 s)
Handler = Callable[[str, dict[str, Any]], dict[str, Any]]


class NoHandler(LookupError):
    """Nothing on this agent answers choices of this kind (e.g. browsing is disabled)."""


@dataclass
class _Open:
    seq: int
    item: dict[str, Any]
    expires_at: float


class LocalNotifications:
    """The open local notifications, the choice handlers, and whether a tray is listening.

    `reserve_seq` hands out sequence numbers from the same counter as the server's
    notifications (so one cursor serves both); `changed` wakes the long polls.
    """

    def __init__(self, reserve_seq: Callable[[], int], changed: Callable[[], None], *,
                 clock: Callable[[], float] = time.time) -> None:
        self.reserve_seq, self.changed, self.clock = reserve_seq, changed, clock
        self._open: dict[str, _Open] = {}
        self._handlers: dict[str, Handler] = {}
        self._lock = threading.Lock()
        self._last_poll: float | None = None
        self._polling = 0

    def post(self, item: dict[str, Any], *, keep_seconds: float) -> int:
        """Put a notification (`id`, `kind`, `title`, `body`, ...) on the stream; its seq."""
        if not item.get("id") or not item.get("kind"):
            raise ValueError("a local notification needs an `id` and a `kind`")
        seq = self.reserve_seq()
        with self._lock:
            self._open[str(item["id"])] = _Open(seq, dict(item), self.clock() + keep_seconds)
            while len(self._open) > MAX_OPEN:  # the oldest go first
                del self._open[min(self._open, key=lambda k: self._open[k].seq)]
        self.changed()
        return seq

    def items(self, after: int) -> list[dict[str, Any]]:
        """Open notifications with seq above `after`, oldest first (expired ones dropped)."""
        now = self.clock()
        with self._lock:
            for key in [k for k, v in self._open.items() if v.expires_at <= now]:
                del self._open[key]
            found = sorted((v for v in self._open.values() if v.seq > after),
                           key=lambda v: v.seq)
            return [{**v.item, "seq": v.seq, "local": True, "acked": False,
                     "response": None} for v in found]

    def close(self, item_id: str) -> bool:
        """Take a notification off the stream (seen or answered); False if it is not open."""
        with self._lock:
            found = self._open.pop(item_id, None)
        if found is not None:
            self.changed()
        return found is not None

    def is_open(self, item_id: str) -> bool:
        """True while the notification is on the stream."""
        with self._lock:
            return item_id in self._open

    def handle(self, kind: str, handler: Handler) -> None:
        """Route the tray's choices on notifications of `kind` to `handler(id, body)`."""
        with self._lock:
            self._handlers[kind] = handler

    def answer(self, kind: str, item_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """Pass a choice to the handler of `kind`; close the notification unless it says
        `open`. Raises NoHandler, or what the handler raises (KeyError: unknown id)."""
        with self._lock:
            handler = self._handlers.get(kind)
        if handler is None:
            raise NoHandler(f"nothing on this agent answers {kind} choices (is it disabled?)")
        reply = dict(handler(item_id, body))
        if not reply.get("open"):
            self.close(item_id)
        reply["open"] = self.is_open(item_id)
        return reply

    # -- is a tray listening? ------------------------------------------------------------
    def poll_started(self) -> None:
        """The tray asked for notifications (a long poll may now be waiting)."""
        with self._lock:
            self._polling += 1
            self._last_poll = self.clock()

    def poll_ended(self) -> None:
        """The tray's request got its reply."""
        with self._lock:
            self._polling -= 1
            self._last_poll = self.clock()

    def tray_connected(self) -> bool:
        """True when a tray is waiting now or polled within the last `TRAY_GRACE` seconds."""
        with self._lock:
            recent = self._last_poll is not None and \
                self.clock() - self._last_poll < TRAY_GRACE
            return self._polling > 0 or recent
