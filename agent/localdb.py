"""The agent's local SQLite files share one way of opening, locking and creating their schema.

Each file (state, seal journal, nudge history) keeps one connection in autocommit mode, shared
between threads behind a re-entrant lock; writes go through `BEGIN IMMEDIATE` so a writer never
has to upgrade a read lock, and new files are private to the employee (0600).
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class LocalDatabase:
    """One SQLite connection guarded by a lock; `transaction()` is BEGIN IMMEDIATE...COMMIT."""

    def __init__(self, path: str | os.PathLike[str], *, pragmas: tuple[str, ...] = (),
                 timeout: float = 10) -> None:
        self.path = Path(path)
        self._new = not self.path.exists()
        self._lock = threading.RLock()
        self.conn = sqlite3.connect(self.path, timeout=timeout, isolation_level=None,
                                    check_same_thread=False)
        self.conn.execute("PRAGMA journal_mode=WAL")
        for pragma in pragmas:
            self.conn.execute(f"PRAGMA {pragma}")

    def make_private(self) -> None:
        """Restrict a file this object created to its owner (call once the schema exists)."""
        if self._new and os.name == "posix":
            os.chmod(self.path, 0o600)

    def create_schema(self, schema: str) -> None:
        """Run `schema`'s statements in one transaction (executescript would commit early)."""
        with self.transaction() as conn:
            for statement in schema.split(";"):
                if statement.strip():
                    conn.execute(statement)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT on success, ROLLBACK on any error."""
        with self._lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self.conn.close()
