"""Authenticating agents: `Authorization: Device <device_id>:<secret>` (docs/protocol.md).

The presented secret is hashed (SHA-256) and compared with the stored hash in constant time
(`hmac.compare_digest`). Failures all look the same to the caller (`device_invalid`), so the
reply does not tell an attacker which part was wrong.

Check-ins may verify against a short-lived per-process cache of stored hashes
(`CredentialCache`) instead of reading them on every request. Revocation is still checked on
every request: the check-in's write statement only matches a device that is not revoked and a
credential with this hash that is not revoked (storage.checkins), and a mismatch evicts the
cache entry and answers device_invalid. Paths without such a guarded write (rules, ack) always
read the credentials.
"""

from __future__ import annotations

import hmac
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from server.services.errors import DeviceInvalid
from server.services.secrets import hash_secret
from server.storage import checkins as checkin_store

INVALID_MESSAGE = "Unknown device, wrong secret or revoked device; enrol again."


@dataclass(frozen=True)
class AuthenticatedDevice:
    """A device whose credential checked out, with what the request handlers need.

    `secret_hash` is the hash of the presented secret (the guarded write re-checks that this
    credential is still unrevoked); `rules_version` is None when it came from the cache.
    """

    device_id: str
    employee_id: int
    rules_version: int | None
    secret_hash: str


class CredentialCache:
    """device id -> (stored hash, employee id), for `ttl_seconds`, at most `max_entries`."""

    def __init__(self, ttl_seconds: float = 60.0, max_entries: int = 50_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl, self.max_entries, self.clock = ttl_seconds, max_entries, clock
        self._entries: OrderedDict[str, tuple[float, str, int]] = OrderedDict()

    def get(self, device_id: str) -> tuple[str, int] | None:
        """(stored hash, employee id) if cached and fresh."""
        entry = self._entries.get(device_id)
        if entry is None or self.clock() - entry[0] > self.ttl:
            return None
        return entry[1], entry[2]

    def put(self, device_id: str, stored_hash: str, employee_id: int) -> None:
        """Remember a verified credential; the oldest entry goes when full."""
        self._entries[device_id] = (self.clock(), stored_hash, employee_id)
        self._entries.move_to_end(device_id)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def forget(self, device_id: str) -> None:
        """Drop a device (after its guarded write found it revoked)."""
        self._entries.pop(device_id, None)


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


def verify(device_id: str, presented_hash: str,
           credentials: list[checkin_store.Credential]) -> AuthenticatedDevice:
    """Check a presented secret's hash against the device's active credentials."""
    for row in credentials:
        if hmac.compare_digest(presented_hash, row.secret_hash) and not row.device_revoked:
            return AuthenticatedDevice(device_id, row.employee_id, row.rules_version,
                                       presented_hash)
    raise DeviceInvalid(INVALID_MESSAGE)


def _from_cache(cache: CredentialCache | None, device_id: str,
                presented_hash: str) -> AuthenticatedDevice | None:
    cached = cache.get(device_id) if cache is not None else None
    if cached is not None and hmac.compare_digest(presented_hash, cached[0]):
        return AuthenticatedDevice(device_id, cached[1], None, presented_hash)
    return None


def authenticate(conn: Connection, header: str | None,
                 cache: CredentialCache | None = None) -> AuthenticatedDevice:
    """The device the header proves to be, or DeviceInvalid (unknown, wrong, revoked).

    `conn` is a Core connection. Pass `cache` only when the caller's write re-checks
    revocation (the check-in does).
    """
    device_id, secret = parse_authorization(header)
    presented = hash_secret(secret)
    found = _from_cache(cache, device_id, presented)
    if found is None:
        found = verify(device_id, presented, checkin_store.credentials(conn, device_id))
        if cache is not None:
            cache.put(device_id, presented, found.employee_id)
    return found


async def authenticate_async(pool: Any, header: str | None,
                             cache: CredentialCache | None = None) -> AuthenticatedDevice:
    """`authenticate` on PostgreSQL's asyncio path: a connection of `pool` (an
    `storage.async_pool.AsyncPool`) is taken only when `cache` does not know the device."""
    device_id, secret = parse_authorization(header)
    presented = hash_secret(secret)
    found = _from_cache(cache, device_id, presented)
    if found is None:
        async with pool.connection() as conn:
            rows = await checkin_store.credentials_async(conn, device_id)
        found = verify(device_id, presented, rows)
        if cache is not None:
            cache.put(device_id, presented, found.employee_id)
    return found
