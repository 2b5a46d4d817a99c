"""Queries on notifications for employees (shown by the tray through the agent)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from server.storage.models import Notification


def create_notification(session: Session, *, notification_id: str, employee_id: int, kind: str,
                        title: str, body: str, data: dict[str, Any] | None,
                        now: datetime) -> Notification:
    """Queue a notification for one employee."""
    row = Notification(id=notification_id, employee_id=employee_id, kind=kind, title=title,
                       body=body, data=data or {}, created_at=now)
    session.add(row)
    session.flush()
    return row


def pending_for(session: Session, employee_id: int, *, limit: int = 50) -> list[dict[str, Any]]:
    """Unacknowledged notifications of an employee, oldest first, as plain dicts."""
    rows = session.execute(
        select(Notification.id, Notification.kind, Notification.title, Notification.body,
               Notification.created_at, Notification.data)
        .where(Notification.employee_id == employee_id, Notification.acked_at.is_(None))
        .order_by(Notification.created_at, Notification.id).limit(limit))
    return [{"id": r[0], "kind": r[1], "title": r[2], "body": r[3], "created_at": r[4],
             "data": r[5]} for r in rows]


def get_for_employee(session: Session, notification_id: str,
                     employee_id: int) -> Notification | None:
    """The notification if it exists *and* belongs to `employee_id` (else None)."""
    return session.scalar(select(Notification).where(Notification.id == notification_id,
                                                     Notification.employee_id == employee_id))


def acknowledge(session: Session, notification_id: str, *, device_id: str,
                response: str | None, now: datetime) -> None:
    """Mark acknowledged unless it already was (the first answer is kept)."""
    session.execute(update(Notification)
                    .where(Notification.id == notification_id, Notification.acked_at.is_(None))
                    .values(acked_at=now, acked_by_device_id=device_id, response=response))
