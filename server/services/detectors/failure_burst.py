"""Failure burst: many failed sign-ins for one employee within a short window.

Raised once per burst: on the failure that brings the count in the window up to the threshold,
not on every failure after it, so a sustained attack is one notification, not hundreds.
"""

from __future__ import annotations

from server.services.detectors.geometry import duration, listing
from server.services.detectors.types import DetectorPolicy, EmployeeHistory, Flag, LocatedSignIn

KIND = "failure_burst"
_MAX_PLACES_NAMED = 3


def detect(signin: LocatedSignIn, history: EmployeeHistory, policy: DetectorPolicy
           ) -> Flag | None:
    """Flag the failure that makes `failure_burst_count` failures within the window."""
    if signin.outcome != "failure":
        return None
    start = signin.occurred_at - policy.failure_burst_window
    earlier = [s for s in history.before(signin)
               if s.outcome == "failure" and s.occurred_at > start]
    if len(earlier) + 1 != policy.failure_burst_count:
        return None
    burst = [*earlier, signin]
    span = signin.occurred_at - min(s.occurred_at for s in burst)
    places = list(dict.fromkeys(s.place.label for s in burst))
    named = places[:_MAX_PLACES_NAMED]
    if len(places) > len(named):
        named.append(f"{len(places) - len(named)} other places")
    within = duration(span, round_up=True)
    reason = (f"{len(burst)} failed sign-ins to your account within {within}, "
              f"from {listing(named)}.")
    return Flag(KIND, reason, {
        "failures": len(burst), "span_seconds": span.total_seconds(),
        "window_minutes": policy.failure_burst_window_minutes, "places": places,
        "signin_ids": [s.id for s in burst],
        "source_ips": sorted({s.source_ip for s in burst if s.source_ip}),
    })
