"""Microsoft Entra ID sign-ins: the Graph `signIn` resource from `GET /auditLogs/signIns`.

Accepts a Graph page (`{"value": [...], "@odata.nextLink": ...}`), a bare JSON array, or NDJSON
(one signIn, or one saved page, per line). status.errorCode 0 is success, anything else a failure
whose reason is status.failureReason with the code. Field use: id -> source_event_id,
createdDateTime -> occurred_at, userPrincipalName -> identity, ipAddress -> source_ip,
appDisplayName -> application, deviceDetail (displayName, operatingSystem, browser) and
clientAppUsed -> client; location is kept as vendor_geo for comparison only.
Positions in rejections are the element index in the array/page, or the NDJSON line.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from server.ingest.reading import Input, iter_json_records
from server.ingest.record import Rejection, SignIn, clean, parse_time

SOURCE = "entra"


def parse(data: Input, *, year: int | None = None, now: datetime | None = None
          ) -> Iterator[SignIn | Rejection]:
    """Parse Graph signIn objects; `year` and `now` are unused."""
    for position, record in iter_json_records(data, page_key="value"):
        if isinstance(record, Rejection):
            yield record
            continue
        try:
            yield signin_from_graph(record)
        except ValueError as exc:
            yield Rejection(position, str(exc))


def signin_from_graph(item: dict[str, Any]) -> SignIn:
    """One Graph signIn resource -> SignIn; ValueError naming what is missing."""
    event_id = clean(item.get("id"))
    if event_id is None:
        raise ValueError("signIn without an id")
    identity = clean(item.get("userPrincipalName"))
    if identity is None:
        raise ValueError(f"signIn {event_id} has no userPrincipalName")
    status = item.get("status")
    if not isinstance(status, dict) or "errorCode" not in status:
        raise ValueError(f"signIn {event_id} has no status.errorCode")
    try:
        code = int(status["errorCode"])
    except (TypeError, ValueError):
        raise ValueError(f"signIn {event_id} has a non-numeric errorCode "
                         f"{status['errorCode']!r}") from None
    return SignIn(
        identity=identity,
        occurred_at=parse_time(item.get("createdDateTime")),
        source_ip=clean(item.get("ipAddress")),
        source_system=SOURCE,
        application=clean(item.get("appDisplayName")),
        client=_client(item),
        outcome="success" if code == 0 else "failure",
        failure_reason=None if code == 0 else _reason(status, code),
        source_event_id=event_id,
        vendor_geo=item.get("location") or None,
    )


def _reason(status: dict[str, Any], code: int) -> str:
    text = clean(status.get("failureReason"))
    return f"{text} (error {code})" if text else f"error {code}"


def _client(item: dict[str, Any]) -> str | None:
    """e.g. "WS-1042 · Windows 10 · Edge 120.0.2210 (Browser)"."""
    device = item.get("deviceDetail") or {}
    parts = [clean(device.get(key)) for key in ("displayName", "operatingSystem", "browser")]
    text = " · ".join(p for p in parts if p)
    used = clean(item.get("clientAppUsed"))
    if used:
        text = f"{text} ({used})" if text else used
    return text or None
