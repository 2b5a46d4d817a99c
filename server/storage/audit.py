"""The audit log: append and read. There is deliberately no update or delete here."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.storage.models import AuditEntry


def append(session: Session, *, actor: str, action: str, target: str | None,
           source_ip: str | None, details: dict[str, Any] | None, now: datetime) -> AuditEntry:
    """Add one entry to the audit log (in the caller's transaction, with the action itself)."""
    entry = AuditEntry(at=now, actor=actor, action=action, target=target, source_ip=source_ip,
                       details=details or {})
    session.add(entry)
    session.flush()
    return entry


def entries(session: Session, *, limit: int = 100, before_id: int | None = None,
            action: str | None = None) -> list[AuditEntry]:
    """Entries newest first; `before_id` pages backwards, `action` filters."""
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if before_id is not None:
        query = query.where(AuditEntry.id < before_id)
    if action is not None:
        query = query.where(AuditEntry.action == action)
    return list(session.scalars(query))
