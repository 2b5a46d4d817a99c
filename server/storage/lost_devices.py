"""Devices reported lost (`device_losses`): record a report once, read it back."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from server.storage.seal_models import DeviceLoss


def mark(session: Session, device_id: str, *, by: str, note: str | None,
         now: datetime) -> bool:
    """Record that the device was reported lost; False if it was reported before."""
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" \
        else sqlite.insert
    row = session.execute(
        insert(DeviceLoss).values(device_id=device_id, reported_at=now, reported_by=by,
                                  note=note)
        .on_conflict_do_nothing(index_elements=["device_id"])
        .returning(DeviceLoss.device_id)).first()
    return row is not None


def get(session: Session, device_id: str) -> DeviceLoss | None:
    """The loss report of a device, if any."""
    return session.get(DeviceLoss, device_id)


def reported_at(session: Session, device_ids: Iterable[str]) -> dict[str, datetime]:
    """device id -> when it was reported lost, for the given devices that were."""
    ids = list(device_ids)
    if not ids:
        return {}
    rows = session.execute(select(DeviceLoss.device_id, DeviceLoss.reported_at)
                           .where(DeviceLoss.device_id.in_(ids)))
    return {device_id: at for device_id, at in rows}
