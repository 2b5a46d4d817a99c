"""Authenticating agents: `Authorization: Device <device_id>:<secret>` (docs/protocol.md).

Every request is checked against revocation. Failures all look the same to the caller
(`device_invalid`), so the reply does not tell an attacker which part was wrong.
"""

from __future__ import annotations

import hmac
import uuid
from dataclasses import dataclass

from sqlalchemy import Connection

from server.services.errors import DeviceInvalid
from server.services.secrets import hash_secret
from server.storage import checkins as checkin_store

INVALID_MESSAGE = "Unknown device, wrong secret or revoked device; enrol again."


@dataclass(frozen=True)
class AuthenticatedDevice:
    """A device whose credential checked out, with what the request handlers need."""

    device_id: str
    employee_id: int
    rules_version: int | None


def parse_authorization(header: str | None) -> tuple[str, str]:
    """(device_id, secret) from the header, or DeviceInvalid."""
    scheme, _, credential = (header or "").partition(" ")
    device_id, _, secret = credential.partition(":")
    if scheme.lower() != "device" or not secret:
        raise DeviceInvalid(INVALID_MESSAGE)
    try:
        canonical = str(uuid.UUID(device_id))
    except ValueError:
        raise DeviceInvalid(INVALID_MESSAGE) from None
    return canonical, secret


def authenticate(conn: Connection, header: str | None) -> AuthenticatedDevice:
    """The device the header proves to be, or DeviceInvalid (unknown, wrong, revoked).

    `conn` is a Core connection (from `Database.hot_path()` or `session.connection()`).
    """
    device_id, secret = parse_authorization(header)
    presented = hash_secret(secret)
    for row in checkin_store.credentials(conn, device_id):
        if hmac.compare_digest(presented, row.secret_hash) and not row.device_revoked:
            return AuthenticatedDevice(device_id, row.employee_id, row.rules_version)
    raise DeviceInvalid(INVALID_MESSAGE)
