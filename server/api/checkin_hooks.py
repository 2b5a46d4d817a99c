"""The sign-in pipeline's part in a check-in (server.services.device_signals): the laptop's
location row that goes into the check-in's own statement, and the ingestion of its
`laptop_signin` events afterwards. Most check-ins need neither (their device's location is
already recorded for this 15-minute window and they carry no laptop sign-ins) and cost a
dictionary lookup and one pass over their events; laptop sign-ins are ingested in a worker
thread. Ingestion failures are logged and never fail the check-in."""

from __future__ import annotations

import weakref
from datetime import datetime
from typing import Any

from starlette.concurrency import run_in_threadpool

from server.services.device_auth import AuthenticatedDevice
from server.services.device_signals import CheckinSignals

_SIGNALS: weakref.WeakKeyDictionary[Any, CheckinSignals] = weakref.WeakKeyDictionary()


def signals_of(ctx: Any) -> CheckinSignals:
    """The per-app CheckinSignals (its memo of recorded locations lives with the app)."""
    found = _SIGNALS.get(ctx)
    if found is None:
        found = _SIGNALS[ctx] = CheckinSignals()
    return found


def location_row(ctx: Any, device: AuthenticatedDevice, ip: str | None, place: Any,
                 now: datetime) -> dict[str, Any] | None:
    """The device_locations row to store with this check-in, or None (already recorded)."""
    return signals_of(ctx).location_row(device.device_id, device.employee_id, ip, place, now)


async def after_checkin(ctx: Any, device: AuthenticatedDevice, ip: str | None, body: Any,
                        stored_location: dict[str, Any] | None, now: datetime) -> None:
    """Follow up a check-in that was just stored: remember its location row, ingest its
    laptop sign-ins."""
    signals = signals_of(ctx)
    if stored_location is not None:
        signals.recorded(stored_location)
    events = signals.laptop_signins(body.events[:ctx.checkin_policy.max_batch_size])
    if events:
        await run_in_threadpool(signals.handle, ctx.db, ctx.geolocator,
                                device_id=device.device_id, employee_id=device.employee_id,
                                ip=ip, events=events, now=now)
