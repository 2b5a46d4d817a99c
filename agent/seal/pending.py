"""Which plaintext files wait to be sealed: a durable journal, fed by watchdog and a scan.

Rule: every plaintext regular file in a protected folder is pending until it is sealed (our
own temporary files and `*.heedful` files are not plaintext). A watchdog observer notes each
path that is created, modified, moved or deleted; `flush()` then looks at each noted path once
(lstat) and records or forgets it in one transaction, so a burst of writes to a download costs
one database commit, not thousands. Nothing is lost by buffering: the start-up `scan` compares
every folder with the journal (size, mtime) and catches whatever changed while the agent was
not running or between a note and a crash.
"""

from __future__ import annotations

import os
import stat
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from agent.seal import names
from agent.seal.db import SealDB, to_blob, to_path
from agent.seal.folders import ProtectedFolder, folder_of

PENDING, BUSY, FAILED = "pending", "busy", "failed"


@dataclass(frozen=True)
class PendingFile:
    """One file waiting to be sealed."""

    path: Path
    size: int
    mtime_ns: int
    first_seen: float
    last_change: float
    state: str = PENDING
    reason: str = ""
    attempts: int = 0
    retry_at: float = 0.0


@dataclass(frozen=True)
class PendingTotals:
    """Counts for status and check-in."""

    files: int
    bytes: int
    busy_files: int
    busy_bytes: int
    failed_files: int


class PendingJournal:
    """The `seal_pending` table."""

    _COLUMNS = "path, size, mtime_ns, first_seen, last_change, state, reason, attempts, retry_at"

    def __init__(self, db: SealDB, clock: Callable[[], float] = time.time) -> None:
        self.db, self.clock = db, clock

    def record(self, entries: Iterable[tuple[Path, os.stat_result, bool]]) -> int:
        """Upsert (path, stat, changed) entries in one transaction; `changed` bumps last_change.

        A busy or failed entry keeps its retry time: a download written to all the time while
        the employee is away is retried every `busy_retry_seconds`, not on every write.
        """
        now, count = self.clock(), 0
        with self.db.transaction() as conn:
            for path, st, changed in entries:
                conn.execute(
                    "INSERT INTO seal_pending (path, size, mtime_ns, first_seen, last_change)"
                    " VALUES (?, ?, ?, ?, ?) ON CONFLICT(path) DO UPDATE SET"
                    " size = excluded.size, mtime_ns = excluded.mtime_ns,"
                    " last_change = CASE WHEN ? THEN excluded.last_change ELSE last_change END",
                    (to_blob(path), st.st_size, st.st_mtime_ns, now, now if changed else 0,
                     changed))
                count += 1
        return count

    def forget(self, paths: Iterable[Path]) -> None:
        """Drop entries (file deleted, moved out, or sealed)."""
        with self.db.transaction() as conn:
            conn.executemany("DELETE FROM seal_pending WHERE path = ?",
                             [(to_blob(p),) for p in paths])

    def mark(self, path: Path, state: str, reason: str, retry_at: float) -> None:
        """Record why a file could not be sealed yet and when to try again."""
        with self.db.transaction() as conn:
            conn.execute("UPDATE seal_pending SET state = ?, reason = ?, retry_at = ?,"
                         " attempts = attempts + 1 WHERE path = ?",
                         (state, reason, retry_at, to_blob(path)))

    def _rows(self, where: str = "", params: tuple = ()) -> list[PendingFile]:
        rows = self.db.query(f"SELECT {self._COLUMNS} FROM seal_pending {where}"
                             " ORDER BY first_seen, path", params)
        return [PendingFile(to_path(r[0]), *r[1:]) for r in rows]

    def all(self) -> list[PendingFile]:
        """Every pending entry, oldest first."""
        return self._rows()

    def under(self, folder: Path) -> list[PendingFile]:
        """Entries below `folder`."""
        prefix = to_blob(folder).rstrip(os.sep.encode()) + os.sep.encode()
        return self._rows("WHERE substr(path, 1, ?) = ?", (len(prefix), prefix))

    def due(self, now: float) -> list[PendingFile]:
        """Entries to try now: pending ones, and busy/failed ones whose retry time came."""
        return self._rows("WHERE state = 'pending' OR retry_at <= ?", (now,))

    def totals(self) -> PendingTotals:
        """Files and bytes waiting, and how many of them are busy or failing."""
        files, size, busy, busy_bytes, failed = self.db.query(
            "SELECT COUNT(*), COALESCE(SUM(size), 0), COALESCE(SUM(state = 'busy'), 0),"
            " COALESCE(SUM(CASE WHEN state = 'busy' THEN size ELSE 0 END), 0),"
            " COALESCE(SUM(state = 'failed'), 0) FROM seal_pending")[0]
        return PendingTotals(files, size, busy, busy_bytes, failed)


def plaintext_stat(path: Path) -> os.stat_result | None:
    """The stat of `path` if it is a plaintext regular file that may be sealed, else None."""
    if names.is_sealed_name(path.name) or names.is_work_name(path.name):
        return None
    try:
        st = os.lstat(path)
    except OSError:
        return None
    return st if stat.S_ISREG(st.st_mode) else None


def walk_files(folder: Path) -> Iterator[Path]:
    """Every file below `folder` (symlinks are not followed, unreadable folders skipped)."""
    for dirpath, _dirs, files in os.walk(folder, followlinks=False):
        for name in files:
            yield Path(dirpath, name)


class Notes:
    """Paths the watcher saw, buffered until `flush` (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._paths: dict[Path, bool] = {}  # path -> content changed
        self._trees: set[Path] = set()  # folders created or moved in: walk them
        self._gone: set[Path] = set()  # folders deleted or moved away: re-check entries below

    def note(self, path: Path, changed: bool) -> None:
        """Remember to look at `path` (changed=True for writes, False for moves)."""
        with self._lock:
            self._paths[path] = self._paths.get(path, False) or changed

    def note_tree(self, folder: Path) -> None:
        """Remember to walk a whole folder (created or moved into a protected folder)."""
        with self._lock:
            self._trees.add(folder)

    def note_gone_tree(self, folder: Path) -> None:
        """Remember to re-check every entry below a folder that was deleted or moved away."""
        with self._lock:
            self._gone.add(folder)

    def take(self) -> tuple[dict[Path, bool], set[Path], set[Path]]:
        """Everything noted so far (paths, new trees, gone trees), emptying the buffer."""
        with self._lock:
            taken = self._paths, self._trees, self._gone
            self._paths, self._trees, self._gone = {}, set(), set()
        return taken


def apply_notes(pending: PendingJournal, folders: list[ProtectedFolder], notes: Notes) -> int:
    """Look at each noted path once and record or forget it; returns entries touched."""
    paths, trees, gone = notes.take()
    for tree in trees:
        for path in walk_files(tree):
            paths.setdefault(path, True)
    for tree in gone:
        for entry in pending.under(tree):
            paths.setdefault(entry.path, False)
    keep, drop = [], []
    for path, changed in paths.items():
        if folder_of(path, folders) is None:
            continue
        st = plaintext_stat(path)
        if st is None:
            drop.append(path)
        else:
            keep.append((path, st, changed))
    if keep:
        pending.record(keep)
    if drop:
        pending.forget(drop)
    return len(keep) + len(drop)
