"""Tables of seal on idle's server side (issue 6): escrowed device keys, each device's seal
timeline, and devices reported lost.

* `device_escrows`: a device's seal key wrapped to the organisation's recovery public key
  (`rules.escrow` blob, opaque to the server), one row per (device, key id, recovery key).
  Kept when the device is revoked or lost: that is when it is needed.
* `seal_timeline`: the agent's `seal_started`, `seal_finished`, `unseal_finished` and
  `seal_error` events, one row per (device, event id), in columns the lost-device assessment
  reads. Written at check-in by `server.services.seal_reports`.
* `device_losses`: when and by whom a device was reported lost (marking it lost also revokes
  it, in `devices`).

Registered on `Base` by `server.storage.models`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from server.storage.base import Base


class DeviceEscrow(Base):
    """A device key wrapped to a recovery public key (`recipient` = its fingerprint)."""

    __tablename__ = "device_escrows"

    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id"), primary_key=True)
    key_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    recipient: Mapped[str] = mapped_column(String(64), primary_key=True)
    blob: Mapped[str] = mapped_column(Text)  # the escrow blob exactly as uploaded (UTF-8 JSON)
    created_at: Mapped[datetime]
    last_uploaded_at: Mapped[datetime]
    uploads: Mapped[int] = mapped_column(Integer)


class SealTimelineEntry(Base):
    """One seal event of a device. `occurred_at` is the agent's clock, `received_at` ours."""

    __tablename__ = "seal_timeline"
    __table_args__ = (Index("ix_seal_timeline_device_occurred", "device_id", "occurred_at"),)

    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id"), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    type: Mapped[str] = mapped_column(String(32))
    occurred_at: Mapped[datetime]
    received_at: Mapped[datetime]
    reason: Mapped[str | None] = mapped_column(String(32))
    session: Mapped[str | None] = mapped_column(String(64))
    files: Mapped[int | None] = mapped_column(Integer)  # pending/sealed/unsealed, by type
    bytes: Mapped[int | None] = mapped_column(BigInteger)
    remaining_files: Mapped[int | None] = mapped_column(Integer)
    remaining_bytes: Mapped[int | None] = mapped_column(BigInteger)
    busy_files: Mapped[int | None] = mapped_column(Integer)
    failed_files: Mapped[int | None] = mapped_column(Integer)
    duration_seconds: Mapped[float | None] = mapped_column(Float)
    interrupted: Mapped[bool | None]
    detail: Mapped[dict[str, Any]]  # seal_error: operation, kind, message, folder, path


class DeviceLoss(Base):
    """A device reported lost (one row per device)."""

    __tablename__ = "device_losses"

    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id"), primary_key=True)
    reported_at: Mapped[datetime]
    reported_by: Mapped[str] = mapped_column(String(320))
    note: Mapped[str | None] = mapped_column(String(1000))
