"""Tables of the server core: people, devices, the agent protocol, rules, console and audit.

Secrets (enrolment tokens, device secrets, session tokens, API tokens) are stored only as
SHA-256 hex digests: they are 256-bit random values, so a slow hash would add nothing.
Later features (sign-ins, cases) add their own modules of models on the same `Base`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from server.storage.base import Base

# BIGINT on PostgreSQL, INTEGER (the rowid alias, so it autoincrements) on SQLite.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Employee(Base):
    __tablename__ = "employees"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    home_country: Mapped[str] = mapped_column(String(2))
    display_name: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime]


class EmployeeAlias(Base):
    """Another name the employee signs in with (`e1042`, `CORP\\e1042`, `e1042@corp.example`)."""

    __tablename__ = "employee_aliases"

    id: Mapped[int] = mapped_column(primary_key=True)
    employee_id: Mapped[int] = mapped_column(ForeignKey("employees.id", ondelete="CASCADE"),
                                             index=True)
    alias: Mapped[str] = mapped_column(String(320))
    # casefolded and stripped: the same identity written differently is one alias
    alias_normalised: Mapped[str] = mapped_column(String(320), unique=True)


class Device(Base):
    __tablename__ = "devices"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    employee_id: Mapped[int] = mapped_column(ForeignKey("employees.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    os: Mapped[str] = mapped_column(String(32))
    os_version: Mapped[str | None] = mapped_column(String(200))
    agent_version: Mapped[str] = mapped_column(String(64))
    hardware_id: Mapped[str | None] = mapped_column(String(200))
    enrolled_at: Mapped[datetime]
    enrollment_token_id: Mapped[str | None] = mapped_column(String(36))
    revoked_at: Mapped[datetime | None]
    revoked_by: Mapped[str | None] = mapped_column(String(320))


class EnrollmentToken(Base):
    __tablename__ = "enrollment_tokens"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    employee_id: Mapped[int] = mapped_column(ForeignKey("employees.id"), index=True)
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(320))
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    used_by_device_id: Mapped[str | None] = mapped_column(String(36))
    revoked_at: Mapped[datetime | None]


class DeviceCredential(Base):
    __tablename__ = "device_credentials"

    id: Mapped[int] = mapped_column(primary_key=True)
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id"), index=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class DeviceState(Base):
    """The latest check-in of a device (one row per device, overwritten each check-in)."""

    __tablename__ = "device_states"

    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id"), primary_key=True)
    last_checkin_at: Mapped[datetime | None]
    state: Mapped[dict[str, Any] | None]
    last_ip: Mapped[str | None] = mapped_column(String(45))
    last_country_code: Mapped[str | None] = mapped_column(String(2))
    checkins: Mapped[int] = mapped_column(BigInteger, default=0)


class AgentEvent(Base):
    __tablename__ = "agent_events"
    __table_args__ = (
        UniqueConstraint("device_id", "event_id", name="uq_agent_events_device_event"),
        Index("ix_agent_events_type_occurred", "type", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id"))
    event_id: Mapped[str] = mapped_column(String(36))  # the agent's idempotency key
    batch_id: Mapped[str | None] = mapped_column(String(36))
    type: Mapped[str] = mapped_column(String(64))
    occurred_at: Mapped[datetime]
    received_at: Mapped[datetime]
    data: Mapped[dict[str, Any]]


class Notification(Base):
    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_pending", "employee_id", "acked_at", "created_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    employee_id: Mapped[int] = mapped_column(ForeignKey("employees.id"))
    kind: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]
    acked_at: Mapped[datetime | None]
    acked_by_device_id: Mapped[str | None] = mapped_column(String(36))
    response: Mapped[str | None] = mapped_column(String(64))


class RuleBundleVersion(Base):
    """A published, signed rule bundle. The envelope text is served byte for byte."""

    __tablename__ = "rule_bundles"

    version: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    envelope: Mapped[str] = mapped_column(Text)
    key_id: Mapped[str] = mapped_column(String(64))
    sha256: Mapped[str] = mapped_column(String(64))
    publisher: Mapped[str] = mapped_column(String(320))
    published_at: Mapped[datetime]


class ConsoleUser(Base):
    __tablename__ = "console_users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime]
    disabled_at: Mapped[datetime | None]


class ConsoleSession(Base):
    __tablename__ = "console_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("console_users.id", ondelete="CASCADE"),
                                         index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    ip: Mapped[str | None] = mapped_column(String(45))


class LoginAttempt(Base):
    """Failed console logins, counted per (account, address) for rate limiting."""

    __tablename__ = "login_attempts"
    __table_args__ = (Index("ix_login_attempts_key", "email", "ip", "attempted_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    email: Mapped[str] = mapped_column(String(320))
    ip: Mapped[str] = mapped_column(String(45))
    attempted_at: Mapped[datetime]


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[str] = mapped_column(String(500))  # space separated, e.g. "ingest"
    role: Mapped[str | None] = mapped_column(String(32))  # for admin:* scopes
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(320))
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class AuditEntry(Base):
    """Append-only record of a privileged action; the application never updates or deletes."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_at", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(320))  # "user:a@x", "token:<id>", "cli:root"
    action: Mapped[str] = mapped_column(String(64))  # "device.revoke", "rules.publish", ...
    target: Mapped[str | None] = mapped_column(String(320))
    source_ip: Mapped[str | None] = mapped_column(String(45))
    details: Mapped[dict[str, Any]]


# Feature tables live in modules of their own; importing them here registers them on
# Base.metadata wherever the core's tables are (Alembic, the schema tests).
from server.storage import nudge_models, seal_models  # noqa: E402,F401
