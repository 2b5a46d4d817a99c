"""Pull connectors' resumable positions, one row per connector key."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.storage.signin_models import ConnectorCursor


def get_cursor(session: Session, key: str) -> str | None:
    """The stored cursor of `key`, if any."""
    return session.scalar(select(ConnectorCursor.value).where(ConnectorCursor.key == key))


def set_cursor(session: Session, key: str, value: str, now: datetime) -> None:
    """Store (or replace) the cursor of `key`."""
    row = session.get(ConnectorCursor, key)
    if row is None:
        session.add(ConnectorCursor(key=key, value=value, updated_at=now))
    else:
        row.value, row.updated_at = value, now
    session.flush()


def list_cursors(session: Session) -> list[ConnectorCursor]:
    """Every stored cursor, by key."""
    return list(session.scalars(select(ConnectorCursor).order_by(ConnectorCursor.key)))
