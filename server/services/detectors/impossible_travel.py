"""Impossible travel: two successful sign-ins too far apart for the time between them.

Distance is great-circle minus both accuracy radii (so a fuzzy location cannot raise it on its
own), over the elapsed time, compared with the policy's speed; the remaining distance must also
reach the policy's minimum. Never raised when either side is internal, unplaced, an anonymiser
or a hosting network (their location says nothing about where the person is), nor when the
employee has confirmed both places.
"""

from __future__ import annotations

from server.services.detectors.geometry import duration, km, place_distance_km, speed
from server.services.detectors.types import DetectorPolicy, EmployeeHistory, Flag, LocatedSignIn
from server.services.geo import Place

KIND = "impossible_travel"


def placeable(place: Place) -> bool:
    """True when the place says where a person physically is."""
    return (place.kind == "public" and place.has_coordinates and not place.is_anonymizer
            and not place.is_hosting)


def detect(signin: LocatedSignIn, history: EmployeeHistory, policy: DetectorPolicy
           ) -> Flag | None:
    """Compare with the latest earlier successful, placeable sign-in."""
    if signin.outcome != "success" or not placeable(signin.place):
        return None
    previous = _previous(signin, history)
    if previous is None:
        return None
    new, old = signin.place, previous.place
    distance = place_distance_km(old, new)
    slack = (old.accuracy_radius_km or 0.0) + (new.accuracy_radius_km or 0.0)
    effective = max(0.0, distance - slack)
    elapsed = signin.occurred_at - previous.occurred_at
    hours = elapsed.total_seconds() / 3600
    if effective < policy.min_distance_km or effective <= 0:
        return None
    min_speed = effective / hours if hours > 0 else float("inf")
    if min_speed <= policy.impossible_travel_speed_kmh or _both_confirmed(new, old, history):
        return None
    return Flag(KIND, _reason(new, old, distance, slack, elapsed, hours, min_speed), {
        "previous_signin_id": previous.id, "previous_place": old.label, "place": new.label,
        "distance_km": round(distance, 1), "accuracy_allowance_km": round(slack, 1),
        "elapsed_seconds": elapsed.total_seconds(),
        "min_speed_kmh": None if hours <= 0 else round(min_speed, 1),
        "speed_limit_kmh": policy.impossible_travel_speed_kmh,
    })


def _previous(signin: LocatedSignIn, history: EmployeeHistory) -> LocatedSignIn | None:
    """The latest of `history.before(signin)` that is a placeable success (scanned from the
    newest, without building that list: the answer is usually one of the last two)."""
    at, ident = signin.occurred_at, signin.id
    for earlier in reversed(history.recent):
        if (earlier.occurred_at <= at and earlier.outcome == "success" and earlier.id != ident
                and placeable(earlier.place)):
            return earlier
    return None


def _both_confirmed(new: Place, old: Place, history: EmployeeHistory) -> bool:
    confirmed = [p for p in history.known_places if p.confirmed]
    return any(p.matches(new) for p in confirmed) and any(p.matches(old) for p in confirmed)


def _reason(new: Place, old: Place, distance: float, slack: float, elapsed, hours: float,
            min_speed: float) -> str:
    """e.g. "Sign-in from Tokyo, Japan, 9,560 km from your London, United Kingdom sign-in
    40 minutes earlier — 14,340 km/h." plus the accuracy allowance when there is one."""
    if hours <= 0:
        return (f"Sign-in from {new.label}, {km(distance)} from your {old.label} sign-in at the "
                "same time.")
    text = (f"Sign-in from {new.label}, {km(distance)} from your {old.label} sign-in "
            f"{duration(elapsed)} earlier — {speed(distance / hours)}")
    if round(slack) >= 1:
        text += (f" (at least {speed(min_speed)} after allowing {km(slack)} for location "
                 "accuracy)")
    return text + "."
