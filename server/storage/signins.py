"""Queries on stored sign-ins: flags, and the reads behind "my sign-ins", the admin listing
and the command line. The ingestion hot path's insert is in storage.signin_insert.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
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

from server.ingest.fastjson import dumps_compact
from server.storage.base import UTCDateTime
from server.storage.pg_copy import copy_rows
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
SYSTEM, EVENT_ID = COLUMNS.index("source_system"), COLUMNS.index("source_event_id")
_FLAG_COLUMNS = ("signin_id", "kind", "reason", "details")
_NOTIFICATION_COLUMNS = ("id", "employee_id", "kind", "title", "body", "data", "created_at",
                         "acked_at", "acked_by_device_id", "response")


def insert_flags(conn: Connection, flags: Sequence[dict[str, Any]]) -> None:
    """Store flags: dicts with signin_id, kind, reason and details."""
    if not flags:
        return
    if conn.dialect.name == "postgresql":
        copy_rows(conn, "signin_flags", _FLAG_COLUMNS, [
            (f["signin_id"], f["kind"], f["reason"], dumps_compact(f["details"]))
            for f in flags])
    else:
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


def insert_notifications(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Queue many employee notifications at once (dicts of notifications columns)."""
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        copy_rows(conn, "notifications", _NOTIFICATION_COLUMNS, [
            tuple(dumps_compact(row[name]) if name == "data" else row[name]
                  for name in _NOTIFICATION_COLUMNS) for row in rows])
    else:
        from server.storage.models import Notification
        conn.execute(insert(Notification), list(rows))
