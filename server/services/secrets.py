"""Random credentials and how they are stored: SHA-256 hex, compared in constant time.

Every credential here (enrolment token, device secret, session token, API token) is 32 random
bytes, so a fast hash is right: there is nothing to brute-force, and a slow password hash would
only cost CPU on every agent request.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets


def new_secret(prefix: str = "") -> str:
    """A new credential: `prefix` + URL-safe base64 of 32 random bytes (43 characters)."""
    return prefix + secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    """The stored form of a credential: SHA-256 as 64 hex digits."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def matches(secret: str, stored_hash: str) -> bool:
    """True if `secret` hashes to `stored_hash`, compared in constant time."""
    return hmac.compare_digest(hash_secret(secret), stored_hash)
