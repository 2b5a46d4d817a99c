"""Queries on one-time enrolment tokens (stored as SHA-256 of the token)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from server.storage.base import rowcount
from server.storage.models import Employee, EnrollmentToken


def create_token(session: Session, *, token_id: str, token_hash: str, employee_id: int,
                 created_by: str, expires_at: datetime, now: datetime) -> EnrollmentToken:
    """Insert a token record (the token itself is never stored)."""
    row = EnrollmentToken(id=token_id, token_hash=token_hash, employee_id=employee_id,
                          created_by=created_by, created_at=now, expires_at=expires_at)
    session.add(row)
    session.flush()
    return row


def find_by_hash(session: Session, token_hash: str) -> EnrollmentToken | None:
    """The token whose hash is `token_hash`."""
    return session.scalar(select(EnrollmentToken).where(EnrollmentToken.token_hash == token_hash))


def consume(session: Session, token_id: str, *, device_id: str, now: datetime) -> bool:
    """Mark the token used by `device_id`; False if it was used or revoked meanwhile.

    The condition is in the UPDATE itself, so of two concurrent enrolments with one token the
    database lets exactly one win (the other re-evaluates the WHERE after the first commits).
    """
    result = session.execute(
        update(EnrollmentToken)
        .where(EnrollmentToken.id == token_id, EnrollmentToken.used_at.is_(None),
               EnrollmentToken.revoked_at.is_(None))
        .values(used_at=now, used_by_device_id=device_id))
    return rowcount(result) == 1


def revoke(session: Session, token_id: str, *, now: datetime) -> bool:
    """Revoke an unused token; False if it does not exist, was used or revoked already."""
    result = session.execute(
        update(EnrollmentToken)
        .where(EnrollmentToken.id == token_id, EnrollmentToken.used_at.is_(None),
               EnrollmentToken.revoked_at.is_(None))
        .values(revoked_at=now))
    return rowcount(result) == 1


def list_tokens(session: Session, *, limit: int = 200) -> list[tuple[EnrollmentToken, str]]:
    """Tokens with their employee's email, newest first."""
    rows = session.execute(select(EnrollmentToken, Employee.email)
                           .join(Employee, Employee.id == EnrollmentToken.employee_id)
                           .order_by(EnrollmentToken.created_at.desc()).limit(limit))
    return [(token, email) for token, email in rows]
