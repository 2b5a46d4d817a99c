"""Requests from the tray that a sensor answers (`seal.now`, `seal.status`, ...), by name.

The local API knows no sensor. A sensor registers a handler for each request it answers when it
starts (`SensorContext.answer_requests`), and the sensor host withdraws a sensor's handlers as
it stops it, whether cleanly or after a crash. So a request that arrives while the sensor is
restarting, disabled or not part of this agent gets a clear "not running" answer instead of
reaching a half-stopped sensor. (Choices on the browsing sensor's nudges take the same route
in spirit, through `LocalNotifications.handle`, because they belong to a notification.)
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

RequestHandler = Callable[[dict[str, Any]], dict[str, Any]]


class NotRunning(LookupError):
    """No running sensor answers this request."""


class Refused(Exception):
    """A handler's clear refusal, given to the tray as `{"error": code, "message": ...}`."""

    def __init__(self, status: int, code: str, message: str) -> None:
        self.status, self.code, self.message = status, code, message
        super().__init__(f"{status} {code}: {message}")


class LocalRequests:
    """The handlers of the running sensors, keyed by request name."""

    def __init__(self) -> None:
        self._handlers: dict[str, tuple[str, RequestHandler]] = {}
        self._lock = threading.Lock()

    def handle(self, name: str, handler: RequestHandler, *, owner: str) -> None:
        """Route request `name` to `handler(body)` until sensor `owner` stops."""
        with self._lock:
            self._handlers[name] = (owner, handler)

    def withdraw(self, owner: str) -> list[str]:
        """Forget every handler of sensor `owner` (it is stopping); the names withdrawn."""
        with self._lock:
            gone = [name for name, (who, _) in self._handlers.items() if who == owner]
            for name in gone:
                del self._handlers[name]
        return gone

    def names(self) -> list[str]:
        """The requests answered right now."""
        with self._lock:
            return sorted(self._handlers)

    def call(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        """Run the handler of `name` on the caller's thread. Raises NotRunning when no
        running sensor answers it, and whatever the handler raises (Refused: a clear no)."""
        with self._lock:
            found = self._handlers.get(name)
        if found is None:
            raise NotRunning(name)
        return found[1](body)
