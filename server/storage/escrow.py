"""Escrowed device keys (`device_escrows`): store an upload once, read them back for export.

An upload is keyed by (device, key id, recovery key fingerprint). The same triple uploaded
again keeps the first blob (both unwrap to the same key) and only counts the upload, so agents
may resend freely. Rows are never deleted here: a lost or revoked device's key must stay
recoverable.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from server.storage.seal_models import DeviceEscrow


@dataclass(frozen=True)
class Stored:
    """The row after an upload, and whether this upload created it."""

    escrow: DeviceEscrow
    created: bool


def store(session: Session, *, device_id: str, key_id: str, recipient: str, blob: str,
          now: datetime) -> Stored:
    """Insert the escrow unless the (device, key id, recipient) is held already."""
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" \
        else sqlite.insert
    created = session.execute(
        insert(DeviceEscrow).values(device_id=device_id, key_id=key_id, recipient=recipient,
                                    blob=blob, created_at=now, last_uploaded_at=now,
                                    uploads=1)
        .on_conflict_do_nothing(index_elements=["device_id", "key_id", "recipient"])
        .returning(DeviceEscrow.device_id)).first() is not None
    if not created:
        session.execute(update(DeviceEscrow)
                        .where(DeviceEscrow.device_id == device_id,
                               DeviceEscrow.key_id == key_id,
                               DeviceEscrow.recipient == recipient)
                        .values(last_uploaded_at=now, uploads=DeviceEscrow.uploads + 1))
    row = session.get(DeviceEscrow, (device_id, key_id, recipient), populate_existing=True)
    assert row is not None  # inserted or already there, in this transaction
    return Stored(row, created)


def escrows_of(session: Session, device_id: str) -> list[DeviceEscrow]:
    """Every escrow of a device, most recently created first."""
    return list(session.scalars(select(DeviceEscrow)
                                .where(DeviceEscrow.device_id == device_id)
                                .order_by(DeviceEscrow.created_at.desc(),
                                          DeviceEscrow.key_id)))
