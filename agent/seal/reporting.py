"""Collect the seal service's events and keep paths out of them unless the rules allow.

`folder` in an event is the protected-folder entry as the rules wrote it ("Downloads"), never a
local path; `path` is relative to that folder and only set when `report_paths` is on.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from agent.seal.engine import Outcome
from agent.seal.events import SealErrorEvent, SealEvent
from agent.seal.folders import ProtectedFolder, folder_of
from agent.seal.pending import PendingJournal


class Reporter:
    """Buffers events for the uplink and forwards each to `emit` (if given) at once."""

    def __init__(self, emit: Callable[[SealEvent], None] | None = None) -> None:
        self.emit = emit
        self.folders: list[ProtectedFolder] = []
        self.report_paths = False
        self._events: list[SealEvent] = []
        self._lock = threading.Lock()

    def report(self, event: SealEvent) -> None:
        """Record one event."""
        with self._lock:
            self._events.append(event)
        if self.emit is not None:
            self.emit(event)

    def where(self, path: Path) -> tuple[str, str | None]:
        """(folder entry, relative path or None when paths may not be reported)."""
        folder = folder_of(path, self.folders)
        if folder is None:
            return "", None
        return folder.spec, folder.relative(path) if self.report_paths else None

    def error(self, at: float, operation: str, out: Outcome) -> None:
        """Report a file that could not be sealed or unsealed (the message has no path)."""
        folder, rel = self.where(out.path)
        self.report(SealErrorEvent(at, operation, out.error_kind or "unknown", out.reason,
                                   folder, rel))

    def pending_paths(self, pending: PendingJournal,
                      limit: int = 200) -> tuple[dict[str, str], ...]:
        """Pending files as {"folder", "path"} (relative), when allowed; else empty."""
        if not self.report_paths:
            return ()
        found = (self.where(entry.path) for entry in pending.all()[:limit])
        return tuple({"folder": folder, "path": rel} for folder, rel in found if rel is not None)

    def drain(self) -> list[SealEvent]:
        """Events since the last call, oldest first."""
        with self._lock:
            events, self._events = self._events, []
        return events
