"""Queries on stored sign-ins: the batched, idempotent insert of the ingestion hot path, flags,
and the reads behind "my sign-ins", the admin listing and the command line.

Inserting is dialect-specific because it is the hot path: PostgreSQL COPYs a batch into a
temporary table and moves it with one `INSERT ... SELECT ... ON CONFLICT DO NOTHING RETURNING`;
SQLite runs one C-level executemany of `INSERT ... ON CONFLICT DO NOTHING` inside the caller's
`BEGIN IMMEDIATE` transaction and reads back the rows whose id is above the previous maximum
(safe: that transaction holds the only write lock). Both return the ids of the rows that are
new, so duplicates (a re-ingest) create no flags or notifications.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BindParameter,
    Connection,
    Select,
    Table,
    and_,
    bindparam,
    func,
    insert,
    or_,
    select,
)

from server.storage.base import UTCDateTime
from server.storage.signin_models import SignInAnswer, SignInFlag, SignInRow

SIGNINS: Table = SignInRow.__table__  # type: ignore[assignment]
FLAGS: Table = SignInFlag.__table__  # type: ignore[assignment]
ANSWERS: Table = SignInAnswer.__table__  # type: ignore[assignment]

# Column order of the rows built by `ingestion` (everything but the generated id).
COLUMNS = ("employee_id", "identity", "occurred_at", "received_at", "source_system",
           "source_event_id", "source_ip", "application", "client", "outcome",
           "failure_reason", "place_kind", "country_code", "country_name", "city", "latitude",
           "longitude", "accuracy_radius_km", "asn", "network_org", "is_anonymizer",
           "is_hosting", "vendor_geo", "flag_count", "notification_id")
_TIME_COLUMNS = (COLUMNS.index("occurred_at"), COLUMNS.index("received_at"))
_BOOL_COLUMNS = (COLUMNS.index("is_anonymizer"), COLUMNS.index("is_hosting"))
_NAMES = ", ".join(COLUMNS)

Key = tuple[str, str]  # (source_system, source_event_id)

_PG_STAGE = (f"CREATE TEMP TABLE IF NOT EXISTS signin_stage ON COMMIT DELETE ROWS AS "
             f"SELECT {_NAMES} FROM signins WITH NO DATA")
_PG_MOVE = (f"INSERT INTO signins ({_NAMES}) SELECT {_NAMES} FROM signin_stage "
            "ON CONFLICT (source_system, source_event_id) DO NOTHING "
            "RETURNING id, source_system, source_event_id")
_SQLITE_INSERT = (f"INSERT INTO signins ({_NAMES}) VALUES ({', '.join('?' * len(COLUMNS))}) "
                  "ON CONFLICT (source_system, source_event_id) DO NOTHING")


def insert_batch(conn: Connection, rows: Sequence[tuple[Any, ...]]) -> dict[Key, int]:
    """Store `rows` (tuples in COLUMNS order; `vendor_geo` as JSON text or None), skipping
    those already stored. Returns {(source_system, source_event_id): id} of the new rows."""
    if not rows:
        return {}
    if conn.dialect.name == "postgresql":
        return _insert_postgres(conn, rows)
    return _insert_sqlite(conn, rows)


def _driver_connection(conn: Connection) -> Any:
    """The DB-API connection under `conn` (for COPY and executemany without ORM overhead)."""
    raw = conn.connection.driver_connection
    if raw is None:
        raise RuntimeError("the database connection is closed")
    return raw


def _insert_postgres(conn: Connection, rows: Sequence[tuple[Any, ...]]) -> dict[Key, int]:
    raw = _driver_connection(conn)
    with raw.cursor() as cur:
        cur.execute("SET LOCAL client_min_messages = warning")  # no "already exists" notice
        cur.execute(_PG_STAGE)
        with cur.copy(f"COPY signin_stage ({_NAMES}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        cur.execute(_PG_MOVE)
        new = {(system, event): ident for ident, system, event in cur.fetchall()}
        cur.execute("TRUNCATE signin_stage")  # a later batch in this transaction starts empty
    return new


def naive_utc(moment: datetime) -> str:
    """SQLite's stored form of a UTC time (as SQLAlchemy writes it, so comparisons order)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _sqlite_row(row: tuple[Any, ...]) -> tuple[Any, ...]:
    values = list(row)
    for index in _TIME_COLUMNS:
        values[index] = naive_utc(values[index])
    for index in _BOOL_COLUMNS:
        values[index] = 1 if values[index] else 0
    return tuple(values)


def _insert_sqlite(conn: Connection, rows: Sequence[tuple[Any, ...]]) -> dict[Key, int]:
    raw = _driver_connection(conn)
    cur = raw.cursor()
    try:
        before = cur.execute("SELECT coalesce(max(id), 0) FROM signins").fetchone()[0]
        cur.executemany(_SQLITE_INSERT, [_sqlite_row(r) for r in rows])
        found = cur.execute("SELECT id, source_system, source_event_id FROM signins "
                            "WHERE id > ?", (before,)).fetchall()
    finally:
        cur.close()
    return {(system, event): ident for ident, system, event in found}


def insert_flags(conn: Connection, flags: Sequence[dict[str, Any]]) -> None:
    """Store flags: dicts with signin_id, kind, reason and details."""
    if flags:
        conn.execute(insert(FLAGS), list(flags))


def flags_of(conn: Connection, signin_ids: Sequence[int]) -> dict[int, list[dict[str, Any]]]:
    """Flags of each sign-in id, in the order the detectors raised them."""
    out: dict[int, list[dict[str, Any]]] = {}
    if not signin_ids:
        return out
    rows = conn.execute(select(FLAGS.c.signin_id, FLAGS.c.kind, FLAGS.c.reason, FLAGS.c.details)
                        .where(FLAGS.c.signin_id.in_(list(signin_ids))).order_by(FLAGS.c.id))
    for signin_id, kind, reason, details in rows:
        out.setdefault(signin_id, []).append({"kind": kind, "reason": reason,
                                              "details": details})
    return out


# What listings show (not vendor_geo: the largest column, never shown to employees).
_LISTED = (*(c for c in SIGNINS.c if c.name not in ("vendor_geo", "received_at")),
           ANSWERS.c.answer, ANSWERS.c.comment, ANSWERS.c.answered_at)


def _listing_query(limit: Any, before: tuple[Any, Any] | None) -> Any:
    query = (select(*_LISTED).select_from(SIGNINS.outerjoin(ANSWERS))
             .order_by(SIGNINS.c.occurred_at.desc(), SIGNINS.c.id.desc()).limit(limit))
    if before is not None:
        at, ident = before
        query = query.where(or_(SIGNINS.c.occurred_at < at,
                                and_(SIGNINS.c.occurred_at == at, SIGNINS.c.id < ident)))
    return query


# Built once: "my sign-ins" is the most frequent read, so it skips statement construction.
_EMPLOYEE: BindParameter[int] = bindparam("employee_id")
_MINE = _listing_query(bindparam("limit"), None).where(SIGNINS.c.employee_id == _EMPLOYEE)
_MINE_AFTER = (_listing_query(bindparam("limit"), (bindparam("at", type_=UTCDateTime()),
                                                    bindparam("ident")))
               .where(SIGNINS.c.employee_id == _EMPLOYEE))


def employee_signins(conn: Connection, employee_id: int, *, limit: int = 50,
                     before: tuple[datetime, int] | None = None) -> list[dict[str, Any]]:
    """An employee's sign-ins newest first (one index range scan of ix_signins_employee_time),
    each with its answer and, for flagged ones, its flags. `before` = (occurred_at, id) of the
    last row of the previous page."""
    params: dict[str, Any] = {"employee_id": employee_id, "limit": limit}
    if before is not None:
        params["at"], params["ident"] = before
    result = conn.execute(_MINE if before is None else _MINE_AFTER, params)
    return _with_flags(conn, [dict(row) for row in result.mappings()])


def list_signins(conn: Connection, *, employee_id: int | None = None, flagged: bool = False,
                 limit: int = 100, before: tuple[datetime, int] | None = None,
                 only: Select[Any] | None = None) -> list[dict[str, Any]]:
    """Sign-ins of everyone (or one employee) newest first, optionally only flagged ones, and
    only of employees whose id is in the `only` subquery, if given."""
    query = _listing_query(limit, before)
    if employee_id is not None:
        query = query.where(SIGNINS.c.employee_id == employee_id)
    if only is not None:
        query = query.where(SIGNINS.c.employee_id.in_(only))
    if flagged:
        query = query.where(SIGNINS.c.flag_count > 0)
    return _with_flags(conn, [dict(r._mapping) for r in conn.execute(query)])


def _with_flags(conn: Connection, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    flagged = [r["id"] for r in rows if r["flag_count"]]
    flags = flags_of(conn, flagged)
    for row in rows:
        row["flags"] = flags.get(row["id"], [])
    return rows


def get_signins(conn: Connection, signin_ids: Sequence[int]) -> list[dict[str, Any]]:
    """Sign-ins by id (with answer and flags), newest first."""
    if not signin_ids:
        return []
    query = _listing_query(len(signin_ids), None).where(SIGNINS.c.id.in_(list(signin_ids)))
    return _with_flags(conn, [dict(r._mapping) for r in conn.execute(query)])


def owned_signin(conn: Connection, signin_id: int, employee_id: int) -> dict[str, Any] | None:
    """The sign-in if it exists *and* belongs to `employee_id` (else None: no leak)."""
    row = conn.execute(select(SIGNINS).where(SIGNINS.c.id == signin_id,
                                             SIGNINS.c.employee_id == employee_id)).first()
    return dict(row._mapping) if row else None


def save_answer(conn: Connection, *, signin_id: int, employee_id: int, answer: str,
                comment: str | None, device_id: str | None, now: datetime) -> None:
    """Record (or replace) the employee's answer about a sign-in."""
    conn.execute(ANSWERS.delete().where(ANSWERS.c.signin_id == signin_id))
    conn.execute(insert(ANSWERS).values(signin_id=signin_id, employee_id=employee_id,
                                        answer=answer, comment=comment, answered_at=now,
                                        device_id=device_id))


def count_signins(conn: Connection) -> int:
    """How many sign-ins are stored."""
    return conn.execute(select(func.count()).select_from(SIGNINS)).scalar_one()


def vendor_geo_text(value: dict[str, Any] | None) -> str | None:
    """The JSON text stored for a vendor's own location guess."""
    return json.dumps(value, separators=(",", ":")) if value is not None else None


def insert_notifications(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Queue many employee notifications at once (dicts of notifications columns)."""
    if rows:
        from server.storage.models import Notification
        conn.execute(insert(Notification), list(rows))
