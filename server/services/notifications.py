"""Notifications for employees: created by features (sign-in review, messages), acknowledged
by the employee through their device."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from server.services.clock import rfc3339
from server.services.device_auth import AuthenticatedDevice
from server.services.errors import NotFound
from server.storage import notifications as notification_store


def notify(session: Session, *, employee_id: int, kind: str, title: str, body: str,
           data: dict[str, Any] | None = None, now: datetime) -> str:
    """Queue a notification for one employee; returns its id."""
    notification_id = str(uuid.uuid4())
    notification_store.create_notification(session, notification_id=notification_id,
                                           employee_id=employee_id, kind=kind, title=title,
                                           body=body, data=data, now=now)
    return notification_id


def acknowledge(session: Session, device: AuthenticatedDevice, notification_id: str, *,
                response: str | None, now: datetime) -> dict[str, Any]:
    """Acknowledge a notification of the device's employee; NotFound for anyone else's."""
    row = notification_store.get_for_employee(session, notification_id, device.employee_id)
    if row is None:
        raise NotFound(f"no notification {notification_id} for this device's employee")
    if row.acked_at is None:
        notification_store.acknowledge(session, notification_id, device_id=device.device_id,
                                       response=response, now=now)
        session.refresh(row)
    assert row.acked_at is not None
    return {"id": row.id, "acked_at": rfc3339(row.acked_at), "response": row.response}
