"""The SQLite file that makes sealing restartable: operations, sealed files, pending files.

The path is a parameter: the agent's own state database or a file of its own. All tables are
prefixed `seal_` so they can share a database. Paths are stored as BLOBs (`os.fsencode`): POSIX
file names need not be valid UTF-8.

Durability: WAL with `synchronous=NORMAL` (set on this connection only). A commit survives the
process being killed the moment it returns; after a power cut the journal may lag behind the
disk, because it is synced only at checkpoints. It never claims a copy the disk may lack: a
temporary file is fsynced before it is journalled `verified`, and its rename is fsynced before
the source is removed. (The removal itself is made durable only by a later folder fsync, so a
power cut can bring a removed source back next to its complete new copy: an extra copy.)
Recovery only deletes what the journal proves is ours, so a lagging journal can leave an extra
copy behind, never lose one. This saves an fsync per commit (three per group of files) without
weakening "no data lost".

Tables:
- `seal_ops`: one row per seal/unseal in progress (see journal.py for the states).
- `seal_files`: sealed files this agent made (original name, sizes, when, which idle period).
- `seal_pending`: plaintext files waiting to be sealed, with what is known about them.
- `seal_meta`: small values (last seal time, last scan).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from agent.localdb import LocalDatabase

SCHEMA = """
CREATE TABLE IF NOT EXISTS seal_ops (
    id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, state TEXT NOT NULL,
    src BLOB NOT NULL, dst BLOB NOT NULL, tmp BLOB NOT NULL, original BLOB,
    src_ino INTEGER, src_size INTEGER, src_mtime_ns INTEGER, src_ctime_ns INTEGER,
    tmp_ino INTEGER, digest BLOB, plain_size INTEGER, sealed_size INTEGER,
    session TEXT, started_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS seal_files (
    path BLOB PRIMARY KEY, original BLOB NOT NULL, plain_size INTEGER NOT NULL,
    sealed_size INTEGER NOT NULL, sealed_at REAL NOT NULL, session TEXT);
CREATE INDEX IF NOT EXISTS seal_files_session ON seal_files (session);
CREATE TABLE IF NOT EXISTS seal_pending (
    path BLOB PRIMARY KEY, size INTEGER NOT NULL DEFAULT 0, mtime_ns INTEGER NOT NULL DEFAULT 0,
    first_seen REAL NOT NULL, last_change REAL NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending', reason TEXT NOT NULL DEFAULT '',
    attempts INTEGER NOT NULL DEFAULT 0, retry_at REAL NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS seal_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


def to_blob(path: str | os.PathLike[str]) -> bytes:
    """A path as stored in the database."""
    return os.fsencode(path)


def to_path(blob: bytes) -> Path:
    """A stored path back as a Path."""
    return Path(os.fsdecode(blob))


def to_optional_path(blob: bytes | None) -> Path | None:
    """A stored path that may be NULL."""
    return None if blob is None else to_path(blob)


class SealDB(LocalDatabase):
    """One connection, guarded by a lock, shared by the watcher thread and the sealing thread."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        super().__init__(path, pragmas=("synchronous=NORMAL", "busy_timeout=30000"), timeout=30)
        self.create_schema(SCHEMA)
        self.make_private()

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Run a read query and return all rows."""
        with self._lock:
            return self.conn.execute(sql, params).fetchall()

    def get_meta(self, key: str, default: str | None = None) -> str | None:
        """A value from `seal_meta`."""
        rows = self.query("SELECT value FROM seal_meta WHERE key = ?", (key,))
        return rows[0][0] if rows else default

    def set_meta(self, key: str, value: str) -> None:
        """Store a value in `seal_meta`."""
        with self.transaction() as conn:
            conn.execute("INSERT INTO seal_meta (key, value) VALUES (?, ?) ON CONFLICT(key) "
                         "DO UPDATE SET value = excluded.value", (key, value))
