"""Admin API for rules, the audit log and integration API tokens (docs/protocol.md)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from rules.errors import BundleError
from rules.loader import validate_bundle
from server.api.deps import Principal, context, require
from server.services import api_tokens, publishing
from server.services.clock import rfc3339
from server.services.errors import BundleInvalid, InvalidInput
from server.storage import api_tokens as api_token_store
from server.storage import audit as audit_store
from server.storage import rulesets

router = APIRouter(prefix="/api/v1/admin", tags=["admin"])


class PublishRequest(BaseModel):
    yaml: str | None = Field(None, max_length=50_000_000)
    bundle: dict[str, Any] | None = None


class NewApiToken(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    scopes: list[str] = Field(min_length=1)
    role: str | None = None


@router.get("/rules")
def list_rules(request: Request, _: Principal = Depends(require("rules.read"))) -> dict[str, Any]:
    """Published bundle versions, newest first."""
    with context(request).db.transaction() as session:
        rows = rulesets.list_versions(session)
    return {"versions": [{"version": r.version, "publisher": r.publisher,
                          "published_at": rfc3339(r.published_at), "key_id": r.key_id,
                          "sha256": r.sha256} for r in rows]}


def _bundle(body: PublishRequest) -> Any:
    if (body.yaml is None) == (body.bundle is None):
        raise InvalidInput("give exactly one of 'yaml' (bundle text) or 'bundle' (an object)",
                           fields=[{"path": "yaml", "reason": "exactly one of yaml/bundle"}])
    if body.yaml is not None:
        return publishing.bundle_from_text(body.yaml, source="admin API")
    try:
        return validate_bundle(body.bundle, source="admin API")
    except BundleError as exc:
        raise BundleInvalid("the rule bundle is not valid: " + "; ".join(exc.errors),
                            fields=[{"path": p.path, "reason": p.reason}
                                    for p in exc.problems]) from None


@router.post("/rules", status_code=201)
def publish_rules(body: PublishRequest, request: Request,
                  principal: Principal = Depends(require("rules.publish"))) -> dict[str, Any]:
    """Validate, sign and publish a bundle as the next version."""
    ctx = context(request)
    bundle = _bundle(body)
    with ctx.db.transaction() as session:
        published = publishing.publish(session, bundle, key=ctx.signing_key,
                                       actor=principal.actor, now=ctx.now())
    return {"version": published.version, "publisher": published.publisher,
            "published_at": rfc3339(published.published_at), "key_id": published.key_id,
            "sha256": published.sha256}


@router.get("/audit")
def read_audit(request: Request, limit: int = 100, before_id: int | None = None,
               action: str | None = None,
               _: Principal = Depends(require("audit.read"))) -> dict[str, Any]:
    """Audit log entries, newest first."""
    with context(request).db.transaction() as session:
        rows = audit_store.entries(session, limit=max(1, min(limit, 1000)),
                                   before_id=before_id, action=action)
    return {"entries": [{"id": e.id, "at": rfc3339(e.at), "actor": e.actor,
                         "action": e.action, "target": e.target, "source_ip": e.source_ip,
                         "details": e.details} for e in rows]}


@router.get("/api-tokens")
def list_api_tokens(request: Request,
                    _: Principal = Depends(require("api_tokens.read"))) -> dict[str, Any]:
    """Integration API tokens (never the tokens or their hashes)."""
    with context(request).db.transaction() as session:
        rows = api_token_store.list_tokens(session)
    return {"tokens": [{"id": t.id, "name": t.name, "scopes": t.scopes.split(),
                        "role": t.role, "created_at": rfc3339(t.created_at),
                        "created_by": t.created_by,
                        "last_used_at": rfc3339(t.last_used_at) if t.last_used_at else None,
                        "revoked_at": rfc3339(t.revoked_at) if t.revoked_at else None}
                       for t in rows]}


@router.post("/api-tokens", status_code=201)
def create_api_token(body: NewApiToken, request: Request,
                     principal: Principal = Depends(require("api_tokens.write"))
                     ) -> dict[str, Any]:
    """Create an API token; the token is in this reply only."""
    ctx = context(request)
    try:
        with ctx.db.transaction() as session:
            token_id, token = api_tokens.create(session, name=body.name, scopes=body.scopes,
                                                role=body.role, actor=principal.actor,
                                                now=ctx.now())
    except ValueError as exc:
        raise InvalidInput(str(exc), fields=[{"path": "scopes", "reason": str(exc)}]) from None
    return {"id": token_id, "token": token, "name": body.name, "scopes": sorted(body.scopes)}


@router.post("/api-tokens/{token_id}/revoke")
def revoke_api_token(token_id: str, request: Request,
                     principal: Principal = Depends(require("api_tokens.write"))
                     ) -> dict[str, Any]:
    """Revoke an API token."""
    ctx = context(request)
    with ctx.db.transaction() as session:
        api_tokens.revoke(session, token_id, actor=principal.actor, now=ctx.now())
    return {"id": token_id, "revoked": True}
