"""Console users: argon2 passwords, rate-limited login, server-side sessions with CSRF tokens.

Failed logins are counted in the database per (account, address), so the limit holds across
replicas. While an (account, address) pair is over the limit the password is not even checked,
so guessing is useless, and other addresses can still log in to the same account.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.orm import Session

from server.services import audit
from server.services.audit import Actor
from server.services.errors import Conflict, RateLimited
from server.services.roles import check_role
from server.services.secrets import hash_secret, new_secret
from server.storage import console as console_store

_hasher = PasswordHasher()
# Verified against when the account does not exist, so timing does not reveal which emails exist
_DUMMY_HASH = _hasher.hash("not a real password")
MIN_PASSWORD_LENGTH = 10


@dataclass(frozen=True)
class LoginPolicy:
    """How many failures per (account, address) within how many seconds; session lifetime."""

    max_failures: int
    window_seconds: int
    session_seconds: int


@dataclass(frozen=True)
class ConsoleIdentity:
    """A logged-in console user, as the request sees them."""

    user_id: int
    email: str
    role: str
    csrf_token: str
    session_hash: str

    @property
    def actor_name(self) -> str:
        return f"user:{self.email}"


@dataclass(frozen=True)
class NewSession:
    """The cookie value (shown once) and the session's CSRF token."""

    token: str
    csrf_token: str
    expires_at: datetime
    identity: ConsoleIdentity


def create_user(session: Session, *, email: str, password: str, role: str, actor: Actor,
                now: datetime) -> int:
    """Create a console user with an argon2 password hash (audited); returns the id."""
    check_role(role)
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"password must be at least {MIN_PASSWORD_LENGTH} characters")
    if console_store.get_user_by_email(session, email) is not None:
        raise Conflict(f"a console user {email!r} exists already")
    user = console_store.create_user(session, email=email, password_hash=_hasher.hash(password),
                                     role=role, now=now)
    audit.record(session, actor, "console_user.create", target=user.email,
                 details={"role": role}, now=now)
    return user.id


def _password_ok(stored_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(stored_hash or _DUMMY_HASH, password) and stored_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def login(session: Session, *, email: str, password: str, ip: str, policy: LoginPolicy,
          now: datetime) -> NewSession | None:
    """Check the password (rate limited) and open a session.

    Returns None for a wrong email or password, after recording the failure — not raising, so
    the caller's transaction commits the failure record. RateLimited when over the limit.
    """
    since = now - timedelta(seconds=policy.window_seconds)
    failures = console_store.failed_logins_since(session, email=email, ip=ip, since=since)
    if failures >= policy.max_failures:
        raise RateLimited("Too many failed logins for this account from this address; "
                          "try again later.", retry_after=policy.window_seconds)
    user = console_store.get_user_by_email(session, email)
    if user is not None and user.disabled_at is not None:
        user = None
    if not _password_ok(user.password_hash if user else None, password) or user is None:
        console_store.record_failed_login(session, email=email, ip=ip, now=now)
        return None
    console_store.clear_failed_logins(session, email=email, ip=ip)
    # Housekeeping on the (rare) successful login keeps both tables small without a scheduler.
    console_store.prune_failed_logins(session, since)
    console_store.delete_expired_sessions(session, now)
    token, csrf = new_secret(), new_secret()
    expires_at = now + timedelta(seconds=policy.session_seconds)
    console_store.create_session(session, token_hash=hash_secret(token), user_id=user.id,
                                 csrf_token=csrf, ip=ip, now=now, expires_at=expires_at)
    audit.record(session, Actor(f"user:{user.email}", user.role, ip), "console.login",
                 target=user.email, now=now)
    identity = ConsoleIdentity(user.id, user.email, user.role, csrf, hash_secret(token))
    return NewSession(token, csrf, expires_at, identity)


def identify(session: Session, token: str | None, now: datetime) -> ConsoleIdentity | None:
    """The user of a session cookie, or None (missing, unknown, expired, disabled)."""
    if not token:
        return None
    token_hash = hash_secret(token)
    found = console_store.find_session(session, token_hash, now)
    if found is None:
        return None
    row, user = found
    return ConsoleIdentity(user.id, user.email, user.role, row.csrf_token, token_hash)


def csrf_ok(identity: ConsoleIdentity, presented: str | None) -> bool:
    """True if `presented` is this session's CSRF token (constant-time)."""
    return bool(presented) and hmac.compare_digest(identity.csrf_token.encode(),
                                                   (presented or "").encode())


def logout(session: Session, identity: ConsoleIdentity, *, ip: str | None,
           now: datetime) -> None:
    """End the session (audited)."""
    console_store.delete_session(session, identity.session_hash)
    audit.record(session, actor_for(identity, ip), "console.logout",
                 target=identity.email, now=now)


def actor_for(identity: ConsoleIdentity, ip: str | None) -> Actor:
    """The audit actor for a console user acting from `ip`."""
    return Actor(identity.actor_name, identity.role, ip)
