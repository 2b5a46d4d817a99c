"""new_country and impossible_travel: firing, exact wording, and every reason not to fire."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from server.services.detectors import (
    DetectorPolicy,
    EmployeeHistory,
    KnownPlace,
    impossible_travel,
    new_country,
)

POLICY = DetectorPolicy()
SETTLED = dict(first_seen=datetime(2026, 9, 1, tzinfo=UTC), signin_count=200)


def _history(*recent, known=(), **kw) -> EmployeeHistory:
    return EmployeeHistory(recent=tuple(recent), known_places=tuple(known), **{**SETTLED, **kw})


# --- new_country -------------------------------------------------------------------------------

def test_new_country_fires_with_known_countries_listed(w) -> None:
    history = _history(w.at(w.LONDON, 0), w.at(w.PARIS, 60))
    flag = new_country.detect(w.at(w.TOKYO, 24 * 60), history, POLICY)
    assert flag.kind == "new_country"
    assert flag.reason == ("Sign-in from Tokyo, Japan, a country you have not signed in from "
                           "before (until now: France and United Kingdom).")
    assert flag.details["known_countries"] == ["FR", "GB"]


def test_new_country_uses_known_places_beyond_the_recent_window(w) -> None:
    history = _history(known=[KnownPlace("JP", "Japan")])
    assert new_country.detect(w.at(w.TOKYO, 0), history, POLICY) is None


def test_was_me_confirmed_place_silences_new_country(w) -> None:
    history = _history(w.at(w.LONDON, 0))
    signin = w.at(w.TOKYO, 24 * 60)
    assert new_country.detect(signin, history, POLICY) is not None
    taught = dataclasses.replace(
        history, known_places=(KnownPlace.from_place(w.TOKYO, confirmed=True),))
    assert new_country.detect(signin, taught, POLICY) is None


def test_new_country_silent_while_learning_by_days_and_count(w) -> None:
    recent = w.at(w.LONDON, 0)
    young = _history(recent, first_seen=w.T0 - timedelta(days=3), signin_count=4)
    assert new_country.detect(w.at(w.TOKYO, 60), young, POLICY) is None
    # 10 sign-ins end learning even before 14 days...
    busy = _history(recent, first_seen=w.T0 - timedelta(days=3), signin_count=10)
    assert new_country.detect(w.at(w.TOKYO, 60), busy, POLICY) is not None
    # ...and 14 days end it even with few sign-ins.
    old = _history(recent, first_seen=w.T0 - timedelta(days=14), signin_count=2)
    assert new_country.detect(w.at(w.TOKYO, 60), old, POLICY) is not None
    brand_new = EmployeeHistory()
    assert new_country.detect(w.at(w.TOKYO, 60), brand_new, POLICY) is None


def test_new_country_ignores_internal_unknown_failed_and_failures_do_not_teach(w) -> None:
    history = _history(w.at(w.LONDON, 0), w.at(w.TOKYO, 5, outcome="failure"))
    assert new_country.detect(w.at(w.OFFICE_LAN, 10), history, POLICY) is None
    assert new_country.detect(w.at(w.UNKNOWN, 10), history, POLICY) is None
    assert new_country.detect(w.at(w.PARIS, 10, outcome="failure"), history, POLICY) is None
    # the earlier *failed* Tokyo attempt did not make Japan a known country
    assert new_country.detect(w.at(w.TOKYO, 20), history, POLICY) is not None


def test_new_country_first_ever_public_place_after_learning(w) -> None:
    history = _history(w.at(w.OFFICE_LAN, 0))
    flag = new_country.detect(w.at(w.TOKYO, 10), history, POLICY)
    assert flag.reason == "Sign-in from Tokyo, Japan, a country you have not signed in from before."


# --- impossible_travel -------------------------------------------------------------------------

def test_impossible_travel_exact_explanation(w) -> None:
    history = _history(w.at(w.LONDON, 0, id="ldn"))
    flag = impossible_travel.detect(w.at(w.TOKYO, 40), history, POLICY)
    assert flag.kind == "impossible_travel"
    assert flag.reason == ("Sign-in from Tokyo, Japan, 9,559 km from your London, United Kingdom "
                           "sign-in 40 minutes earlier — 14,338 km/h.")
    assert flag.details["previous_signin_id"] == "ldn"
    assert flag.details["distance_km"] == 9558.6


def test_impossible_travel_states_the_accuracy_allowance(w) -> None:
    london = dataclasses.replace(w.LONDON, accuracy_radius_km=10.0)
    tokyo = dataclasses.replace(w.TOKYO, accuracy_radius_km=5.0)
    flag = impossible_travel.detect(w.at(tokyo, 40), _history(w.at(london, 0)), POLICY)
    assert flag.reason == ("Sign-in from Tokyo, Japan, 9,559 km from your London, United Kingdom "
                           "sign-in 40 minutes earlier — 14,338 km/h (at least 14,315 km/h after "
                           "allowing 15 km for location accuracy).")


def test_accuracy_radius_absorbs_the_distance(w) -> None:
    # London -> Madrid is 1,263 km in 1 hour, but two 400 km radii leave 463 km < 500 km minimum
    london = dataclasses.replace(w.LONDON, accuracy_radius_km=400.0)
    madrid = dataclasses.replace(w.MADRID, accuracy_radius_km=400.0)
    exact = _history(w.at(w.LONDON, 0))
    assert impossible_travel.detect(w.at(w.MADRID, 60), exact, POLICY) is not None
    assert impossible_travel.detect(w.at(madrid, 60), _history(w.at(london, 0)), POLICY) is None


def test_below_minimum_distance_even_if_fast(w) -> None:
    # London -> Paris, 344 km in 5 minutes: fast, but under the 500 km minimum
    assert impossible_travel.detect(w.at(w.PARIS, 5), _history(w.at(w.LONDON, 0)), POLICY) is None
    lax = DetectorPolicy(min_distance_km=300)
    assert impossible_travel.detect(w.at(w.PARIS, 5), _history(w.at(w.LONDON, 0)), lax) is not None


def test_plausible_flight_is_not_flagged(w) -> None:
    # London -> Tokyo in 14 hours is 683 km/h: a flight
    history = _history(w.at(w.LONDON, 0))
    assert impossible_travel.detect(w.at(w.TOKYO, 14 * 60), history, POLICY) is None


def test_never_with_internal_unknown_anonymiser_or_hosting_on_either_side(w) -> None:
    for odd in (w.OFFICE_LAN, w.UNKNOWN, w.TOR_DE, w.CLOUD_US):
        assert impossible_travel.detect(w.at(w.TOKYO, 40), _history(w.at(odd, 0)), POLICY) is None
        assert impossible_travel.detect(w.at(odd, 40), _history(w.at(w.TOKYO, 0)), POLICY) is None


def test_compares_with_latest_placeable_success_and_ignores_later_ones(w) -> None:
    history = _history(w.at(w.LONDON, 0), w.at(w.OFFICE_LAN, 20),
                       w.at(w.TOKYO, 30, outcome="failure"), w.at(w.TOKYO, 500))
    flag = impossible_travel.detect(w.at(w.TOKYO, 40), history, POLICY)
    assert flag.details["previous_place"] == "London, United Kingdom"
    assert "40 minutes earlier" in flag.reason


def test_failed_sign_in_is_not_judged(w) -> None:
    history = _history(w.at(w.LONDON, 0))
    assert impossible_travel.detect(w.at(w.TOKYO, 40, outcome="failure"), history, POLICY) is None


def test_same_instant_is_worded_without_a_speed(w) -> None:
    history = _history(w.at(w.LONDON, 0, id="a"))
    flag = impossible_travel.detect(w.at(w.TOKYO, 0, id="b"), history, POLICY)
    assert flag.reason == ("Sign-in from Tokyo, Japan, 9,559 km from your London, United Kingdom "
                           "sign-in at the same time.")


def test_both_places_confirmed_silences_travel(w) -> None:
    known = [KnownPlace.from_place(w.LONDON, confirmed=True),
             KnownPlace.from_place(w.TOKYO, confirmed=True)]
    assert impossible_travel.detect(w.at(w.TOKYO, 40), _history(w.at(w.LONDON, 0), known=known),
                                    POLICY) is None
    only_one = known[:1]
    assert impossible_travel.detect(w.at(w.TOKYO, 40), _history(w.at(w.LONDON, 0), known=only_one),
                                    POLICY) is not None
