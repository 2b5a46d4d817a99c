"""anonymizer, failure_burst, away_from_device, detect_all and DetectorPolicy."""

from __future__ import annotations

import dataclasses
import logging
from datetime import UTC, datetime, timedelta

import pytest

from rules.model import LoginAlertSettings
from server.services.detectors import (
    DetectorPolicy,
    DeviceCheckIn,
    EmployeeHistory,
    anonymizer,
    away_from_device,
    detect_all,
    failure_burst,
)

POLICY = DetectorPolicy()
SETTLED = dict(first_seen=datetime(2026, 9, 1, tzinfo=UTC), signin_count=200)


# --- anonymizer --------------------------------------------------------------------------------

def test_anonymizer_fires_with_network_named(w) -> None:
    flag = anonymizer.detect(w.at(w.TOR_DE, 0), EmployeeHistory(), POLICY)
    assert flag.kind == "anonymizer"
    assert flag.reason == ("Sign-in from 185.220.101.5 (AS60729 Stiftung Erneuerbare Freiheit, "
                           "Germany) through an anonymising network (VPN, proxy or Tor) that "
                           "hides where it came from.")


def test_hosting_network_fires_with_its_own_words(w) -> None:
    flag = anonymizer.detect(w.at(w.CLOUD_US, 0), EmployeeHistory(), POLICY)
    assert flag.reason == ("Sign-in from 3.5.140.2 (AS16509 AMAZON-02, United States) through a "
                           "hosting provider's network (a server or cloud address, not a home or "
                           "office).")
    assert flag.details["is_hosting"] is True


def test_anonymizer_silent_for_plain_places_failures_and_confirmed_networks(w) -> None:
    assert anonymizer.detect(w.at(w.LONDON, 0), EmployeeHistory(), POLICY) is None
    assert anonymizer.detect(w.at(w.TOR_DE, 0, outcome="failure"), EmployeeHistory(),
                             POLICY) is None
    taught = EmployeeHistory(confirmed_asns=frozenset({16509}))
    assert anonymizer.detect(w.at(w.CLOUD_US, 0), taught, POLICY) is None


def test_anonymizer_without_asn_database_uses_the_place(w) -> None:
    bare = dataclasses.replace(w.TOR_DE, asn=None, network_org=None)
    flag = anonymizer.detect(w.at(bare, 0), EmployeeHistory(), POLICY)
    assert flag.reason.startswith("Sign-in from 185.220.101.5 (Germany) through an anonymising")


# --- failure_burst -----------------------------------------------------------------------------

def _failures(w, minutes, place=None):
    place = place or w.TOKYO
    return [w.at(place, m, outcome="failure", id=f"f{m}") for m in minutes]


def test_failure_burst_fires_on_the_fifth_failure_in_ten_minutes(w) -> None:
    earlier = _failures(w, [0, 2, 4]) + _failures(w, [5], place=w.PARIS)
    history = EmployeeHistory(recent=tuple(earlier))
    flag = failure_burst.detect(w.at(w.TOKYO, 7, outcome="failure", id="f7"), history, POLICY)
    assert flag.kind == "failure_burst"
    assert flag.reason == ("5 failed sign-ins to your account within 7 minutes, from Tokyo, "
                           "Japan and Paris, France.")
    assert flag.details["signin_ids"] == ["f0", "f2", "f4", "f5", "f7"]


def test_failure_burst_fires_once_per_burst(w) -> None:
    history = EmployeeHistory(recent=tuple(_failures(w, [0, 1, 2, 3, 4])))
    assert failure_burst.detect(w.at(w.TOKYO, 5, outcome="failure"), history, POLICY) is None


def test_failures_spread_out_or_successes_do_not_count(w) -> None:
    spread = EmployeeHistory(recent=tuple(_failures(w, [0, 5, 10, 15])))
    assert failure_burst.detect(w.at(w.TOKYO, 20, outcome="failure"), spread, POLICY) is None
    mixed = EmployeeHistory(recent=(*_failures(w, [0, 1, 2]), w.at(w.TOKYO, 3)))
    assert failure_burst.detect(w.at(w.TOKYO, 4, outcome="failure"), mixed, POLICY) is None
    four = EmployeeHistory(recent=tuple(_failures(w, [0, 1, 2, 3])))
    assert failure_burst.detect(w.at(w.TOKYO, 4), four, POLICY) is None  # a success


def test_failure_burst_threshold_from_policy(w) -> None:
    strict = DetectorPolicy(failure_burst_count=3, failure_burst_window_minutes=2)
    history = EmployeeHistory(recent=tuple(_failures(w, [0, 1])))
    flag = failure_burst.detect(w.at(w.TOKYO, 1.5, outcome="failure"), history, strict)
    # 90 seconds: "within" rounds up, never claiming a tighter window than the truth
    assert flag.reason == ("3 failed sign-ins to your account within 2 minutes, from Tokyo, "
                           "Japan.")


def test_failure_burst_names_at_most_three_places(w) -> None:
    places = [w.LONDON, w.PARIS, w.MADRID, w.TOR_DE]
    earlier = [w.at(p, i, outcome="failure", id=f"x{i}") for i, p in enumerate(places)]
    flag = failure_burst.detect(w.at(w.TOKYO, 5, outcome="failure"),
                                EmployeeHistory(recent=tuple(earlier)), POLICY)
    assert flag.reason.endswith("from London, United Kingdom, Paris, France, Madrid, Spain and "
                                "2 other places.")


# --- away_from_device --------------------------------------------------------------------------

def _checkin(w, place, minutes, device="laptop-1"):
    return DeviceCheckIn(at=w.T0 + timedelta(minutes=minutes), place=place, device_id=device)


def test_away_from_device_fires(w) -> None:
    history = EmployeeHistory(device_checkins=(_checkin(w, w.LONDON, 5),))
    flag = away_from_device.detect(w.at(w.TOKYO, 10), history, POLICY)
    assert flag.kind == "away_from_device"
    assert flag.reason == ("Sign-in from Tokyo, Japan while your laptop was checking in from "
                           "London, United Kingdom, 9,559 km away (5 minutes before).")
    assert flag.details["device_id"] == "laptop-1"


def test_away_from_device_silent_cases(w) -> None:
    def judge(*checkins, signin=None, policy=POLICY):
        history = EmployeeHistory(device_checkins=tuple(checkins))
        return away_from_device.detect(signin or w.at(w.TOKYO, 10), history, policy)

    assert judge() is None  # no laptop data at all
    assert judge(_checkin(w, w.LONDON, 10 + 31)) is None  # check-in too far away in time
    assert judge(_checkin(w, w.TOKYO, 9)) is None  # laptop is where the sign-in is
    assert judge(_checkin(w, w.OFFICE_LAN, 9)) is None  # laptop not placeable
    assert judge(_checkin(w, w.TOR_DE, 9)) is None  # laptop behind an anonymiser
    assert judge(_checkin(w, w.LONDON, 9), signin=w.at(w.OFFICE_LAN, 10)) is None
    assert judge(_checkin(w, w.LONDON, 9), signin=w.at(w.TOKYO, 10, outcome="failure")) is None
    # a second laptop near the sign-in clears it
    assert judge(_checkin(w, w.LONDON, 9), _checkin(w, w.TOKYO, 12, device="laptop-2")) is None
    # London -> Paris is under the 500 km threshold
    assert judge(_checkin(w, w.LONDON, 9), signin=w.at(w.PARIS, 10)) is None


def test_away_from_device_accuracy_radius_absorbs(w) -> None:
    madrid = dataclasses.replace(w.MADRID, accuracy_radius_km=500.0)
    london = dataclasses.replace(w.LONDON, accuracy_radius_km=300.0)
    history = EmployeeHistory(device_checkins=(_checkin(w, london, 0),))
    assert away_from_device.detect(w.at(madrid, 1), history, POLICY) is None
    sharp = EmployeeHistory(device_checkins=(_checkin(w, w.LONDON, 0),))
    assert away_from_device.detect(w.at(w.MADRID, 1), sharp, POLICY) is not None


# --- detect_all and the policy -----------------------------------------------------------------

def test_detect_all_collects_in_order(w) -> None:
    history = EmployeeHistory(recent=(w.at(w.LONDON, 0),), device_checkins=(
        _checkin(w, w.LONDON, 38),), **SETTLED)
    flags = detect_all(w.at(w.TOKYO, 40), history, POLICY)
    assert [f.kind for f in flags] == ["new_country", "impossible_travel", "away_from_device"]


def test_ordinary_sign_in_raises_nothing(w) -> None:
    history = EmployeeHistory(recent=(w.at(w.LONDON, 0),), **SETTLED)
    assert detect_all(w.at(w.LONDON, 300), history, POLICY) == []


def test_a_crashing_detector_does_not_stop_the_others(w, caplog) -> None:
    def broken(signin, history, policy):
        raise RuntimeError("boom")

    with caplog.at_level(logging.ERROR):
        flags = detect_all(w.at(w.TOR_DE, 0), EmployeeHistory(), POLICY,
                           detectors=[broken, anonymizer.detect])
    assert [f.kind for f in flags] == ["anonymizer"]
    assert "boom" in caplog.text


def test_policy_reads_the_rules_section_by_name() -> None:
    section = LoginAlertSettings(impossible_travel_speed_kmh=1000.0, min_distance_km=300.0,
                                 learning_days=7, learning_sign_ins=3)
    policy = DetectorPolicy.from_login_alerts(section)
    assert (policy.impossible_travel_speed_kmh, policy.min_distance_km) == (1000.0, 300.0)
    assert (policy.learning_days, policy.learning_sign_ins) == (7, 3)
    assert policy.failure_burst_count == 5  # not in the section yet: the default
    assert DetectorPolicy.from_login_alerts(LoginAlertSettings()) == DetectorPolicy()


def test_policy_from_plain_object_with_extra_thresholds() -> None:
    class Section:
        failure_burst_count = 8
        away_distance_km = 1000.0

    policy = DetectorPolicy.from_login_alerts(Section())
    assert policy.failure_burst_count == 8 and policy.away_distance_km == 1000.0
    assert policy.failure_burst_window == timedelta(minutes=10)


@pytest.mark.parametrize(("count", "days", "learning"), [
    (0, 0, True), (9, 13, True), (10, 0, False), (0, 14, False),
])
def test_learning_period_ends_at_whichever_comes_first(count, days, learning) -> None:
    now = datetime(2026, 11, 24, tzinfo=UTC)
    history = EmployeeHistory(first_seen=now - timedelta(days=days), signin_count=count)
    assert POLICY.is_learning(history, now) is learning


@pytest.mark.parametrize(("seconds", "round_up", "text"), [
    (0, False, "0 seconds"), (1, False, "1 second"), (59.4, False, "59 seconds"),
    (59.6, False, "1 minute"), (90, False, "2 minutes"), (89, False, "1 minute"),
    (61, True, "2 minutes"), (2400, False, "40 minutes"), (3600, False, "1 hour"),
    (3900, False, "1 hour 5 minutes"), (26 * 3600, False, "1 day 2 hours"),
    (48 * 3600, False, "2 days"),
])
def test_duration_wording(seconds, round_up, text) -> None:
    from server.services.detectors.geometry import duration

    assert duration(timedelta(seconds=seconds), round_up=round_up) == text
