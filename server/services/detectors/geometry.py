"""Great-circle distances and the wording the detectors share (km, durations, lists)."""

from __future__ import annotations

import math
from datetime import timedelta

from server.services.geo import Place

EARTH_RADIUS_KM = 6371.0088  # IUGG mean radius


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Haversine great-circle distance in kilometres."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi = phi2 - phi1
    dlmb = math.radians(lon2 - lon1)
    h = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlmb / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def place_distance_km(a: Place, b: Place) -> float:
    """Distance between two places' coordinates; ValueError when either has none."""
    if a.latitude is None or a.longitude is None or b.latitude is None or b.longitude is None:
        raise ValueError(f"no coordinates for {a.ip!r} or {b.ip!r}")
    return distance_km(a.latitude, a.longitude, b.latitude, b.longitude)


def km(value: float) -> str:
    """"9,560 km"."""
    return f"{value:,.0f} km"


def speed(value: float) -> str:
    """"14,340 km/h"."""
    return f"{value:,.0f} km/h"


def _unit(count: int, name: str) -> str:
    return f"{count} {name}" if count == 1 else f"{count} {name}s"


def duration(delta: timedelta, *, round_up: bool = False) -> str:
    """"40 minutes", "2 hours 5 minutes", "3 days 4 hours", "45 seconds".

    Rounded to the nearest unit shown, or up with `round_up` (for "within ..." bounds).
    """
    seconds = abs(delta.total_seconds())

    def whole(value: float) -> int:
        return math.ceil(value - 1e-9) if round_up else math.floor(value + 0.5)

    if whole(seconds) < 60:
        return _unit(whole(seconds), "second")
    minutes = whole(seconds / 60)
    if minutes < 60:
        return _unit(minutes, "minute")
    if minutes < 24 * 60:
        hours, minutes = divmod(minutes, 60)
        return _unit(hours, "hour") + (f" {_unit(minutes, 'minute')}" if minutes else "")
    days, hours = divmod(whole(seconds / 3600), 24)
    return _unit(days, "day") + (f" {_unit(hours, 'hour')}" if hours else "")


def listing(items: list[str]) -> str:
    """"A", "A and B", "A, B and C"."""
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]
