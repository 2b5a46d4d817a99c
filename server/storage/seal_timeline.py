"""The per-device seal timeline (`seal_timeline`): written at check-in, read by the assessment.

Writes run on the check-in's own connection and are idempotent by themselves: the primary key
is (device, event id) and an event already there is skipped by the database (ON CONFLICT DO
NOTHING), so a re-sent batch or a retry after a server failure adds nothing.
PostgreSQL (autocommit hot path): one INSERT ... SELECT FROM jsonb_to_recordset statement.
SQLite: one multi-row INSERT inside the check-in's transaction.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select, text
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from server.storage.seal_models import SealTimelineEntry

COLUMNS = ("event_id", "type", "occurred_at", "reason", "session", "files", "bytes",
           "remaining_files", "remaining_bytes", "busy_files", "failed_files",
           "duration_seconds", "interrupted", "detail")
PG_INSERT = text("""
INSERT INTO seal_timeline (device_id, received_at, event_id, type, occurred_at, reason,
                           session, files, bytes, remaining_files, remaining_bytes, busy_files,
                           failed_files, duration_seconds, interrupted, detail)
SELECT :device_id, :now, x.event_id, x.type, x.occurred_at, x.reason, x.session, x.files,
       x.bytes, x.remaining_files, x.remaining_bytes, x.busy_files, x.failed_files,
       x.duration_seconds, x.interrupted, x.detail
  FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS x(
       event_id text, type text, occurred_at timestamptz, reason text, session text,
       files integer, bytes bigint, remaining_files integer, remaining_bytes bigint,
       busy_files integer, failed_files integer, duration_seconds double precision,
       interrupted boolean, detail jsonb)
ON CONFLICT (device_id, event_id) DO NOTHING""")
ASYNC_PG_INSERT = re.sub(r"(?<![:\w]):(\w+)", r"%(\1)s", str(PG_INSERT.text))


def _pg_params(device_id: str, rows: Sequence[dict[str, Any]], now: datetime) -> dict[str, Any]:
    payload = [{**row, "occurred_at": row["occurred_at"].isoformat()} for row in rows]
    return {"device_id": device_id, "now": now, "rows": json.dumps(payload)}


def add(conn: Connection, device_id: str, rows: Sequence[dict[str, Any]], now: datetime) -> None:
    """Store timeline rows (dicts with COLUMNS) not stored before."""
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        conn.execute(PG_INSERT, _pg_params(device_id, rows, now))
        return
    values = [{**row, "device_id": device_id, "received_at": now} for row in rows]
    conn.execute(sqlite_insert(SealTimelineEntry).values(values).on_conflict_do_nothing(
        index_elements=["device_id", "event_id"]))


async def add_async(conn: Any, device_id: str, rows: Sequence[dict[str, Any]],
                    now: datetime) -> None:
    """`add` on an asyncio psycopg autocommit connection (PostgreSQL)."""
    if rows:
        await conn.execute(ASYNC_PG_INSERT, _pg_params(device_id, rows, now))


def timeline_of(session: Session, device_id: str, *, limit: int = 200) -> list[SealTimelineEntry]:
    """The device's newest `limit` seal events, oldest first (by the agent's clock)."""
    newest = list(session.scalars(
        select(SealTimelineEntry).where(SealTimelineEntry.device_id == device_id)
        .order_by(SealTimelineEntry.occurred_at.desc(), SealTimelineEntry.received_at.desc())
        .limit(limit)))
    return newest[::-1]
