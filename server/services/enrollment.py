"""Enrolment: one-time tokens for employees, exchanged by the agent for a device credential.

Tokens are single use and expire; only their SHA-256 is stored. The device secret is 32
random bytes, returned once and stored hashed.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from server.services import audit
from server.services.audit import Actor
from server.services.clock import rfc3339
from server.services.errors import (
    NotFound,
    TokenExpired,
    TokenInvalid,
    TokenRevoked,
    TokenUsed,
)
from server.services.protocol import EnrollRequest
from server.services.secrets import hash_secret, new_secret
from server.storage import devices as device_store
from server.storage import employees as employee_store
from server.storage import enrollment as token_store

TOKEN_PREFIX = "het_"


@dataclass(frozen=True)
class IssuedToken:
    """A freshly created enrolment token; `token` is shown once and never stored."""

    token: str
    token_id: str
    email: str
    expires_at: datetime


def issue_token(session: Session, *, email: str, lifetime_seconds: int, actor: Actor,
                now: datetime) -> IssuedToken:
    """Create a one-time enrolment token for the employee with `email` (audited)."""
    employee = employee_store.get_by_email(session, email)
    if employee is None:
        raise NotFound(f"no employee with email {email!r}; add them first")
    if lifetime_seconds < 1:
        raise ValueError("lifetime must be at least one second")
    token = new_secret(TOKEN_PREFIX)
    expires_at = now + timedelta(seconds=lifetime_seconds)
    row = token_store.create_token(session, token_id=str(uuid.uuid4()),
                                   token_hash=hash_secret(token), employee_id=employee.id,
                                   created_by=actor.name, expires_at=expires_at, now=now)
    audit.record(session, actor, "enrollment_token.create", target=employee.email,
                 details={"token_id": row.id, "expires_at": rfc3339(expires_at)}, now=now)
    return IssuedToken(token=token, token_id=row.id, email=employee.email, expires_at=expires_at)


def _usable_token(session: Session, token: str, now: datetime) -> Any:
    row = token_store.find_by_hash(session, hash_secret(token))
    if row is None:
        raise TokenInvalid("This enrolment token is not valid; check it was copied whole.")
    if row.revoked_at is not None:
        raise TokenRevoked("This enrolment token was revoked; ask for a new one.")
    if row.used_at is not None:
        raise TokenUsed("This enrolment token was already used; ask for a new one.")
    if row.expires_at <= now:
        raise TokenExpired(f"This enrolment token expired at {rfc3339(row.expires_at)}; "
                           "ask for a new one.")
    return row


def enroll(session: Session, request: EnrollRequest, *, public_keys: list[dict[str, str]],
           checkin_interval: int, source_ip: str | None, now: datetime,
           recovery_public_key: str | None = None) -> dict[str, Any]:
    """Consume the token and create the device; returns the enrol reply (protocol.md).

    `recovery_public_key` (base64 X25519, or None when not configured) is what the agent
    wraps its seal key to (escrow)."""
    token = _usable_token(session, request.token, now)
    employee = employee_store.get_employee(session, token.employee_id)
    assert employee is not None  # foreign key
    device_id, secret = str(uuid.uuid4()), new_secret()
    device_store.create_device(
        session, device_id=device_id, employee_id=employee.id, name=request.name,
        os=request.os, os_version=request.os_version, agent_version=request.agent_version,
        hardware_id=request.hardware_id, secret_hash=hash_secret(secret),
        enrollment_token_id=token.id, now=now)
    if not token_store.consume(session, token.id, device_id=device_id, now=now):
        raise TokenUsed("This enrolment token was already used; ask for a new one.")
    audit.record(session, Actor(f"device:{device_id}", source_ip=source_ip), "device.enroll",
                 target=employee.email, now=now,
                 details={"device_id": device_id, "name": request.name, "os": request.os,
                          "token_id": token.id})
    return {
        "device_id": device_id,
        "device_secret": secret,
        "employee": {"email": employee.email, "home_country": employee.home_country},
        "rules_public_keys": public_keys,
        "checkin_interval_seconds": checkin_interval,
        "server_time": rfc3339(now),
        "recovery_public_key": recovery_public_key,
    }
