"""Conversions between the pipeline's objects (SignIn, Place, LocatedSignIn, KnownPlace) and
stored rows, plus the JSON shapes of a stored sign-in that the API and command line show."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from server.ingest.fastjson import dumps_compact
from server.ingest.record import SignIn
from server.services.clock import rfc3339
from server.services.detectors import DeviceCheckIn, KnownPlace, LocatedSignIn
from server.services.geo import Place

UNKNOWN_PLACE = Place(kind="unknown", ip="")


def signin_key(source_system: str, source_event_id: str) -> str:
    """The id a sign-in has inside the detectors (stable before and after it is stored)."""
    return f"{source_system}:{source_event_id}"


def place_from_row(row: Any) -> Place:
    """The Place of a stored sign-in or device location (mapping with the place columns)."""
    return Place(kind=row["place_kind"], ip=row.get("source_ip") or row.get("ip") or "",
                 country_code=row["country_code"], country_name=row["country_name"],
                 city=row["city"], latitude=row["latitude"], longitude=row["longitude"],
                 accuracy_radius_km=row["accuracy_radius_km"], asn=row.get("asn"),
                 network_org=row.get("network_org"),
                 is_anonymizer=bool(row["is_anonymizer"]), is_hosting=bool(row["is_hosting"]))


def located_from_row(row: Any) -> LocatedSignIn:
    """A stored sign-in (signin_history.HISTORY_COLUMNS) as the detectors see it."""
    m = row._mapping
    return LocatedSignIn(id=signin_key(m["source_system"], m["source_event_id"]),
                         occurred_at=m["occurred_at"], outcome=m["outcome"],
                         place=place_from_row(m), identity=m["identity"],
                         source_ip=m["source_ip"], source_system=m["source_system"],
                         application=m["application"])


def known_from_row(row: Any) -> KnownPlace | None:
    """A known_places row as a KnownPlace (None for networks: they are confirmed ASNs)."""
    m = row._mapping
    if m["kind"] == "network" or not m["country_code"]:
        return None
    return KnownPlace(country_code=m["country_code"], country_name=m["country_name"],
                      latitude=m["latitude"], longitude=m["longitude"],
                      accuracy_radius_km=m["accuracy_radius_km"], confirmed=bool(m["confirmed"]))


def checkin_from_row(row: Any) -> DeviceCheckIn:
    """A device_locations row as a DeviceCheckIn."""
    m = row._mapping
    return DeviceCheckIn(at=m["seen_at"], place=place_from_row(m), device_id=m["device_id"])


def country_place_row(employee_id: int, place: Place, signin_id: int | None,
                      now: datetime, *, confirmed: bool = False) -> dict[str, Any]:
    """A known_places row for "this employee uses this country"."""
    return {"employee_id": employee_id, "place_key": f"country:{place.country_code}",
            "kind": "country", "confirmed": confirmed, "country_code": place.country_code,
            "country_name": place.country_name, "city": None, "latitude": None,
            "longitude": None, "accuracy_radius_km": None, "asn": None,
            "signin_id": signin_id, "created_at": now}


def confirmed_place_row(employee_id: int, place: Place, signin_id: int,
                        now: datetime) -> dict[str, Any]:
    """A known_places row for a place the employee confirmed ("this was me")."""
    key = f"place:{place.country_code}:{place.city or ''}:{_coord(place.latitude)}:" \
          f"{_coord(place.longitude)}"
    return {"employee_id": employee_id, "place_key": key, "kind": "place", "confirmed": True,
            "country_code": place.country_code, "country_name": place.country_name,
            "city": place.city, "latitude": place.latitude, "longitude": place.longitude,
            "accuracy_radius_km": place.accuracy_radius_km, "asn": None,
            "signin_id": signin_id, "created_at": now}


def network_row(employee_id: int, asn: int, org: str | None, signin_id: int,
                now: datetime) -> dict[str, Any]:
    """A known_places row for a network (ASN) the employee confirmed, e.g. their VPN."""
    return {"employee_id": employee_id, "place_key": f"asn:{asn}", "kind": "network",
            "confirmed": True, "country_code": None, "country_name": org, "city": None,
            "latitude": None, "longitude": None, "accuracy_radius_km": None, "asn": asn,
            "signin_id": signin_id, "created_at": now}


def _coord(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}"


def place_columns(place: Place) -> tuple[Any, ...]:
    """The place's columns of a stored row (storage.signins.COLUMNS from place_kind to
    is_hosting): computed once per address, shared by every sign-in from it."""
    return (place.kind, place.country_code, _cut(place.country_name, 100), _cut(place.city, 200),
            place.latitude, place.longitude, place.accuracy_radius_km, place.asn,
            _cut(place.network_org, 200), place.is_anonymizer, place.is_hosting)


def row_tuple(signin: SignIn, employee_id: int | None, place: tuple[Any, ...], flag_count: int,
              notification_id: str | None, received_at: datetime) -> tuple[Any, ...]:
    """The stored row (storage.signins.COLUMNS order) of a parsed sign-in located at a place
    given as its `place_columns`."""
    geo = signin.vendor_geo
    return (employee_id, _cut(signin.identity, 320), signin.occurred_at, received_at,
            signin.source_system, _cut(signin.source_event_id, 200), _cut(signin.source_ip, 64),
            _cut(signin.application, 300), _cut(signin.client, 500), signin.outcome,
            _cut(signin.failure_reason, 300), *place, None if geo is None else dumps_compact(geo),
            flag_count, notification_id)


def _cut(value: str | None, size: int) -> str | None:
    return value[:size] if value is not None and len(value) > size else value


def place_json(row: dict[str, Any]) -> dict[str, Any]:
    """The `place` object of a stored sign-in."""
    place = place_from_row(row)
    return {"kind": place.kind, "label": place.label, "country_code": place.country_code,
            "country_name": place.country_name, "city": place.city,
            "latitude": place.latitude, "longitude": place.longitude,
            "accuracy_radius_km": place.accuracy_radius_km}


def signin_json(row: dict[str, Any], *, with_details: bool = False) -> dict[str, Any]:
    """A stored sign-in (storage.signins listing row) as JSON for the API and CLI."""
    answer = None
    if row.get("answer"):
        answered = row.get("answered_at")
        answer = {"answer": row["answer"], "comment": row.get("comment"),
                  "answered_at": rfc3339(answered) if answered else None}
    flags = [{"kind": f["kind"], "reason": f["reason"],
              **({"details": f["details"]} if with_details else {})} for f in row["flags"]]
    return {"id": row["id"], "occurred_at": rfc3339(row["occurred_at"]),
            "source_system": row["source_system"], "application": row["application"],
            "client": row["client"], "outcome": row["outcome"],
            "failure_reason": row["failure_reason"], "source_ip": row["source_ip"],
            "place": place_json(row),
            "network": {"asn": row["asn"], "organisation": row["network_org"],
                        "is_anonymizer": bool(row["is_anonymizer"]),
                        "is_hosting": bool(row["is_hosting"])},
            "flags": flags, "answer": answer}
