"""A consistent, private copy of a browser's live SQLite database.

The browser keeps its history database open and locked, and its newest rows may live only in
`places.sqlite-wal` (Firefox, WAL mode) or behind a hot `History-journal` (Chromium, rollback
journal). So the agent never opens the live file: it copies the database together with its
`-wal` and `-journal` into a fresh folder only this user can read (0700), opens the *copy* the
ordinary way (SQLite then replays the WAL or rolls back an unfinished transaction, which needs
write access to the copy, hence not `mode=ro`), reads, and deletes the folder.

* `immutable=1` on the live file is never used: it makes SQLite ignore the WAL and locks.
* The live `-shm` is deliberately not copied: it is another process's shared-memory index of
  the WAL, possibly describing a different moment than the WAL bytes copied; without it SQLite
  rebuilds the index from the WAL's own checksummed frames, which is exactly the copied state.
* If any source file changes while it is being copied (a checkpoint or commit in progress) the
  copy is retried; after `attempts` it fails with `SnapshotBusy`. A copy SQLite cannot read
  fails with `SnapshotCorrupt`. Both are `SnapshotError`s: callers log them and try later.
"""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path

log = logging.getLogger(__name__)
SIDECARS = ("-wal", "-journal")


class SnapshotError(Exception):
    """A history database could not be read this time; the caller retries later."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class SnapshotBusy(SnapshotError):
    """The database kept changing while it was copied (the browser is writing)."""


class SnapshotCorrupt(SnapshotError):
    """The copy is not a readable SQLite database (corrupt, truncated or not SQLite)."""


class SnapshotMissing(SnapshotError):
    """The database file does not exist (profile deleted, browser never started)."""


def _stamp(path: Path) -> tuple[int, int] | None:
    """(size, mtime in ns) of a file, or None when it does not exist."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return st.st_size, st.st_mtime_ns


def _sources(db: Path) -> list[Path]:
    return [db, *(db.with_name(db.name + suffix) for suffix in SIDECARS)]


Copier = Callable[[Path, Path], object]


def _copy_once(db: Path, folder: Path, copy: Copier) -> bool:
    """Copy the database and its sidecars into folder; True if nothing changed meanwhile."""
    before = [_stamp(p) for p in _sources(db)]
    if before[0] is None:
        raise SnapshotMissing(db, "database file not found")
    for source, stamp in zip(_sources(db), before, strict=True):
        target = folder / source.name
        target.unlink(missing_ok=True)
        if stamp is None:
            continue
        try:
            copy(source, target)  # reads only; never touches the browser's file
        except FileNotFoundError:
            return False  # the journal went away mid-copy: the transaction just ended
        except PermissionError as exc:
            raise SnapshotError(db, f"cannot read {source.name}: {exc.strerror}") from exc
    return before == [_stamp(p) for p in _sources(db)]


def _open_checked(copy: Path, origin: Path) -> sqlite3.Connection:
    """Open the private copy; reading the schema forces WAL replay / journal rollback."""
    conn = sqlite3.connect(copy, timeout=0)
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise SnapshotCorrupt(origin, f"not a readable SQLite database ({exc})") from exc
    return conn


@contextmanager
def open_snapshot(db: Path, *, attempts: int = 3, pause: float = 0.2,
                  sleep: Callable[[float], None] = time.sleep,
                  temp_root: Path | None = None,
                  copy: Copier = shutil.copyfile) -> Iterator[sqlite3.Connection]:
    """Yield a connection to a consistent private copy of `db`; the copy is deleted after.

    `sleep` and `copy` are seams for tests (a browser writing during the copy)."""
    folder = Path(tempfile.mkdtemp(prefix="heedful-history-", dir=temp_root))
    try:
        os.chmod(folder, 0o700)  # mkdtemp already does; said again because it matters
        for attempt in range(1, attempts + 1):
            if _copy_once(db, folder, copy):
                break
            log.debug("%s changed while copying (attempt %d of %d)", db, attempt, attempts)
            if attempt == attempts:
                raise SnapshotBusy(db, f"kept changing while copied ({attempts} attempts)")
            sleep(pause)
        with closing(_open_checked(folder / db.name, db)) as conn:
            try:
                yield conn
            except sqlite3.DatabaseError as exc:
                raise SnapshotCorrupt(db, f"read failed ({exc})") from exc
    finally:
        shutil.rmtree(folder, ignore_errors=True)
