"""Queries on devices, their credentials, their latest state and the events they send.

The check-in hot path itself lives in `storage.checkins`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select, update
from sqlalchemy.orm import Session

from server.storage.base import rowcount
from server.storage.models import AgentEvent, Device, DeviceCredential, DeviceState, Employee


def create_device(session: Session, *, device_id: str, employee_id: int, name: str, os: str,
                  os_version: str | None, agent_version: str, hardware_id: str | None,
                  secret_hash: str, enrollment_token_id: str | None, now: datetime) -> Device:
    """Insert a device with its first credential and an empty state row."""
    device = Device(id=device_id, employee_id=employee_id, name=name, os=os,
                    os_version=os_version, agent_version=agent_version,
                    hardware_id=hardware_id, enrolled_at=now,
                    enrollment_token_id=enrollment_token_id)
    session.add(device)
    session.flush()
    session.add(DeviceCredential(device_id=device_id, secret_hash=secret_hash, created_at=now))
    session.add(DeviceState(device_id=device_id, checkins=0))
    session.flush()
    return device


def get_device(session: Session, device_id: str) -> Device | None:
    """The device with this id, revoked or not."""
    return session.get(Device, device_id)


def revoke_device(session: Session, device_id: str, *, by: str, now: datetime) -> bool:
    """Revoke a device and all its credentials; False if it does not exist or was revoked."""
    result = session.execute(update(Device)
                             .where(Device.id == device_id, Device.revoked_at.is_(None))
                             .values(revoked_at=now, revoked_by=by))
    session.execute(update(DeviceCredential)
                    .where(DeviceCredential.device_id == device_id,
                           DeviceCredential.revoked_at.is_(None))
                    .values(revoked_at=now))
    return bool(rowcount(result))


def events_of(session: Session, device_id: str, *, limit: int = 1000) -> list[AgentEvent]:
    """A device's stored events, oldest received first."""
    return list(session.scalars(select(AgentEvent).where(AgentEvent.device_id == device_id)
                                .order_by(AgentEvent.id).limit(limit)))


def get_state(session: Session, device_id: str) -> DeviceState | None:
    """The device's latest check-in snapshot."""
    return session.get(DeviceState, device_id)


@dataclass(frozen=True)
class DeviceListing:
    """A device as administrators see it in lists."""

    device: Device
    employee_email: str
    last_checkin_at: datetime | None
    last_country_code: str | None
    state: dict[str, Any] | None


def list_devices(session: Session, *, include_revoked: bool = True, limit: int = 500,
                 offset: int = 0, only: Select[Any] | None = None
                 ) -> list[DeviceListing]:
    """Devices with their owner and latest check-in, most recently enrolled first (only the
    devices of employees whose id is in the `only` subquery, if given)."""
    query = (select(Device, Employee.email, DeviceState.last_checkin_at,
                    DeviceState.last_country_code, DeviceState.state)
             .join(Employee, Employee.id == Device.employee_id)
             .outerjoin(DeviceState, DeviceState.device_id == Device.id)
             .order_by(Device.enrolled_at.desc(), Device.id).limit(limit).offset(offset))
    if not include_revoked:
        query = query.where(Device.revoked_at.is_(None))
    if only is not None:
        query = query.where(Device.employee_id.in_(only))
    return [DeviceListing(*row) for row in session.execute(query)]
