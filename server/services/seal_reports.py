"""Seal events at check-in: each device's seal timeline, for the lost-device assessment.

The agent reports `seal_started`, `seal_finished`, `unseal_finished` and `seal_error`
(fields in docs/seal-format.md, "Events and status"). The core stores every event in
`agent_events`; the handlers here (registered in `server.services.checkin_events.HANDLERS`)
also put them into `seal_timeline`, in the columns the assessment reads. Values are checked
one by one: a number that is not a sane count becomes null and a string is cut to its column,
so one odd field never refuses a check-in (which would be re-sent forever) nor loses the rest
of the event. An event whose `data` is not an object is skipped and logged.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from server.storage import seal_timeline as store

log = logging.getLogger(__name__)

SEAL_STARTED, SEAL_FINISHED = "seal_started", "seal_finished"
UNSEAL_FINISHED, SEAL_ERROR = "unseal_finished", "seal_error"
EVENT_TYPES = (SEAL_STARTED, SEAL_FINISHED, UNSEAL_FINISHED, SEAL_ERROR)
MAX_COUNT = 2**53  # beyond any real file count or byte total; also exact in JSON
MAX_PATHS = 200


def _count(value: Any) -> int | None:
    return value if type(value) is int and 0 <= value <= MAX_COUNT else None


def _seconds(value: Any) -> float | None:
    if type(value) in (int, float) and math.isfinite(value) and 0 <= value <= 10 * 365 * 86400:
        return float(value)
    return None


def _text(value: Any, limit: int) -> str | None:
    return value.replace("\x00", "")[:limit] if isinstance(value, str) else None


def _paths(value: Any) -> list[dict[str, str | None]]:
    found = []
    for item in value[:MAX_PATHS] if isinstance(value, list) else []:
        if isinstance(item, dict):
            found.append({"folder": _text(item.get("folder"), 500),
                          "path": _text(item.get("path"), 1000)})
    return found


def _columns(kind: str, data: dict[str, Any]) -> dict[str, Any]:
    """The timeline columns of one event's data."""
    row: dict[str, Any] = {"reason": _text(data.get("reason"), 32),
                           "session": _text(data.get("session"), 64), "files": None,
                           "bytes": None, "remaining_files": None, "remaining_bytes": None,
                           "busy_files": None, "failed_files": None, "duration_seconds": None,
                           "interrupted": None, "detail": {}}
    if kind == SEAL_STARTED:
        row.update(files=_count(data.get("pending_files")),
                   bytes=_count(data.get("pending_bytes")))
    elif kind == SEAL_FINISHED:
        row.update(files=_count(data.get("sealed_files")), bytes=_count(data.get("sealed_bytes")),
                   remaining_files=_count(data.get("remaining_files")),
                   remaining_bytes=_count(data.get("remaining_bytes")),
                   busy_files=_count(data.get("busy_files")),
                   failed_files=_count(data.get("failed_files")),
                   duration_seconds=_seconds(data.get("duration_seconds")),
                   interrupted=data.get("interrupted") if isinstance(
                       data.get("interrupted"), bool) else None)
        paths = _paths(data.get("paths"))
        row["detail"] = {"paths": paths} if paths else {}
    elif kind == UNSEAL_FINISHED:
        row.update(files=_count(data.get("unsealed_files")),
                   bytes=_count(data.get("unsealed_bytes")),
                   failed_files=_count(data.get("failed_files")),
                   duration_seconds=_seconds(data.get("duration_seconds")))
    else:  # seal_error: the message never holds a path (agent side); `path` only if allowed
        row["detail"] = {"operation": _text(data.get("operation"), 16),
                         "kind": _text(data.get("kind"), 64),
                         "message": _text(data.get("message"), 500),
                         "folder": _text(data.get("folder"), 500),
                         "path": _text(data.get("path"), 1000)}
    return row


def timeline_rows(events: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Timeline rows for check-in rows (event_id, type, occurred_at, data) of seal events."""
    rows = []
    for event in events:
        data = event["data"]
        if event["type"] not in EVENT_TYPES or not isinstance(data, dict):
            log.warning("skipping a malformed %s event %s", event["type"], event["event_id"])
            continue
        rows.append({"event_id": event["event_id"], "type": event["type"],
                     "occurred_at": event["occurred_at"], **_columns(event["type"], data)})
    return rows


def record(conn: Connection, device_id: str, events: Sequence[dict[str, Any]],
           now: datetime) -> None:
    """Check-in handler for the seal events: add them to the device's timeline."""
    store.add(conn, device_id, timeline_rows(events), now)


async def record_async(conn: Any, device_id: str, events: Sequence[dict[str, Any]],
                       now: datetime) -> None:
    """`record` on the asyncio PostgreSQL hot path."""
    await store.add_async(conn, device_id, timeline_rows(events), now)
