"""Tables of the sign-in pipeline (issue 4): sign-ins with their place, flags and answers,
what the detectors learn (known places, where laptops check in from), connector cursors and
help-desk cases. Same `Base` as the core tables, so migrations and `Base.metadata` see them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from server.storage.base import Base
from server.storage.models import BigId

PLACE_KINDS = ("public", "internal", "unknown")
ANSWERS = ("was_me", "not_me", "not_sure")
CASE_STATES = ("new", "in_progress", "waiting_on_employee", "resolved")
RESOLUTIONS = ("compromised", "benign_travel", "benign_vpn_mobile", "false_positive")


class SignInRow(Base):
    """One stored sign-in. `(source_system, source_event_id)` is unique: re-ingesting the same
    data stores nothing twice. `employee_id` is null for identities no employee owns."""

    __tablename__ = "signins"
    __table_args__ = (
        UniqueConstraint("source_system", "source_event_id", name="uq_signins_source_event"),
        Index("ix_signins_occurred_at", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    employee_id: Mapped[int | None] = mapped_column(ForeignKey("employees.id"))
    identity: Mapped[str] = mapped_column(String(320))
    occurred_at: Mapped[datetime]
    received_at: Mapped[datetime]
    source_system: Mapped[str] = mapped_column(String(16))
    source_event_id: Mapped[str] = mapped_column(String(200))
    source_ip: Mapped[str | None] = mapped_column(String(64))
    application: Mapped[str | None] = mapped_column(String(300))
    client: Mapped[str | None] = mapped_column(String(500))
    outcome: Mapped[str] = mapped_column(String(8))
    failure_reason: Mapped[str | None] = mapped_column(String(300))
    place_kind: Mapped[str] = mapped_column(String(8))
    country_code: Mapped[str | None] = mapped_column(String(2))
    country_name: Mapped[str | None] = mapped_column(String(100))
    city: Mapped[str | None] = mapped_column(String(200))
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    accuracy_radius_km: Mapped[float | None] = mapped_column(Float)
    asn: Mapped[int | None] = mapped_column(BigInteger)
    network_org: Mapped[str | None] = mapped_column(String(200))
    is_anonymizer: Mapped[bool] = mapped_column(Boolean)
    is_hosting: Mapped[bool] = mapped_column(Boolean)
    vendor_geo: Mapped[dict[str, Any] | None]
    flag_count: Mapped[int] = mapped_column(Integer)
    # The "was this you?" notification sent for it (answering the sign-in acknowledges it).
    notification_id: Mapped[str | None] = mapped_column(String(36))


# "My sign-ins, newest first" and history loading: one index range scan, in index order.
Index("ix_signins_employee_time", SignInRow.employee_id, SignInRow.occurred_at.desc(),
      SignInRow.id.desc())


class SignInFlag(Base):
    """Why a detector found a sign-in odd: `reason` is the sentence shown to the employee."""

    __tablename__ = "signin_flags"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    signin_id: Mapped[int] = mapped_column(ForeignKey("signins.id", ondelete="CASCADE"),
                                           index=True)
    kind: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(Text)
    details: Mapped[dict[str, Any]]


class SignInAnswer(Base):
    """The employee's answer about one of their sign-ins (the latest one counts)."""

    __tablename__ = "signin_answers"

    signin_id: Mapped[int] = mapped_column(ForeignKey("signins.id", ondelete="CASCADE"),
                                           primary_key=True, autoincrement=False)
    employee_id: Mapped[int] = mapped_column(ForeignKey("employees.id"))
    answer: Mapped[str] = mapped_column(String(16))
    comment: Mapped[str | None] = mapped_column(Text)
    answered_at: Mapped[datetime]
    device_id: Mapped[str | None] = mapped_column(String(36))


class KnownPlaceRow(Base):
    """What the detectors know an employee uses: a country (learned from ordinary sign-ins),
    a place or a network (confirmed by a "this was me" answer). `place_key` makes each unique
    per employee (`country:GB`, `place:JP:Tokyo`, `asn:13335`)."""

    __tablename__ = "known_places"
    __table_args__ = (UniqueConstraint("employee_id", "place_key",
                                       name="uq_known_places_employee_key"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    employee_id: Mapped[int] = mapped_column(ForeignKey("employees.id", ondelete="CASCADE"))
    place_key: Mapped[str] = mapped_column(String(300))
    kind: Mapped[str] = mapped_column(String(16))  # country | place | network
    confirmed: Mapped[bool] = mapped_column(Boolean)
    country_code: Mapped[str | None] = mapped_column(String(2))
    country_name: Mapped[str | None] = mapped_column(String(100))
    city: Mapped[str | None] = mapped_column(String(200))
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    accuracy_radius_km: Mapped[float | None] = mapped_column(Float)
    asn: Mapped[int | None] = mapped_column(BigInteger)
    signin_id: Mapped[int | None] = mapped_column(BigInteger)  # where it was learned
    created_at: Mapped[datetime]


class DeviceLocation(Base):
    """Where the server saw a laptop check in from: at most one row per device, address and
    15-minute window (`window_start`), so history costs a write per quarter hour, not per
    check-in. Feeds the away_from_device detector."""

    __tablename__ = "device_locations"
    __table_args__ = (
        UniqueConstraint("device_id", "window_start", "ip", name="uq_device_locations_window"),
        Index("ix_device_locations_employee_seen", "employee_id", "seen_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"))
    employee_id: Mapped[int] = mapped_column(ForeignKey("employees.id"))
    window_start: Mapped[datetime]
    seen_at: Mapped[datetime]
    ip: Mapped[str] = mapped_column(String(64))
    place_kind: Mapped[str] = mapped_column(String(8))
    country_code: Mapped[str | None] = mapped_column(String(2))
    country_name: Mapped[str | None] = mapped_column(String(100))
    city: Mapped[str | None] = mapped_column(String(200))
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    accuracy_radius_km: Mapped[float | None] = mapped_column(Float)
    is_anonymizer: Mapped[bool] = mapped_column(Boolean)
    is_hosting: Mapped[bool] = mapped_column(Boolean)


class ConnectorCursor(Base):
    """Where a pull connector resumes (its CursorStore), shared by every server replica."""

    __tablename__ = "connector_cursors"

    key: Mapped[str] = mapped_column(String(500), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime]


class Counter(Base):
    """Named counters (the case number shown as "#12"); incremented under a row lock."""

    __tablename__ = "counters"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger)


class Case(Base):
    """A help-desk case opened by an employee's "not me" / "not sure" answer."""

    __tablename__ = "cases"
    __table_args__ = (Index("ix_cases_state_created", "state", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[int] = mapped_column(Integer, unique=True)
    employee_id: Mapped[int] = mapped_column(ForeignKey("employees.id"), index=True)
    state: Mapped[str] = mapped_column(String(32))
    resolution: Mapped[str | None] = mapped_column(String(32))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("console_users.id"))
    opened_by: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    first_response_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]


class CaseSignIn(Base):
    """A sign-in linked to a case, with the answer that linked it."""

    __tablename__ = "case_signins"

    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"),
                                         primary_key=True)
    signin_id: Mapped[int] = mapped_column(ForeignKey("signins.id", ondelete="CASCADE"),
                                           primary_key=True, index=True)
    answer: Mapped[str] = mapped_column(String(16))
    added_at: Mapped[datetime]


class CaseNote(Base):
    """A note on a case: by the help desk (`kind` note), a state change, or the employee."""

    __tablename__ = "case_notes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # note | state | assign | employee
    author: Mapped[str] = mapped_column(String(320))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
