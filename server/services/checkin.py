"""Agent check-in: store the device's state and its events, answer with what it should know.

Everything a check-in writes (state snapshot, new events) is stored atomically by
`storage.checkins.record_checkin`, so a failure stores nothing. Events are idempotent by
`(device, event id)`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from server.services.clock import rfc3339
from server.services.device_auth import INVALID_MESSAGE, AuthenticatedDevice
from server.services.errors import DeviceInvalid
from server.services.protocol import CheckinRequest
from server.storage import checkins as checkin_store

MAX_NOTIFICATIONS_PER_REPLY = 50
UNKNOWN_LOCATION = {"kind": "unknown", "country_code": None, "country_name": None,
                    "city": None, "source": "request_ip"}


@dataclass(frozen=True)
class CheckinPolicy:
    """Server-set pacing sent to agents."""

    interval_seconds: int
    max_batch_size: int


@dataclass(frozen=True)
class CheckinOutcome:
    """The reply body plus counts for metrics."""

    reply: dict[str, Any]
    events_received: int
    events_stored: int


def location_of(place: Any) -> dict[str, Any]:
    """The protocol's `location` object from a `server.services.geo.Place` (or None)."""
    if place is None:
        return dict(UNKNOWN_LOCATION)
    return {"kind": place.kind, "country_code": place.country_code,
            "country_name": place.country_name, "city": place.city, "source": "request_ip"}


def check_in(conn: Connection, device: AuthenticatedDevice, request: CheckinRequest, *,
             ip: str | None, location: dict[str, Any], policy: CheckinPolicy,
             now: datetime) -> CheckinOutcome:
    """Record one check-in and build its reply (docs/protocol.md, POST /api/v1/checkin).

    `conn` comes from `Database.hot_path()`.
    """
    accepted = request.events[:policy.max_batch_size]
    rows = [{"event_id": str(e.id), "type": e.type, "occurred_at": e.occurred_at,
             "data": e.data} for e in accepted]
    written = checkin_store.record_checkin(
        conn, device_id=device.device_id, employee_id=device.employee_id,
        state=request.state.model_dump(mode="json"), ip=ip,
        country=location.get("country_code"), events=rows,
        batch_id=str(request.batch_id) if request.batch_id else None, now=now,
        notification_limit=MAX_NOTIFICATIONS_PER_REPLY)
    if not written.device_active:  # revoked between authentication and the write
        raise DeviceInvalid(INVALID_MESSAGE)
    for item in written.pending:
        item["created_at"] = rfc3339(item["created_at"])
    reply = {
        "rules_version": device.rules_version,
        "location": location,
        "notifications": written.pending,
        "next_checkin_seconds": policy.interval_seconds,
        "max_batch_size": policy.max_batch_size,
        "accepted_event_ids": [row["event_id"] for row in rows],
        "server_time": rfc3339(now),
    }
    return CheckinOutcome(reply, events_received=len(request.events),
                          events_stored=written.events_stored)
