"""The batched, idempotent insert of sign-ins: the ingestion hot path.

It is dialect-specific because it is the hot path. PostgreSQL, when the caller expects new
rows (a first ingest): one binary COPY (storage.pg_copy says why binary) straight into
`signins` inside a savepoint; if any row is there already the unique index refuses the COPY,
the savepoint is rolled back and the batch takes the careful path: binary COPY into a
temporary table, then one `INSERT ... SELECT ... ON CONFLICT DO NOTHING RETURNING`. SQLite
runs one C-level executemany of `INSERT ... ON CONFLICT DO NOTHING` inside the caller's
`BEGIN IMMEDIATE` transaction; when it stored fewer rows than given it reads back the rows
whose id is above the previous maximum (safe: that transaction holds the only write lock).
Either way the caller learns which rows are new, so duplicates (a re-ingest) create no flags
or notifications, and the ids of the new rows it asked about.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import psycopg
from sqlalchemy import Connection

from server.storage.pg_copy import column_types, copy, driver_connection
from server.storage.signins import COLUMNS

Key = tuple[str, str]  # (source_system, source_event_id), as stored
_NAMES = ", ".join(COLUMNS)
_TIME_COLUMNS = (COLUMNS.index("occurred_at"), COLUMNS.index("received_at"))
_BOOL_COLUMNS = (COLUMNS.index("is_anonymizer"), COLUMNS.index("is_hosting"))


@dataclass
class Inserted:
    """What `insert_batch` stored. `new`: keys of the rows stored now, or None when every
    row was; `ids`: the ids of the new rows among the keys the caller asked about."""

    new: set[Key] | None
    ids: dict[Key, int] = field(default_factory=dict)


def insert_batch(conn: Connection, rows: Sequence[tuple[Any, ...]], *,
                 want_ids: Collection[Key] = (), expect_new: bool = True) -> Inserted:
    """Store `rows` (tuples in signins.COLUMNS order with unique keys; `vendor_geo` as JSON
    text or None), skipping those already stored. `want_ids`: keys whose ids the caller
    needs (e.g. flagged sign-ins); `expect_new`: try the fast path that assumes none is
    stored yet (it falls back by itself, at the price of a wasted COPY, when that is wrong)."""
    if not rows:
        return Inserted(set())
    raw = driver_connection(conn)
    if conn.dialect.name == "postgresql":
        return _insert_postgres(raw, rows, want_ids, expect_new)
    return _insert_sqlite(raw, rows, want_ids)


# --- PostgreSQL --------------------------------------------------------------------------------

_PG_COPY = f"COPY signins ({_NAMES}) FROM STDIN (FORMAT BINARY)"
_PG_STAGE = (f"CREATE TEMP TABLE IF NOT EXISTS signin_stage ON COMMIT DELETE ROWS AS "
             f"SELECT {_NAMES} FROM signins WITH NO DATA")
_PG_STAGE_COPY = f"COPY signin_stage ({_NAMES}) FROM STDIN (FORMAT BINARY)"
_PG_MOVE = (f"INSERT INTO signins ({_NAMES}) SELECT {_NAMES} FROM signin_stage "
            "ON CONFLICT (source_system, source_event_id) DO NOTHING "
            "RETURNING id, source_system, source_event_id")
_PG_IDS = ("SELECT s.id, s.source_system, s.source_event_id FROM signins s "
           "JOIN unnest(%s::text[], %s::text[]) AS k(system, event) "
           "ON s.source_system = k.system AND s.source_event_id = k.event")
def _insert_postgres(raw: Any, rows: Sequence[tuple[Any, ...]], want_ids: Collection[Key],
                     expect_new: bool) -> Inserted:
    with raw.cursor() as cur:
        types = column_types(raw, cur, "signins", COLUMNS)
        if expect_new and _copy_all_new(cur, rows, types):
            return Inserted(None, _postgres_ids(cur, want_ids))
        cur.execute("SET LOCAL client_min_messages = warning")  # no "already exists" notice
        cur.execute(_PG_STAGE)
        copy(cur, _PG_STAGE_COPY, rows, types)
        cur.execute(_PG_MOVE)
        ids = {(system, event): ident for ident, system, event in cur.fetchall()}
        cur.execute("TRUNCATE signin_stage")  # a later batch in this transaction starts empty
    return Inserted(set(ids), {key: ids[key] for key in want_ids if key in ids})


def _copy_all_new(cur: Any, rows: Sequence[tuple[Any, ...]], types: list[int]) -> bool:
    """COPY the rows straight into signins; False (and nothing stored) if one exists."""
    cur.execute("SAVEPOINT signin_copy")
    try:
        copy(cur, _PG_COPY, rows, types)
    except psycopg.errors.UniqueViolation:
        cur.execute("ROLLBACK TO SAVEPOINT signin_copy")
        return False
    cur.execute("RELEASE SAVEPOINT signin_copy")
    return True


def _postgres_ids(cur: Any, keys: Collection[Key]) -> dict[Key, int]:
    if not keys:
        return {}
    systems, events = zip(*keys, strict=True)
    cur.execute(_PG_IDS, (list(systems), list(events)))
    return {(system, event): ident for ident, system, event in cur.fetchall()}


# --- SQLite ------------------------------------------------------------------------------------

_SQLITE_INSERT = (f"INSERT INTO signins ({_NAMES}) VALUES ({', '.join('?' * len(COLUMNS))}) "
                  "ON CONFLICT (source_system, source_event_id) DO NOTHING")
_SQLITE_ID = "SELECT id FROM signins WHERE source_system = ? AND source_event_id = ?"


def naive_utc(moment: datetime) -> str:
    """SQLite's stored form of a UTC time (as SQLAlchemy writes it, so comparisons order)."""
    if moment.tzinfo is None or moment.utcoffset():
        moment = moment.astimezone(UTC)
    # isoformat is several times faster than strftime on this hot path; same text.
    return moment.isoformat(" ", "microseconds")[:26]


def _sqlite_row(row: tuple[Any, ...]) -> list[Any]:
    values = list(row)
    for index in _TIME_COLUMNS:
        values[index] = naive_utc(values[index])
    for index in _BOOL_COLUMNS:
        values[index] = 1 if values[index] else 0
    return values


def _insert_sqlite(raw: Any, rows: Sequence[tuple[Any, ...]],
                   want_ids: Collection[Key]) -> Inserted:
    cur = raw.cursor()
    try:
        before = cur.execute("SELECT coalesce(max(id), 0) FROM signins").fetchone()[0]
        cur.executemany(_SQLITE_INSERT, [_sqlite_row(r) for r in rows])
        if cur.rowcount == len(rows):  # every row was new
            return Inserted(None, {key: cur.execute(_SQLITE_ID, key).fetchone()[0]
                                   for key in want_ids})
        found = cur.execute("SELECT id, source_system, source_event_id FROM signins "
                            "WHERE id > ?", (before,)).fetchall()
    finally:
        cur.close()
    ids = {(system, event): ident for ident, system, event in found}
    return Inserted(set(ids), {key: ids[key] for key in want_ids if key in ids})
