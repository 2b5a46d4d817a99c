"""Queries on console users, their server-side sessions and failed logins."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from server.storage.base import rowcount
from server.storage.models import ConsoleSession, ConsoleUser, LoginAttempt


def create_user(session: Session, *, email: str, password_hash: str, role: str,
                now: datetime) -> ConsoleUser:
    """Insert a console user."""
    user = ConsoleUser(email=email.strip().lower(), password_hash=password_hash, role=role,
                       created_at=now)
    session.add(user)
    session.flush()
    return user


def get_user_by_email(session: Session, email: str) -> ConsoleUser | None:
    """The console user with this email (case-insensitive)."""
    return session.scalar(select(ConsoleUser).where(ConsoleUser.email == email.strip().lower()))


def create_session(session: Session, *, token_hash: str, user_id: int, csrf_token: str,
                   ip: str | None, now: datetime, expires_at: datetime) -> ConsoleSession:
    """Insert a console session."""
    row = ConsoleSession(token_hash=token_hash, user_id=user_id, csrf_token=csrf_token, ip=ip,
                         created_at=now, expires_at=expires_at)
    session.add(row)
    session.flush()
    return row


def find_session(session: Session, token_hash: str,
                 now: datetime) -> tuple[ConsoleSession, ConsoleUser] | None:
    """The unexpired session with this hash and its (enabled) user."""
    row = session.execute(
        select(ConsoleSession, ConsoleUser)
        .join(ConsoleUser, ConsoleUser.id == ConsoleSession.user_id)
        .where(ConsoleSession.token_hash == token_hash, ConsoleSession.expires_at > now,
               ConsoleUser.disabled_at.is_(None))).first()
    return (row[0], row[1]) if row else None


def delete_session(session: Session, token_hash: str) -> None:
    """End a session (logout). Sessions are not audit records, so deleting is fine."""
    session.execute(delete(ConsoleSession).where(ConsoleSession.token_hash == token_hash))


def delete_expired_sessions(session: Session, now: datetime) -> int:
    """Remove sessions past their expiry; returns how many."""
    return rowcount(session.execute(delete(ConsoleSession)
                           .where(ConsoleSession.expires_at <= now)))


def record_failed_login(session: Session, *, email: str, ip: str, now: datetime) -> None:
    """Count one failed login for (email, address)."""
    session.add(LoginAttempt(email=email.strip().lower(), ip=ip, attempted_at=now))
    session.flush()


def failed_logins_since(session: Session, *, email: str, ip: str, since: datetime) -> int:
    """Failed logins for (email, address) after `since`."""
    return session.scalar(select(func.count()).select_from(LoginAttempt).where(
        LoginAttempt.email == email.strip().lower(), LoginAttempt.ip == ip,
        LoginAttempt.attempted_at > since)) or 0


def prune_failed_logins(session: Session, before: datetime) -> int:
    """Forget failed logins older than `before` (they no longer count); returns how many."""
    return rowcount(session.execute(delete(LoginAttempt)
                           .where(LoginAttempt.attempted_at < before)))


def clear_failed_logins(session: Session, *, email: str, ip: str) -> None:
    """Forget failed logins for (email, address) after a successful login."""
    session.execute(delete(LoginAttempt).where(LoginAttempt.email == email.strip().lower(),
                                               LoginAttempt.ip == ip))
