"""The agent's local state: one SQLite file (WAL) in the state folder.

Tables: `settings` (operator overrides), `enrolment` (one row: server, credential, trusted
keys, employee), `outbox` (events not yet acknowledged, see outbox.py), `checkpoints` (generic
key/value for sensors: log offsets, cursors), `rules_applied` (one row: the signed bundle in
force), `ledger` (what left the laptop, see ledger.py), `notifications` (from the server, for
the tray) and `state` (counters and the last check-in, location, status snapshot).

One `Store` is shared by the agent's threads: a single connection guarded by a lock, with
`synchronous=FULL` so that an event the agent says it queued survives a power cut. Other
processes (`heedful-agent status`) open their own `Store`; WAL lets them read while the agent
writes, and `busy_timeout` serialises writers.
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

from agent.localdb import LocalDatabase
from agent.paths import DB_NAME

SCHEMA_VERSION = 1
SCHEMA = """
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS enrolment (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    server_url TEXT NOT NULL, device_id TEXT, device_secret TEXT,
    employee TEXT NOT NULL DEFAULT '{}', trusted_keys TEXT NOT NULL DEFAULT '[]',
    ca_file TEXT, checkin_interval REAL, enrolled_at REAL NOT NULL,
    status TEXT NOT NULL DEFAULT 'enrolled', status_reason TEXT NOT NULL DEFAULT '');
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, type TEXT NOT NULL,
    occurred_at TEXT NOT NULL, data TEXT NOT NULL, queued_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS checkpoints (
    name TEXT PRIMARY KEY, value TEXT NOT NULL, updated_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS rules_applied (
    id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL, envelope TEXT NOT NULL,
    etag TEXT, applied_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS ledger (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL, kind TEXT NOT NULL,
    summary TEXT NOT NULL, detail TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS ledger_at ON ledger (at);
CREATE TABLE IF NOT EXISTS notifications (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, received_at REAL NOT NULL,
    payload TEXT NOT NULL, acked_at REAL, response TEXT, ack_sent INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


class StoreError(Exception):
    """The state database cannot be opened or is from a newer agent."""


class Store(LocalDatabase):
    """The agent's SQLite state file; thread-safe, one connection."""

    def __init__(self, home: Path) -> None:
        self.home = Path(home)
        self.home.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = self.home / DB_NAME
        try:
            super().__init__(path, pragmas=("synchronous=FULL", "busy_timeout=10000"))
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot open the agent state at {path}: {exc}") from exc
        self.make_private()

    def _migrate(self) -> None:
        version = self.conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StoreError(f"{self.path} was written by a newer agent (schema {version})")
        if version == SCHEMA_VERSION:
            return
        self.create_schema(f"{SCHEMA};\nPRAGMA user_version={SCHEMA_VERSION}")

    def query(self, sql: str, params: tuple | dict = ()) -> list[sqlite3.Row]:
        """Run a read query and return all rows (as tuples)."""
        with self._lock:
            return self.conn.execute(sql, params).fetchall()

    # -- key/value tables: settings, state, checkpoints -----------------------------------
    def _get(self, table: str, key: str, default: Any = None) -> Any:
        rows = self.query(f"SELECT value FROM {table} WHERE key = ?", (key,))
        return json.loads(rows[0][0]) if rows else default

    def _put(self, table: str, key: str, value: Any) -> None:
        with self.transaction() as conn:
            conn.execute(f"INSERT INTO {table} (key, value) VALUES (?, ?) ON CONFLICT(key) "
                         "DO UPDATE SET value = excluded.value", (key, json.dumps(value)))

    def get_state(self, key: str, default: Any = None) -> Any:
        """A value of the `state` table (JSON-decoded)."""
        return self._get("state", key, default)

    def put_state(self, key: str, value: Any) -> None:
        """Set a value of the `state` table (JSON-encoded)."""
        self._put("state", key, value)

    def add_to_counter(self, key: str, amount: int) -> int:
        """Atomically add to an integer in `state`; returns the new total."""
        with self.transaction() as conn:
            row = conn.execute("SELECT value FROM state WHERE key = ?", (key,)).fetchone()
            total = (json.loads(row[0]) if row else 0) + amount
            conn.execute("INSERT INTO state (key, value) VALUES (?, ?) ON CONFLICT(key) "
                         "DO UPDATE SET value = excluded.value", (key, json.dumps(total)))
        return total

    def get_setting(self, key: str, default: Any = None) -> Any:
        """An operator-set value of the `settings` table (see settings.py)."""
        return self._get("settings", key, default)

    def put_setting(self, key: str, value: Any) -> None:
        """Persist an operator setting."""
        self._put("settings", key, value)

    def get_checkpoint(self, name: str, default: Any = None) -> Any:
        """A sensor's checkpoint (any JSON value), e.g. a log offset."""
        rows = self.query("SELECT value FROM checkpoints WHERE name = ?", (name,))
        return json.loads(rows[0][0]) if rows else default

    def put_checkpoint(self, name: str, value: Any) -> None:
        """Persist a sensor's checkpoint."""
        with self.transaction() as conn:
            conn.execute("INSERT INTO checkpoints (name, value, updated_at) VALUES (?, ?, ?) "
                         "ON CONFLICT(name) DO UPDATE SET value = excluded.value, "
                         "updated_at = excluded.updated_at",
                         (name, json.dumps(value), time.time()))
