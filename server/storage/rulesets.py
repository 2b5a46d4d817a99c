"""Queries on published rule bundle versions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.storage.models import RuleBundleVersion


def latest_version(session: Session) -> int | None:
    """The highest published version, or None when nothing was published."""
    return session.scalar(select(func.max(RuleBundleVersion.version)))


def latest(session: Session) -> RuleBundleVersion | None:
    """The newest published bundle."""
    return session.scalar(select(RuleBundleVersion)
                          .order_by(RuleBundleVersion.version.desc()).limit(1))


def get(session: Session, version: int) -> RuleBundleVersion | None:
    """A published bundle by version."""
    return session.get(RuleBundleVersion, version)


def insert(session: Session, *, version: int, envelope: str, key_id: str, sha256: str,
           publisher: str, now: datetime) -> RuleBundleVersion:
    """Record a published bundle. Two publishers racing for one version: the primary key
    makes the second insert fail instead of silently sharing a version."""
    row = RuleBundleVersion(version=version, envelope=envelope, key_id=key_id, sha256=sha256,
                            publisher=publisher, published_at=now)
    session.add(row)
    session.flush()
    return row


def list_versions(session: Session, *, limit: int = 100) -> list[RuleBundleVersion]:
    """Published bundles, newest first."""
    return list(session.scalars(select(RuleBundleVersion)
                                .order_by(RuleBundleVersion.version.desc()).limit(limit)))
