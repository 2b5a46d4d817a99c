"""Integration API tokens: named, scoped (`ingest`, `admin:read`, `admin:write`), hashed.

Admin scopes act with a console role, recorded at creation; `ingest` tokens have no role and
can only post sign-ins.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from server.services import audit
from server.services.audit import Actor
from server.services.errors import Forbidden, NotFound, Unauthenticated
from server.services.roles import check_role
from server.services.secrets import hash_secret, new_secret
from server.storage import api_tokens as token_store

SCOPES = ("ingest", "admin:read", "admin:write")
TOKEN_PREFIX = "hfa_"


@dataclass(frozen=True)
class TokenIdentity:
    """An authenticated API token."""

    token_id: str
    name: str
    scopes: frozenset[str]
    role: str | None

    @property
    def actor_name(self) -> str:
        return f"token:{self.name}:{self.token_id[:8]}"


def create(session: Session, *, name: str, scopes: list[str], role: str | None, actor: Actor,
           now: datetime) -> tuple[str, str]:
    """Create a token (audited); returns (token id, token). The token is shown only once."""
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown or not scopes:
        raise ValueError(f"unknown scope(s) {', '.join(unknown) or '(none given)'}; "
                         f"choose from {', '.join(SCOPES)}")
    needs_role = any(s.startswith("admin:") for s in scopes)
    if needs_role and role is None:
        raise ValueError("admin scopes need a role (--role security_admin|helpdesk|auditor)")
    if role is not None:
        check_role(role)
    token, token_id = new_secret(TOKEN_PREFIX), str(uuid.uuid4())
    token_store.create(session, token_id=token_id, name=name, token_hash=hash_secret(token),
                       scopes=sorted(set(scopes)), role=role if needs_role else None,
                       created_by=actor.name, now=now)
    audit.record(session, actor, "api_token.create", target=name, now=now,
                 details={"token_id": token_id, "scopes": sorted(set(scopes)), "role": role})
    return token_id, token


def authenticate(session: Session, token: str, *, scope: str, now: datetime) -> TokenIdentity:
    """The token's identity if it is active and has `scope`; Unauthenticated / Forbidden."""
    row = token_store.find_active(session, hash_secret(token))
    if row is None:
        raise Unauthenticated("Unknown or revoked API token.")
    scopes = frozenset(row.scopes.split())
    if scope not in scopes and not (scope == "admin:read" and "admin:write" in scopes):
        raise Forbidden(f"this API token lacks the {scope!r} scope")
    token_store.touch(session, row.id, now)
    return TokenIdentity(row.id, row.name, scopes, row.role)


def revoke(session: Session, token_id: str, *, actor: Actor, now: datetime) -> None:
    """Revoke a token (audited); NotFound if it does not exist or was revoked."""
    if not token_store.revoke(session, token_id, now):
        raise NotFound(f"no active API token {token_id}")
    audit.record(session, actor, "api_token.revoke", target=token_id, now=now)
