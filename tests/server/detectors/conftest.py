"""Places and sign-in builders for the detector tests (pure data, no database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from server.services.detectors import LocatedSignIn
from server.services.geo import Place

T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)

LONDON = Place(kind="public", ip="81.2.69.142", country_code="GB",
               country_name="United Kingdom", city="London", latitude=51.5074,
               longitude=-0.1278, accuracy_radius_km=None)
TOKYO = Place(kind="public", ip="203.180.0.1", country_code="JP", country_name="Japan",
              city="Tokyo", latitude=35.6762, longitude=139.6503, accuracy_radius_km=None)
PARIS = Place(kind="public", ip="80.67.169.12", country_code="FR", country_name="France",
              city="Paris", latitude=48.8566, longitude=2.3522, accuracy_radius_km=None)
MADRID = Place(kind="public", ip="2.136.0.1", country_code="ES", country_name="Spain",
               city="Madrid", latitude=40.4168, longitude=-3.7038, accuracy_radius_km=None)
OFFICE_LAN = Place(kind="internal", ip="10.1.2.3")
UNKNOWN = Place(kind="unknown", ip="not-an-ip")
TOR_DE = Place(kind="public", ip="185.220.101.5", country_code="DE", country_name="Germany",
               latitude=51.2993, longitude=9.491, accuracy_radius_km=200.0, asn=60729,
               network_org="Stiftung Erneuerbare Freiheit", is_anonymizer=True)
CLOUD_US = Place(kind="public", ip="3.5.140.2", country_code="US",
                 country_name="United States", latitude=37.751, longitude=-97.822,
                 accuracy_radius_km=1000.0, asn=16509, network_org="AMAZON-02", is_hosting=True)


def at(place: Place, minutes: float, outcome: str = "success", id: str | None = None,
       ip: str | None = None) -> LocatedSignIn:
    """A sign-in `minutes` after T0 from `place`."""
    return LocatedSignIn(id=id or f"{place.ip}@{minutes}", occurred_at=T0 + timedelta(
        minutes=minutes), outcome=outcome, place=place, identity="e1042@corp.example",
        source_ip=ip or place.ip)


@pytest.fixture
def w() -> SimpleNamespace:
    """The places, T0 and the `at` builder (test modules cannot import conftest by name)."""
    names = ("T0", "LONDON", "TOKYO", "PARIS", "MADRID", "OFFICE_LAN", "UNKNOWN", "TOR_DE",
             "CLOUD_US")
    return SimpleNamespace(at=at, **{name: globals()[name] for name in names})
