"""Queries on integration API tokens (stored as SHA-256 of the token)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from server.storage.base import rowcount
from server.storage.models import ApiToken


def create(session: Session, *, token_id: str, name: str, token_hash: str, scopes: list[str],
           role: str | None, created_by: str, now: datetime) -> ApiToken:
    """Insert a token record."""
    row = ApiToken(id=token_id, name=name, token_hash=token_hash, scopes=" ".join(scopes),
                   role=role, created_by=created_by, created_at=now)
    session.add(row)
    session.flush()
    return row


def find_active(session: Session, token_hash: str) -> ApiToken | None:
    """The unrevoked token with this hash."""
    return session.scalar(select(ApiToken).where(ApiToken.token_hash == token_hash,
                                                 ApiToken.revoked_at.is_(None)))


def touch(session: Session, token_id: str, now: datetime) -> None:
    """Record that the token was used."""
    session.execute(update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=now))


def revoke(session: Session, token_id: str, now: datetime) -> bool:
    """Revoke a token; False if it does not exist or was revoked already."""
    result = session.execute(update(ApiToken)
                             .where(ApiToken.id == token_id, ApiToken.revoked_at.is_(None))
                             .values(revoked_at=now))
    return rowcount(result) == 1


def list_tokens(session: Session) -> list[ApiToken]:
    """Every token, newest first (hashes included; callers must not show them)."""
    return list(session.scalars(select(ApiToken).order_by(ApiToken.created_at.desc())))
