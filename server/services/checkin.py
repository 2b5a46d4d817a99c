"""Agent check-in: store the device's state and its events, answer with what it should know.

Everything a check-in writes (state snapshot, new events, the location row when one is due) is
stored atomically by `storage.checkins`, so a failure stores nothing, and before the reply is
built. Events are idempotent by `(device, event id)`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from server.services import checkin_events
from server.services.clock import rfc3339
from server.services.device_auth import INVALID_MESSAGE, AuthenticatedDevice, CredentialCache
from server.services.errors import DeviceInvalid
from server.services.protocol import CheckinRequest
from server.storage import checkins as checkin_store
from server.storage.checkin_batches import CheckinBatcher

MAX_NOTIFICATIONS_PER_REPLY = 50
UNKNOWN_LOCATION = {"kind": "unknown", "country_code": None, "country_name": None,
                    "city": None, "source": "request_ip"}


@dataclass(frozen=True)
class CheckinPolicy:
    """Server-set pacing sent to agents, and the recovery key they escrow their seal key to."""

    interval_seconds: int
    max_batch_size: int
    recovery_public_key: str | None = None  # base64 X25519; None: escrow not configured


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


def _event_rows(request: CheckinRequest, policy: CheckinPolicy) -> list[dict[str, Any]]:
    accepted = request.events[:policy.max_batch_size]
    return [{"event_id": str(e.id), "type": e.type, "occurred_at": e.occurred_at,
             "data": e.data} for e in accepted]


def _item(device: AuthenticatedDevice, request: CheckinRequest, rows: list[dict[str, Any]],
          ip: str | None, location: dict[str, Any], now: datetime,
          location_row: dict[str, Any] | None) -> checkin_store.CheckinItem:
    return checkin_store.CheckinItem(
        device_id=device.device_id, secret_hash=device.secret_hash,
        employee_id=device.employee_id, state=request.state.model_dump_json(), ip=ip,
        country=location.get("country_code"), now=now, events=rows,
        batch_id=str(request.batch_id) if request.batch_id else None, location=location_row)


def _outcome(device: AuthenticatedDevice, request: CheckinRequest, rows: list[dict[str, Any]],
             written: checkin_store.CheckinWrite, location: dict[str, Any],
             policy: CheckinPolicy, now: datetime,
             cache: CredentialCache | None) -> CheckinOutcome:
    if not written.device_active:  # revoked (maybe after the cache verified the secret)
        if cache is not None:
            cache.forget(device.device_id)
        raise DeviceInvalid(INVALID_MESSAGE)
    notifications = [dict(item, created_at=rfc3339(item["created_at"]))
                     for item in written.pending]
    reply = {
        "rules_version": written.rules_version,
        "location": location,
        "notifications": notifications,
        "next_checkin_seconds": policy.interval_seconds,
        "max_batch_size": policy.max_batch_size,
        "accepted_event_ids": [row["event_id"] for row in rows],
        "server_time": rfc3339(now),
        "recovery_public_key": policy.recovery_public_key,
    }
    return CheckinOutcome(reply, events_received=len(request.events),
                          events_stored=written.events_stored)


def check_in(conn: Connection, device: AuthenticatedDevice, request: CheckinRequest, *,
             ip: str | None, location: dict[str, Any], policy: CheckinPolicy, now: datetime,
             cache: CredentialCache | None = None,
             location_row: dict[str, Any] | None = None) -> CheckinOutcome:
    """Record one check-in and build its reply (docs/protocol.md, POST /api/v1/checkin).

    `conn` comes from `Database.hot_path()`. Only the first `max_batch_size` events are taken.
    `location_row` is the device_locations row to add with it, if any
    (server.services.device_signals). DeviceInvalid (and the device leaves `cache`) if it was
    revoked meanwhile.
    """
    rows = _event_rows(request, policy)
    written = checkin_store.record_checkin(
        conn, _item(device, request, rows, ip, location, now, location_row),
        notification_limit=MAX_NOTIFICATIONS_PER_REPLY)
    if written.device_active:  # derived tables (nudge heed rates), idempotent by event id
        checkin_events.handle(conn, device.device_id, rows, now)
    return _outcome(device, request, rows, written, location, policy, now, cache)


async def check_in_async(batcher: CheckinBatcher, device: AuthenticatedDevice,
                         request: CheckinRequest, *, ip: str | None, location: dict[str, Any],
                         policy: CheckinPolicy, now: datetime,
                         cache: CredentialCache | None = None,
                         location_row: dict[str, Any] | None = None) -> CheckinOutcome:
    """`check_in` on PostgreSQL's asyncio path: written with the other check-ins arriving at
    the same time, in one statement (storage.checkin_batches); replies after its commit."""
    rows = _event_rows(request, policy)
    written = await batcher.record(_item(device, request, rows, ip, location, now,
                                         location_row))
    if written.device_active:
        await checkin_events.handle_async(batcher.pool, device.device_id, rows, now)
    return _outcome(device, request, rows, written, location, policy, now, cache)
