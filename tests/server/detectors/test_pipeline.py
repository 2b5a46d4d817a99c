"""Parse -> geolocate (real demo database) -> detect, as ingestion will chain them."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from server.ingest import SignIn, parse
from server.services.detectors import (
    DetectorPolicy,
    EmployeeHistory,
    KnownPlace,
    LocatedSignIn,
    detect_all,
)
from server.services.geo import Geolocator

OKTA_SAMPLE = Path(__file__).parent.parent / "ingest" / "samples" / "okta-logs.json"


@pytest.fixture(scope="module")
def geo():
    locator = Geolocator()
    yield locator
    locator.close()


def test_okta_london_then_tokyo_is_flagged_with_real_places(geo: Geolocator) -> None:
    signins = [s for s in parse("okta", OKTA_SAMPLE.read_bytes()) if isinstance(s, SignIn)]
    seen: list[LocatedSignIn] = []
    flags_by_event = {}
    for signin in signins:
        located = LocatedSignIn.from_signin(signin, geo.locate(signin.source_ip))
        history = EmployeeHistory(
            recent=tuple(s for s in seen if s.identity == located.identity),
            known_places=(KnownPlace("GB", "United Kingdom"),),
            first_seen=signin.occurred_at - timedelta(days=30), signin_count=50)
        flags_by_event[signin.source_event_id[-2:]] = detect_all(located, history,
                                                                 DetectorPolicy())
        seen.append(located)
    assert flags_by_event["01"] == flags_by_event["02"] == []
    assert flags_by_event["03"] == []  # a failed attempt alone is not judged by place
    kinds = [f.kind for f in flags_by_event["04"]]
    assert kinds == ["new_country", "impossible_travel"]
    travel = flags_by_event["04"][1]
    # 2018 GeoLite2: 81.2.69.142 is Willesden (radius 200 km), 203.180.0.1 Tokyo (10 km)
    assert travel.reason == (
        "Sign-in from Tokyo, Japan, 9,563 km from your Willesden, United Kingdom sign-in "
        "39 minutes earlier — 14,573 km/h (at least 14,253 km/h after allowing 210 km for "
        "location accuracy).")
