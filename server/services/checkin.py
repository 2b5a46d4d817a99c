"""Agent check-in: store the device's state and its events, answer with what it should know.

Everything a check-in writes (state snapshot, new events) happens in the caller's single
transaction, so a failure stores nothing. Events are idempotent by `(device, event id)`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from server.services.clock import rfc3339
from server.services.device_auth import AuthenticatedDevice
from server.services.protocol import CheckinRequest
from server.storage import devices as device_store
from server.storage import notifications as notification_store

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


def check_in(session: Session, device: AuthenticatedDevice, request: CheckinRequest, *,
             ip: str | None, location: dict[str, Any], policy: CheckinPolicy,
             now: datetime) -> CheckinOutcome:
    """Record one check-in and build its reply (docs/protocol.md, POST /api/v1/checkin)."""
    accepted = request.events[:policy.max_batch_size]
    rows = [{"event_id": str(e.id), "type": e.type, "occurred_at": e.occurred_at,
             "data": e.data} for e in accepted]
    batch_id = str(request.batch_id) if request.batch_id else None
    device_store.record_state(session, device.device_id,
                              state=request.state.model_dump(mode="json"), ip=ip,
                              country_code=location.get("country_code"), now=now)
    stored = device_store.insert_events(session, device.device_id, rows, batch_id=batch_id,
                                        now=now)
    pending = notification_store.pending_for(session, device.employee_id,
                                             limit=MAX_NOTIFICATIONS_PER_REPLY)
    for item in pending:
        item["created_at"] = rfc3339(item["created_at"])
    reply = {
        "rules_version": device.rules_version,
        "location": location,
        "notifications": pending,
        "next_checkin_seconds": policy.interval_seconds,
        "max_batch_size": policy.max_batch_size,
        "accepted_event_ids": [row["event_id"] for row in rows],
        "server_time": rfc3339(now),
    }
    return CheckinOutcome(reply, events_received=len(request.events), events_stored=stored)
