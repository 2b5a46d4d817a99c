"""The watchdog event handler for one profile folder (imported only when watching starts)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler

from agent.browsing.profiles import Profile
from agent.browsing.snapshot import SIDECARS


class ProfileEventHandler(FileSystemEventHandler):
    """Calls `changed(profile.key)` when the history database or its WAL/journal changes."""

    def __init__(self, profile: Profile, changed: Callable[[str], None]) -> None:
        super().__init__()
        self.profile, self.changed = profile, changed
        base = profile.database.name
        self.names = frozenset({base, *(base + suffix for suffix in SIDECARS)})

    def on_any_event(self, event: FileSystemEvent) -> None:
        """Filter to the history files; everything else in the profile folder is noise."""
        if event.is_directory or event.event_type in ("opened", "closed_no_write"):
            return
        paths = [event.src_path, getattr(event, "dest_path", "") or ""]
        if any(Path(str(p)).name in self.names for p in paths if p):
            self.changed(self.profile.key)
