"""Feed the pending journal: a watchdog observer on the protected folders, and a start-up scan.

The observer's handler only notes paths (`pending.Notes`); the seal service applies the notes
(`pending.apply_notes`) on each tick. The scan reconciles the journal with the folders after
the agent was not running: new and changed plaintext files become pending (compared by size
and mtime with what the journal last knew), vanished ones are forgotten, and sealed files are
reconciled with the sealed-file registry.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from agent.seal import names
from agent.seal.errors import SealError
from agent.seal.folders import ProtectedFolder
from agent.seal.format import HEADER_LEN, parse_header
from agent.seal.journal import Journal
from agent.seal.pending import Notes, PendingJournal, plaintext_stat, walk_files

log = logging.getLogger(__name__)


class _Handler(FileSystemEventHandler):
    def __init__(self, notes: Notes) -> None:
        self.notes = notes

    def on_any_event(self, event: FileSystemEvent) -> None:
        kind = event.event_type
        if kind in ("opened", "closed_no_write"):
            return
        src = Path(os.fsdecode(event.src_path))
        dest = Path(os.fsdecode(event.dest_path)) if getattr(event, "dest_path", "") else None
        if event.is_directory:
            if kind in ("deleted", "moved"):
                self.notes.note_gone_tree(src)
            if kind == "created" or (kind == "moved" and dest):
                self.notes.note_tree(dest or src)
            return
        if kind in ("created", "modified", "closed"):
            self.notes.note(src, True)
        else:  # deleted, moved: the content itself did not change
            self.notes.note(src, False)
            if dest is not None:
                self.notes.note(dest, False)


class FolderWatcher:
    """A watchdog observer over the protected folders that exist (re-checked by `refresh`)."""

    def __init__(self, notes: Notes, observer_factory: Callable[[], object] = Observer) -> None:
        self.notes, self.factory = notes, observer_factory
        self.watched: tuple[Path, ...] = ()
        self._observer: object | None = None

    def refresh(self, folders: Iterable[Path]) -> list[Path]:
        """Watch the folders that exist now; returns those newly watched (scan them)."""
        wanted = tuple(sorted(p for p in folders if p.is_dir()))
        if wanted == self.watched and self._observer is not None:
            return []
        added = [p for p in wanted if p not in self.watched]
        self.stop()
        observer = self.factory()
        handler = _Handler(self.notes)
        for path in wanted:
            observer.schedule(handler, str(path), recursive=True)  # type: ignore[attr-defined]
        observer.start()  # type: ignore[attr-defined]
        self._observer, self.watched = observer, wanted
        return added

    def stop(self) -> None:
        """Stop the observer thread."""
        if self._observer is not None:
            self._observer.stop()  # type: ignore[attr-defined]
            self._observer.join(timeout=5)  # type: ignore[attr-defined]
            self._observer = None


@dataclass
class ScanResult:
    """What a scan changed."""

    recorded: int = 0
    forgotten: int = 0
    sealed_registered: int = 0
    sealed_forgotten: int = 0
    work_files: list[Path] = field(default_factory=list)


def scan(folders: Iterable[ProtectedFolder | Path], pending: PendingJournal,
         journal: Journal, *, complete: bool = True) -> ScanResult:
    """Reconcile the pending journal and the sealed registry with what is on disk.

    `complete`: `folders` is the whole protected list, so pending entries outside all of them
    (a folder the rules dropped) are forgotten too; otherwise only entries inside are checked.
    """
    protected = [f if isinstance(f, ProtectedFolder) else ProtectedFolder(str(f), Path(f))
                 for f in folders]
    known = {p.path: p for p in pending.all()}
    registered = {f.path for f in journal.sealed_files()}
    result, seen, changes = ScanResult(), set(), []
    for folder in (f for f in protected if f.path.is_dir()):
        for path in walk_files(folder.path):
            if not folder.contains(path):
                continue
            if names.is_work_name(path.name):
                result.work_files.append(path)
            elif names.is_sealed_name(path.name):
                if path not in registered and _register_found(journal, path):
                    result.sealed_registered += 1
            elif (st := plaintext_stat(path)) is not None:
                seen.add(path)
                entry = known.get(path)
                if entry is None or (entry.size, entry.mtime_ns) != (st.st_size, st.st_mtime_ns):
                    changes.append((path, st, False))
    result.recorded = pending.record(changes) if changes else 0
    gone = [p for p in known if p not in seen
            and (complete or any(f.contains(p) for f in protected))]
    pending.forget(gone)
    result.forgotten = len(gone)
    for path in registered:
        if not os.path.lexists(path):
            journal.forget_sealed(path)
            result.sealed_forgotten += 1
    return result


def _register_found(journal: Journal, path: Path) -> bool:
    """Register a sealed file the registry did not know (e.g. after reinstalling)."""
    try:
        with open(path, "rb") as handle:
            header = parse_header(handle.read(HEADER_LEN))
        st = os.lstat(path)
    except (OSError, SealError) as exc:  # unreadable, damaged or foreign *.heedful file
        log.info("not registering %s: %s", path, exc)
        return False
    journal.register_sealed(path, original=names.original_name(path), plain_size=header.size,
                            sealed_size=st.st_size, sealed_at=st.st_mtime)
    return True
