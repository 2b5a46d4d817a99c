"""The sign-in pipeline's follow-up to a successful check-in (server.services.device_signals):
record where the laptop is, ingest its `laptop_signin` events. Most check-ins need nothing
(their device's location is already recorded for this 15-minute window and they carry no
laptop sign-ins) and cost one dictionary lookup; the others do the database work in a worker
thread. Failures are logged and never fail the check-in."""

from __future__ import annotations

import weakref
from typing import Any

from starlette.concurrency import run_in_threadpool

from server.services.device_auth import parse_authorization
from server.services.device_signals import CheckinSignals

_SIGNALS: weakref.WeakKeyDictionary[Any, CheckinSignals] = weakref.WeakKeyDictionary()


def signals_of(ctx: Any) -> CheckinSignals:
    """The per-app CheckinSignals (its memo of recorded locations lives with the app)."""
    found = _SIGNALS.get(ctx)
    if found is None:
        found = _SIGNALS[ctx] = CheckinSignals()
    return found


async def after_checkin(ctx: Any, authorization: str | None, ip: str | None,
                        body: Any) -> None:
    """Run the follow-up of a check-in that was just recorded (credential verified)."""
    device_id, _ = parse_authorization(authorization)
    now = ctx.now()
    signals = signals_of(ctx)
    events = signals.wanted(device_id, ip, body.events[:ctx.checkin_policy.max_batch_size],
                            now)
    if events is not None:
        await run_in_threadpool(signals.handle, ctx.db, ctx.geolocator, device_id=device_id,
                                ip=ip, events=events, now=now)
