"""Administering employees and their devices (used by the admin API, console and CLI)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Select
from sqlalchemy.orm import Session

from rules.countries import is_country_code
from server.services import audit
from server.services.audit import Actor
from server.services.clock import rfc3339
from server.services.errors import Conflict, InvalidInput, NotFound
from server.storage import devices as device_store
from server.storage import employees as employee_store
from server.storage import lost_devices as loss_store


def add_employee(session: Session, *, email: str, home_country: str, aliases: Iterable[str],
                 actor: Actor, now: datetime, display_name: str | None = None) -> dict[str, Any]:
    """Add an employee with identity aliases (audited); Conflict if any name is taken."""
    aliases = [a.strip() for a in aliases if a.strip()]
    country = home_country.strip().upper()
    if not is_country_code(country):
        raise InvalidInput(f"home_country: {home_country!r} is not an ISO 3166-1 alpha-2 code",
                           fields=[{"path": "home_country", "reason": "not a country code"}])
    if "@" not in email:
        raise InvalidInput(f"email: {email!r} is not an email address",
                           fields=[{"path": "email", "reason": "not an email address"}])
    taken = employee_store.taken_identities(session, [email, *aliases])
    if taken:
        raise Conflict(f"already used by an employee: {', '.join(taken)}")
    if len({employee_store.normalise_identity(a) for a in aliases}) != len(aliases):
        raise Conflict("the same alias is given twice")
    employee = employee_store.add_employee(session, email=email, home_country=country,
                                           aliases=aliases, display_name=display_name, now=now)
    audit.record(session, actor, "employee.create", target=employee.email, now=now,
                 details={"home_country": country, "aliases": aliases})
    return employee_dict(employee, aliases)


def employee_dict(employee: Any, aliases: list[str]) -> dict[str, Any]:
    """The JSON form of an employee."""
    return {"id": employee.id, "email": employee.email, "home_country": employee.home_country,
            "display_name": employee.display_name, "aliases": aliases,
            "created_at": rfc3339(employee.created_at)}


def list_employees(session: Session, *, limit: int = 100, offset: int = 0,
                   only: Select[Any] | None = None) -> list[dict[str, Any]]:
    """Employees with their aliases, by email (only those in the `only` subquery, if given:
    see server.services.visibility)."""
    employees = employee_store.list_employees(session, limit=limit, offset=offset, only=only)
    aliases = employee_store.aliases_of(session, [e.id for e in employees])
    return [employee_dict(e, aliases[e.id]) for e in employees]


def device_dict(listing: device_store.DeviceListing,
                lost_at: datetime | None = None) -> dict[str, Any]:
    """The JSON form of a device with its owner, latest check-in and loss report."""
    device, state = listing.device, listing.state or {}
    seal = state.get("seal") or {}
    return {
        "id": device.id, "name": device.name, "employee": listing.employee_email,
        "os": device.os, "os_version": device.os_version, "agent_version": device.agent_version,
        "hardware_id": device.hardware_id, "enrolled_at": rfc3339(device.enrolled_at),
        "revoked_at": rfc3339(device.revoked_at) if device.revoked_at else None,
        "reported_lost_at": rfc3339(lost_at) if lost_at else None,
        "last_checkin_at": (rfc3339(listing.last_checkin_at)
                            if listing.last_checkin_at else None),
        "last_country_code": listing.last_country_code,
        "pending_files": seal.get("pending_files"), "pending_bytes": seal.get("pending_bytes"),
        "last_seal_at": seal.get("last_seal_at"),
    }


def list_devices(session: Session, *, include_revoked: bool = True,
                 only: Select[Any] | None = None) -> list[dict[str, Any]]:
    """Every device (of the employees in the `only` subquery, if given) with owner, latest
    check-in and loss report, newest enrolment first."""
    listings = device_store.list_devices(session, include_revoked=include_revoked, only=only)
    lost = loss_store.reported_at(session, (d.device.id for d in listings))
    return [device_dict(d, lost.get(d.device.id)) for d in listings]


def revoke_device(session: Session, device_id: str, *, actor: Actor, now: datetime) -> None:
    """Revoke a device and its credentials (audited); the agent gets device_invalid next."""
    device = device_store.get_device(session, device_id)
    if device is None:
        raise NotFound(f"no device {device_id}")
    if not device_store.revoke_device(session, device_id, by=actor.name, now=now):
        raise Conflict(f"device {device_id} is revoked already")
    audit.record(session, actor, "device.revoke", target=device_id, now=now,
                 details={"name": device.name})
