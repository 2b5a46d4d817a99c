"""What a check-in tells the sign-in pipeline:

* where the laptop is: its check-in address, geolocated, is stored in device_locations at most
  once per device, address and 15-minute window, for the away_from_device detector. The row
  is written by the check-in's own statement (storage.checkins), so it costs no extra round
  trip; an in-process memo leaves it out of the other check-ins of the window;
* the laptop's own sign-ins: `laptop_signin` events (docs/protocol.md) become sign-ins with
  source_system "laptop", owned by the device's employee, through the same ingestion as every
  other source (detectors, notifications), after the check-in is stored and before its reply.
  Their id is `<device id>:<event id>`, so a resent event is stored once.

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
    """Per-process memo and follow-up of check-ins for the sign-in pipeline (see module
    docstring)."""

    def __init__(self) -> None:
        self._seen: dict[str, tuple[datetime, str]] = {}
        self._lock = threading.Lock()

    def location_row(self, device_id: str, employee_id: int, ip: str | None, place: Any,
                     now: datetime) -> dict[str, Any] | None:
        """The device_locations row this check-in should store with it (`place` is the
        `server.services.geo.Place` of `ip`, or None), or None when this process already
        recorded this device at this address in this window."""
        if ip is None:
            return None
        start = window_start(now)
        with self._lock:
            if self._seen.get(device_id) == (start, ip):
                return None
        return {"device_id": device_id, "employee_id": employee_id, "window_start": start,
                "seen_at": now, "ip": ip, "place_kind": place.kind if place else "unknown",
                "country_code": place.country_code if place else None,
                "country_name": place.country_name if place else None,
                "city": place.city if place else None,
                "latitude": place.latitude if place else None,
                "longitude": place.longitude if place else None,
                "accuracy_radius_km": place.accuracy_radius_km if place else None,
                "is_anonymizer": bool(place and place.is_anonymizer),
                "is_hosting": bool(place and place.is_hosting)}

    def recorded(self, row: dict[str, Any]) -> None:
        """Remember that a check-in stored `row` (from `location_row`)."""
        with self._lock:
            if len(self._seen) > MEMO_LIMIT:
                self._seen.clear()
            self._seen[row["device_id"]] = (row["window_start"], row["ip"])

    @staticmethod
    def laptop_signins(events: Iterable[Any]) -> list[Any]:
        """The check-in's `laptop_signin` events (EventIn objects)."""
        return [e for e in events if e.type == LAPTOP_SIGNIN]

    def handle(self, db: Database, geolocator: Any, *, device_id: str, employee_id: int,
               ip: str | None, events: list[Any], now: datetime) -> None:
        """Ingest the laptop's sign-ins (errors are logged: the check-in itself has already
        succeeded)."""
        try:
            items = [laptop_signin(e, device_id, ip, now) for e in events]
            with Ingestor(db, geolocator=geolocator, now=lambda: now, overlap=False,
                          pause_gc=False) as ingest:
                ingest.feed(items, employee_id=employee_id)
            for rejection in ingest.report.rejected:
                log.warning("laptop sign-in skipped: %s", rejection["reason"])
        except Exception:
            log.exception("check-in follow-up failed for device %s", device_id)
