"""Inputs and outputs of the sign-in detectors: small, storage-free dataclasses.

The caller (ingestion) builds an `EmployeeHistory` from storage and a `LocatedSignIn` for the
sign-in being judged; detectors are pure functions of those plus a `DetectorPolicy`, and never
modify them. `LocatedSignIn` and `EmployeeHistory` are built once or twice per ingested event,
so they are slotted rather than frozen (frozen dataclasses cost ~1 µs more to build).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

from server.ingest.record import SignIn
from server.services.detectors.geometry import distance_km
from server.services.geo import Place

# How close (km) a place must be to a known place to count as the same place, at least.
SAME_PLACE_KM = 50.0


@dataclass(slots=True)
class LocatedSignIn:
    """A sign-in with its geolocated place. `id` is whatever identifies it in storage."""

    id: str
    occurred_at: datetime
    outcome: str
    place: Place
    identity: str = ""
    source_ip: str | None = None
    source_system: str = "generic"
    application: str | None = None

    @classmethod
    def from_signin(cls, signin: SignIn, place: Place, id: str | None = None) -> LocatedSignIn:
        """Combine a parsed sign-in with its place; the id defaults to the source event id."""
        return cls(id=id or signin.source_event_id, occurred_at=signin.occurred_at,
                   outcome=signin.outcome, place=place, identity=signin.identity,
                   source_ip=signin.source_ip, source_system=signin.source_system,
                   application=signin.application)


@dataclass(frozen=True)
class KnownPlace:
    """A place the employee has used (a successful sign-in) or confirmed ("this was me")."""

    country_code: str
    country_name: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    accuracy_radius_km: float | None = None
    confirmed: bool = False

    @classmethod
    def from_place(cls, place: Place, *, confirmed: bool = False) -> KnownPlace:
        """The known place for a located public Place (which must have a country)."""
        if not place.country_code:
            raise ValueError(f"place {place.ip!r} has no country to remember")
        return cls(country_code=place.country_code, country_name=place.country_name,
                   latitude=place.latitude, longitude=place.longitude,
                   accuracy_radius_km=place.accuracy_radius_km, confirmed=confirmed)

    def matches(self, place: Place) -> bool:
        """Same country and, when both have coordinates, within their accuracy of each other."""
        if place.country_code != self.country_code:
            return False
        if (self.latitude is None or self.longitude is None or place.latitude is None
                or place.longitude is None):
            return True
        reach = max(SAME_PLACE_KM, (self.accuracy_radius_km or 0) + (place.accuracy_radius_km or 0))
        return distance_km(self.latitude, self.longitude, place.latitude, place.longitude) <= reach


@dataclass(frozen=True)
class DeviceCheckIn:
    """Where the server saw one of the employee's enrolled laptops (from its request's IP)."""

    at: datetime
    place: Place
    device_id: str = ""


@dataclass(slots=True)
class EmployeeHistory:
    """What the detectors know about one employee before the sign-in being judged.

    recent: recent located sign-ins, oldest first (entries at or after the judged sign-in's time
    are ignored, so passing a slightly larger window is harmless).
    known_places: places used (successful sign-ins, beyond `recent` too) or confirmed.
    first_seen / signin_count: for the learning period; count of sign-ins before this one.
    device_checkins: check-ins of the employee's laptops around the sign-in's time.
    confirmed_asns: networks the employee said "this was me" to (e.g. a company VPN provider).
    """

    recent: tuple[LocatedSignIn, ...] = ()
    known_places: tuple[KnownPlace, ...] = ()
    first_seen: datetime | None = None
    signin_count: int = 0
    device_checkins: tuple[DeviceCheckIn, ...] = ()
    confirmed_asns: frozenset[int] = frozenset()
    # The last `before` answer: several detectors ask it about the same sign-in.
    _before: tuple[LocatedSignIn, list[LocatedSignIn]] | None = field(
        default=None, init=False, repr=False, compare=False)

    def before(self, signin: LocatedSignIn) -> list[LocatedSignIn]:
        """Recent sign-ins strictly earlier than `signin` (or simultaneous but distinct).
        The list is shared by the detectors asking about the same sign-in: do not modify."""
        memo = self._before
        if memo is not None and memo[0] is signin:
            return memo[1]
        found = [s for s in self.recent
                 if s.id != signin.id and s.occurred_at <= signin.occurred_at]
        self._before = (signin, found)
        return found


@dataclass(frozen=True)
class Flag:
    """Why a sign-in looks odd: `kind` is the detector's name, `reason` is for the employee."""

    kind: str
    reason: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DetectorPolicy:
    """Thresholds, named like the rule bundle's login_alerts section where it has them."""

    impossible_travel_speed_kmh: float = 900.0
    min_distance_km: float = 500.0
    learning_days: int = 14
    learning_sign_ins: int = 10
    failure_burst_count: int = 5
    failure_burst_window_minutes: float = 10.0
    away_distance_km: float = 500.0
    away_window_minutes: float = 30.0

    @classmethod
    def from_login_alerts(cls, section: Any) -> DetectorPolicy:
        """Read the attributes `section` has (a rules LoginAlertSettings); default the rest."""
        defaults = cls()
        values = {name: getattr(section, name, getattr(defaults, name))
                  for name in cls.__dataclass_fields__}
        return cls(**values)

    # Computed once per policy (the policy is frozen): detectors ask for every sign-in.
    @cached_property
    def failure_burst_window(self) -> timedelta:
        return timedelta(minutes=self.failure_burst_window_minutes)

    @cached_property
    def away_window(self) -> timedelta:
        return timedelta(minutes=self.away_window_minutes)

    @cached_property
    def learning_period(self) -> timedelta:
        return timedelta(days=self.learning_days)

    def is_learning(self, history: EmployeeHistory, at: datetime) -> bool:
        """Still learning until `learning_days` have passed or `learning_sign_ins` were seen,
        whichever comes first."""
        if history.signin_count >= self.learning_sign_ins:
            return False
        if history.first_seen is None:
            return True
        return at - history.first_seen < self.learning_period
