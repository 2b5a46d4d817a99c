"""Away from device: a sign-in far from where the employee's laptop is checking in from.

Only Heedful can see this, because its agent reports where the laptop is. Uses the laptop
check-ins within `away_window_minutes` of the sign-in; raised only when every one of them is at
least `away_distance_km` away once both accuracy radii are allowed for (a second laptop near the
sign-in clears it). Silent when the sign-in or a check-in cannot be placed, or goes through an
anonymiser/hosting network.
"""

from __future__ import annotations

from server.services.detectors.geometry import duration, km, place_distance_km
from server.services.detectors.impossible_travel import placeable
from server.services.detectors.types import (
    DetectorPolicy,
    EmployeeHistory,
    Flag,
    LocatedSignIn,
)
from server.services.geo import Place

KIND = "away_from_device"


def detect(signin: LocatedSignIn, history: EmployeeHistory, policy: DetectorPolicy
           ) -> Flag | None:
    """Flag a successful sign-in far from every nearby-in-time laptop check-in."""
    if not history.device_checkins or signin.outcome != "success" or not placeable(signin.place):
        return None
    window = policy.away_window
    nearby = [c for c in history.device_checkins
              if abs(c.at - signin.occurred_at) <= window]
    if not nearby or not all(placeable(c.place) for c in nearby):
        return None
    gaps = [(_effective_km(signin.place, c.place), c) for c in nearby]
    closest_gap, closest = min(gaps, key=lambda pair: pair[0])
    if closest_gap < policy.away_distance_km:
        return None
    device = closest.place
    distance = place_distance_km(device, signin.place)
    delta = closest.at - signin.occurred_at
    when = ("at the same time" if abs(delta.total_seconds()) < 1 else
            f"{duration(delta)} {'after' if delta.total_seconds() > 0 else 'before'}")
    reason = (f"Sign-in from {signin.place.label} while your laptop was checking in from "
              f"{device.label}, {km(distance)} away ({when}).")
    return Flag(KIND, reason, {
        "place": signin.place.label, "device_place": device.label,
        "device_id": closest.device_id, "distance_km": round(distance, 1),
        "effective_distance_km": round(closest_gap, 1),
        "checkin_offset_seconds": delta.total_seconds(),
    })


def _effective_km(place: Place, device: Place) -> float:
    distance = place_distance_km(device, place)
    return max(0.0, distance - (place.accuracy_radius_km or 0) - (device.accuracy_radius_km or 0))


