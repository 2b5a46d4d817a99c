"""Admin API for fleet and people: devices, employees, enrolment tokens (docs/protocol.md,
"Admin API"). Each route names the permission it needs; writes are audited by the services."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from server.api.deps import Principal, context, require
from server.services import enrollment, fleet, visibility
from server.services.clock import rfc3339
from server.storage import enrollment as token_store

router = APIRouter(prefix="/api/v1/admin", tags=["admin"])


class NewEmployee(BaseModel):
    email: str = Field(min_length=3, max_length=320)
    home_country: str = Field(min_length=2, max_length=2)
    aliases: list[str] = Field(default_factory=list, max_length=50)
    display_name: str | None = Field(None, max_length=200)


class NewEnrollmentToken(BaseModel):
    email: str = Field(min_length=3, max_length=320)
    expires_in_seconds: int | None = Field(None, ge=60, le=365 * 86400)


@router.get("/devices")
def list_devices(request: Request,
                 principal: Principal = Depends(require("devices.read"))) -> dict[str, Any]:
    """Every device with its owner and latest check-in (for the help desk: the devices of
    employees who have a case)."""
    with context(request).db.transaction() as session:
        return {"devices": fleet.list_devices(
            session, only=visibility.employee_filter(principal.role))}


@router.post("/devices/{device_id}/revoke")
def revoke_device(device_id: str, request: Request,
                  principal: Principal = Depends(require("devices.revoke"))) -> dict[str, Any]:
    """Revoke a device: its next request gets device_invalid."""
    ctx = context(request)
    now = ctx.now()
    with ctx.db.transaction() as session:
        fleet.revoke_device(session, device_id, actor=principal.actor, now=now)
    return {"id": device_id, "revoked_at": rfc3339(now)}


@router.get("/employees")
def list_employees(request: Request, limit: int = 100, offset: int = 0,
                   principal: Principal = Depends(require("employees.read"))) -> dict[str, Any]:
    """Employees with their aliases (for the help desk: those who have a case)."""
    with context(request).db.transaction() as session:
        return {"employees": fleet.list_employees(
            session, limit=min(limit, 1000), offset=max(offset, 0),
            only=visibility.employee_filter(principal.role))}


@router.post("/employees", status_code=201)
def add_employee(body: NewEmployee, request: Request,
                 principal: Principal = Depends(require("employees.write"))) -> dict[str, Any]:
    """Add an employee (home country, identity aliases)."""
    ctx = context(request)
    with ctx.db.transaction() as session:
        return fleet.add_employee(session, email=body.email, home_country=body.home_country,
                                  aliases=body.aliases, display_name=body.display_name,
                                  actor=principal.actor, now=ctx.now())


@router.get("/enrollment-tokens")
def list_enrollment_tokens(request: Request,
                           _: Principal = Depends(require("tokens.read"))) -> dict[str, Any]:
    """Enrolment tokens (never the tokens themselves) with their state."""
    with context(request).db.transaction() as session:
        rows = token_store.list_tokens(session)
    return {"tokens": [{
        "id": t.id, "email": email, "created_at": rfc3339(t.created_at),
        "created_by": t.created_by, "expires_at": rfc3339(t.expires_at),
        "used_at": rfc3339(t.used_at) if t.used_at else None,
        "used_by_device_id": t.used_by_device_id,
        "revoked_at": rfc3339(t.revoked_at) if t.revoked_at else None} for t, email in rows]}


@router.post("/enrollment-tokens", status_code=201)
def create_enrollment_token(body: NewEnrollmentToken, request: Request,
                            principal: Principal = Depends(require("tokens.write"))
                            ) -> dict[str, Any]:
    """Create a one-time enrolment token; the token is in this reply only."""
    ctx = context(request)
    lifetime = body.expires_in_seconds or ctx.settings.enroll_token_lifetime
    with ctx.db.transaction() as session:
        issued = enrollment.issue_token(session, email=body.email, lifetime_seconds=lifetime,
                                        actor=principal.actor, now=ctx.now())
    return {"token": issued.token, "id": issued.token_id, "email": issued.email,
            "expires_at": rfc3339(issued.expires_at)}
