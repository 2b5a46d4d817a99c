"""New country: a successful sign-in from a country this employee has never used or confirmed.

Silent during the learning period (the baseline is still empty) and for internal or unplaced
addresses. A "this was me" answer adds the place to known_places, which silences it next time.
"""

from __future__ import annotations

from server.services.detectors.geometry import listing
from server.services.detectors.types import DetectorPolicy, EmployeeHistory, Flag, LocatedSignIn

KIND = "new_country"


def detect(signin: LocatedSignIn, history: EmployeeHistory, policy: DetectorPolicy
           ) -> Flag | None:
    """Flag the first successful sign-in from a country outside the employee's known ones."""
    place = signin.place
    if signin.outcome != "success" or place.kind != "public" or not place.country_code:
        return None
    if policy.is_learning(history, signin.occurred_at) or _is_known(signin, history):
        return None
    known = _known_countries(signin, history)
    if place.country_code in known:
        return None
    names = sorted(known.values())
    reason = f"Sign-in from {place.label}, a country you have not signed in from before"
    reason += f" (until now: {listing(names)})." if names else "."
    return Flag(KIND, reason, {
        "country_code": place.country_code, "country_name": place.country_name,
        "place": place.label, "known_countries": sorted(known),
    })


def _is_known(signin: LocatedSignIn, history: EmployeeHistory) -> bool:
    """Whether `_known_countries` would contain the sign-in's country (without building it:
    the usual answer is yes, at once)."""
    code = signin.place.country_code
    for known in history.known_places:
        if known.country_code == code:
            return True
    for earlier in history.before(signin):
        if (earlier.place.country_code == code and earlier.outcome == "success"
                and earlier.place.kind == "public"):
            return True
    return False


def _known_countries(signin: LocatedSignIn, history: EmployeeHistory) -> dict[str, str]:
    """Country code -> name of every known place and earlier successful sign-in."""
    known = {p.country_code: p.country_name or p.country_code for p in history.known_places}
    for earlier in history.before(signin):
        place = earlier.place
        if earlier.outcome == "success" and place.kind == "public" and place.country_code:
            known.setdefault(place.country_code, place.country_name or place.country_code)
    return known
