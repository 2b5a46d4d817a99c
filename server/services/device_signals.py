"""What a check-in tells the sign-in pipeline, handled after the check-in reply is sent:

* where the laptop is: its check-in address, geolocated, is stored in device_locations at most
  once per device, address and 15-minute window (an in-process memo skips the database for
  the other check-ins of the window), for the away_from_device detector;
* the laptop's own sign-ins: `laptop_signin` events (docs/protocol.md) become sign-ins with
  source_system "laptop", owned by the device's employee, through the same ingestion as every
  other source (detectors, notifications). Their id is `<device id>:<event id>`, so a resent
  event is stored once.

A sign-in at the keyboard has no address of its own: it is placed where the laptop checks in
from, if it happened within LOCAL_PLACE_WINDOW of this check-in (an event queued while the
laptop was offline may come from elsewhere, so it stays unplaced).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from server.ingest.record import Rejection, SignIn, clean, parse_time
from server.services.ingestion import Ingestor
from server.storage import signin_history
from server.storage.db import Database

log = logging.getLogger(__name__)

LAPTOP_SIGNIN = "laptop_signin"
LOCATION_WINDOW = timedelta(minutes=15)
LOCAL_PLACE_WINDOW = timedelta(minutes=30)
MEMO_LIMIT = 200_000


def window_start(moment: datetime) -> datetime:
    """The start of the 15-minute window `moment` falls in."""
    epoch = int(moment.timestamp())
    step = int(LOCATION_WINDOW.total_seconds())
    return datetime.fromtimestamp(epoch - epoch % step, tz=UTC)


def laptop_signin(event: Any, device_id: str, checkin_ip: str | None,
                  now: datetime) -> SignIn | Rejection:
    """A `laptop_signin` check-in event as a SignIn (or why it cannot be one)."""
    data = event.data or {}
    identity = clean(data.get("identity"))
    outcome = data.get("outcome")
    if identity is None:
        return Rejection(0, f"laptop_signin {event.id}: no identity")
    if outcome not in ("success", "failure"):
        return Rejection(0, f"laptop_signin {event.id}: outcome {outcome!r}")
    try:
        occurred = parse_time(data["time"]) if data.get("time") else event.occurred_at
    except ValueError as exc:
        return Rejection(0, f"laptop_signin {event.id}: {exc}")
    occurred = occurred.astimezone(UTC)
    remote = clean(data.get("remote_address"))
    local_ip = checkin_ip if abs(now - occurred) <= LOCAL_PLACE_WINDOW else None
    kind, method = clean(data.get("kind")) or "login", clean(data.get("method"))
    detail = clean(data.get("detail"))
    return SignIn(identity=identity, occurred_at=occurred, source_ip=remote or local_ip,
                  source_system="laptop",
                  application=f"this laptop: {kind.replace('_', ' ')}"
                              + (f" ({method})" if method else ""),
                  client=detail, outcome=outcome,
                  failure_reason=(detail or f"{kind.replace('_', ' ')} failed")
                  if outcome == "failure" else None,
                  source_event_id=f"{device_id}:{event.id}")


class CheckinSignals:
    """Per-process handler of check-ins for the sign-in pipeline (see module docstring)."""

    def __init__(self) -> None:
        self._seen: dict[str, tuple[datetime, str]] = {}
        self._lock = threading.Lock()

    def wanted(self, device_id: str, ip: str | None, events: Iterable[Any],
               now: datetime) -> list[Any] | None:
        """The laptop sign-in events to handle, or None when this check-in needs nothing
        (no sign-ins and a location already recorded for this window)."""
        signins = [e for e in events if e.type == LAPTOP_SIGNIN]
        if signins or ip is None:
            return signins if signins else None
        key = (window_start(now), ip)
        with self._lock:
            if self._seen.get(device_id) == key:
                return None
        return []

    def handle(self, db: Database, geolocator: Any, *, device_id: str, ip: str | None,
               events: list[Any], now: datetime) -> None:
        """Record the location and ingest the laptop's sign-ins (errors are logged: the
        check-in itself has already succeeded)."""
        try:
            self._handle(db, geolocator, device_id, ip, events, now)
        except Exception:
            log.exception("check-in follow-up failed for device %s", device_id)

    def _handle(self, db: Database, geolocator: Any, device_id: str, ip: str | None,
                events: list[Any], now: datetime) -> None:
        with db.transaction() as session:
            conn = session.connection()
            employee_id = signin_history.device_owner(conn, device_id)
            if employee_id is None:
                return
            if ip is not None:
                self._record_location(conn, geolocator, device_id, employee_id, ip, now)
        if events:
            items = [laptop_signin(e, device_id, ip, now) for e in events]
            with Ingestor(db, geolocator=geolocator, now=lambda: now, overlap=False,
                          pause_gc=False) as ingest:
                ingest.feed(items, employee_id=employee_id)
            for rejection in ingest.report.rejected:
                log.warning("laptop sign-in skipped: %s", rejection["reason"])

    def _record_location(self, conn: Any, geolocator: Any, device_id: str, employee_id: int,
                         ip: str, now: datetime) -> None:
        start = window_start(now)
        place = geolocator.locate(ip) if geolocator is not None else None
        signin_history.record_device_location(conn, {
            "device_id": device_id, "employee_id": employee_id, "window_start": start,
            "seen_at": now, "ip": ip, "place_kind": place.kind if place else "unknown",
            "country_code": place.country_code if place else None,
            "country_name": place.country_name if place else None,
            "city": place.city if place else None,
            "latitude": place.latitude if place else None,
            "longitude": place.longitude if place else None,
            "accuracy_radius_km": place.accuracy_radius_km if place else None,
            "is_anonymizer": bool(place and place.is_anonymizer),
            "is_hosting": bool(place and place.is_hosting)})
        with self._lock:
            if len(self._seen) > MEMO_LIMIT:
                self._seen.clear()
            self._seen[device_id] = (start, ip)
