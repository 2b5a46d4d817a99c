"""The check-in hot path: every laptop, every minute. Plain SQL on a Core connection, as few
round trips as the database allows.

PostgreSQL: one statement in autocommit mode (plus the credential lookup when the caller's
cache misses) whose CTEs update the state snapshot, insert the new events (ON CONFLICT DO
NOTHING), read the pending notifications and the newest rules version. A single statement is
atomic on its own, so there is no BEGIN/COMMIT round trip and still nothing partial. The update
only matches a device that is not revoked *and* still has an unrevoked credential with the
presented secret's hash; the insert only happens when the update did. So revocation is checked
by every check-in, and one racing a check-in stores nothing.
SQLite: the same effects as a few statements inside one `BEGIN IMMEDIATE` transaction.
(Measured: the ORM version of this path cost ~1.8 ms of CPU per check-in, this one ~0.3 ms.)
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, text

CREDENTIALS = text("""
SELECT c.secret_hash, d.employee_id, d.revoked_at IS NOT NULL AS revoked,
       (SELECT max(version) FROM rule_bundles) AS rules_version
  FROM device_credentials c JOIN devices d ON d.id = c.device_id
 WHERE c.device_id = :device_id AND c.revoked_at IS NULL""")

PG_CHECKIN = text("""
WITH upd AS (
  UPDATE device_states AS s
     SET last_checkin_at = :now, state = CAST(:state AS jsonb), last_ip = :ip,
         last_country_code = :country, checkins = s.checkins + 1
    FROM devices AS d
   WHERE s.device_id = :device_id AND d.id = s.device_id AND d.revoked_at IS NULL
     AND EXISTS (SELECT 1 FROM device_credentials AS c WHERE c.device_id = :device_id
                    AND c.secret_hash = :secret_hash AND c.revoked_at IS NULL)
  RETURNING s.device_id
), ins AS (
  INSERT INTO agent_events (device_id, event_id, batch_id, type, occurred_at, received_at, data)
  SELECT upd.device_id, e.event_id, :batch_id, e.type, e.occurred_at, :now, e.data
    FROM upd, jsonb_to_recordset(CAST(:events AS jsonb))
         AS e(event_id text, type text, occurred_at timestamptz, data jsonb)
  ON CONFLICT (device_id, event_id) DO NOTHING
  RETURNING 1
)
SELECT (SELECT count(*) FROM upd), (SELECT count(*) FROM ins),
       (SELECT max(version) FROM rule_bundles),
       n.id, n.kind, n.title, n.body, n.created_at, n.data
  FROM (SELECT 1) AS one
  LEFT JOIN LATERAL (
    SELECT id, kind, title, body, created_at, data FROM notifications
     WHERE employee_id = :employee_id AND acked_at IS NULL
     ORDER BY created_at, id LIMIT :limit) AS n ON true""")

SQLITE_STATE = text("""
UPDATE device_states
   SET last_checkin_at = :now, state = :state, last_ip = :ip, last_country_code = :country,
       checkins = checkins + 1
 WHERE device_id = :device_id
   AND EXISTS (SELECT 1 FROM devices WHERE id = :device_id AND revoked_at IS NULL)
   AND EXISTS (SELECT 1 FROM device_credentials WHERE device_id = :device_id
                  AND secret_hash = :secret_hash AND revoked_at IS NULL)""")
SQLITE_RULES_VERSION = text("SELECT max(version) FROM rule_bundles")
SQLITE_EVENT = text("""
INSERT INTO agent_events (device_id, event_id, batch_id, type, occurred_at, received_at, data)
VALUES (:device_id, :event_id, :batch_id, :type, :occurred_at, :now, :data)
ON CONFLICT (device_id, event_id) DO NOTHING""")
SQLITE_PENDING = text("""
SELECT id, kind, title, body, created_at, data FROM notifications
 WHERE employee_id = :employee_id AND acked_at IS NULL
 ORDER BY created_at, id LIMIT :limit""")


def _psycopg(statement: Any) -> str:
    """The same SQL with psycopg's %(name)s placeholders, for the asyncio path."""
    return re.sub(r"(?<![:\w]):(\w+)", r"%(\1)s", str(statement.text))


ASYNC_CREDENTIALS = _psycopg(CREDENTIALS)
ASYNC_PG_CHECKIN = _psycopg(PG_CHECKIN)


@dataclass(frozen=True)
class Credential:
    """An active credential of a device and what an authenticated request needs."""

    secret_hash: str
    employee_id: int
    device_revoked: bool
    rules_version: int | None


@dataclass(frozen=True)
class CheckinWrite:
    """What one check-in stored: whether the device and credential were still active, how many
    events were new, the employee's pending notifications (dicts with `created_at` as an aware
    datetime) and the newest published rules version."""

    device_active: bool
    events_stored: int
    pending: list[dict[str, Any]]
    rules_version: int | None = None


def credentials(conn: Connection, device_id: str) -> list[Credential]:
    """Active credentials of a device, plus the newest published rules version."""
    rows = conn.execute(CREDENTIALS, {"device_id": device_id}).all()
    return [Credential(r[0], r[1], bool(r[2]), r[3]) for r in rows]


async def credentials_async(conn: Any, device_id: str) -> list[Credential]:
    """`credentials` on an asyncio psycopg connection (PostgreSQL)."""
    cursor = await conn.execute(ASYNC_CREDENTIALS, {"device_id": device_id})
    return [Credential(r[0], r[1], bool(r[2]), r[3]) for r in await cursor.fetchall()]


async def record_checkin_async(conn: Any, *, device_id: str, secret_hash: str,
                               employee_id: int, state: dict[str, Any], ip: str | None,
                               country: str | None, events: Sequence[dict[str, Any]],
                               batch_id: str | None, now: datetime,
                               notification_limit: int) -> CheckinWrite:
    """`record_checkin` on an asyncio psycopg autocommit connection (PostgreSQL)."""
    params = _postgres_params(device_id, employee_id, state, ip, country, events, batch_id,
                              now, notification_limit)
    params["secret_hash"] = secret_hash
    cursor = await conn.execute(ASYNC_PG_CHECKIN, params)
    return _postgres_result(await cursor.fetchall())


def _aware(value: Any) -> datetime:
    if isinstance(value, str):  # SQLite returns text
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _notification(row: Sequence[Any]) -> dict[str, Any]:
    data = row[5]
    return {"id": row[0], "kind": row[1], "title": row[2], "body": row[3],
            "created_at": _aware(row[4]),
            "data": json.loads(data) if isinstance(data, str) else data}


def _naive_utc(moment: datetime) -> str:
    # SQLite columns hold naive UTC text in SQLAlchemy's exact format (storage.base.UTCDateTime),
    # so that text comparisons in queries order correctly.
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def record_checkin(conn: Connection, *, device_id: str, secret_hash: str, employee_id: int,
                   state: dict[str, Any], ip: str | None, country: str | None,
                   events: Sequence[dict[str, Any]], batch_id: str | None, now: datetime,
                   notification_limit: int) -> CheckinWrite:
    """Store the state and new events, read pending notifications (see module docstring).

    Nothing is stored (`device_active` false) unless the device is unrevoked and has an
    unrevoked credential whose hash is `secret_hash`. Each event dict has `event_id`, `type`,
    `occurred_at` (aware datetime) and `data`. On PostgreSQL `conn` must be in autocommit
    mode; on SQLite inside a transaction.
    """
    args = (device_id, employee_id, state, ip, country, events, batch_id, now,
            notification_limit)
    if conn.dialect.name == "postgresql":
        params = _postgres_params(*args)
        params["secret_hash"] = secret_hash
        return _postgres_result(conn.execute(PG_CHECKIN, params).all())
    return _record_sqlite(conn, secret_hash, *args)


def _postgres_params(device_id: str, employee_id: int, state: dict[str, Any], ip: str | None,
                     country: str | None, events: Sequence[dict[str, Any]],
                     batch_id: str | None, now: datetime, limit: int) -> dict[str, Any]:
    payload = [{"event_id": e["event_id"], "type": e["type"],
                "occurred_at": e["occurred_at"].isoformat(), "data": e["data"]} for e in events]
    return {"now": now, "state": json.dumps(state), "ip": ip, "country": country,
            "device_id": device_id, "batch_id": batch_id, "events": json.dumps(payload),
            "employee_id": employee_id, "limit": limit}


def _postgres_result(rows: Sequence[Sequence[Any]]) -> CheckinWrite:
    updated, stored, rules_version = rows[0][0], rows[0][1], rows[0][2]
    pending = [_notification(r[3:]) for r in rows if r[3] is not None]
    return CheckinWrite(bool(updated), stored, pending if updated else [], rules_version)


def _record_sqlite(conn: Connection, secret_hash: str, device_id: str, employee_id: int,
                   state: dict[str, Any], ip: str | None, country: str | None,
                   events: Sequence[dict[str, Any]], batch_id: str | None, now: datetime,
                   limit: int) -> CheckinWrite:
    stamp = _naive_utc(now)
    updated = conn.execute(SQLITE_STATE, {"now": stamp, "state": json.dumps(state), "ip": ip,
                                          "country": country, "device_id": device_id,
                                          "secret_hash": secret_hash}).rowcount
    if not updated:
        return CheckinWrite(False, 0, [])
    stored = 0
    for e in events:
        stored += conn.execute(SQLITE_EVENT, {
            "device_id": device_id, "event_id": e["event_id"], "batch_id": batch_id,
            "type": e["type"], "occurred_at": _naive_utc(e["occurred_at"]), "now": stamp,
            "data": json.dumps(e["data"])}).rowcount
    rows = conn.execute(SQLITE_PENDING, {"employee_id": employee_id, "limit": limit}).all()
    rules_version = conn.execute(SQLITE_RULES_VERSION).scalar()
    return CheckinWrite(True, stored, [_notification(r) for r in rows], rules_version)
