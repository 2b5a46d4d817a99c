"""The employee's own sign-ins and cases, authenticated by their device like a check-in and
reached through the agent's local API (docs/protocol.md, "Employee endpoints"). Another
employee's sign-in answers 404 exactly like a missing one."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Header, Query, Request
from pydantic import BaseModel, Field

from server.api.deps import context
from server.services import device_auth, my_logins
from server.services.errors import NotFound

router = APIRouter(prefix="/api/v1/me", tags=["employee"])
ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "device_invalid"}, 404: {"description": "not_found"},
    422: {"description": "validation_failed"}}


class Answer(BaseModel):
    answer: str = Field(description="was_me, not_me or not_sure")
    comment: str | None = Field(None, max_length=2000)


@router.get("/logins", responses=ERRORS)
def logins(request: Request, limit: int = Query(50, ge=1, le=my_logins.MAX_PAGE),
           cursor: str | None = None,
           authorization: str | None = Header(None)) -> dict[str, Any]:
    """This employee's sign-ins, newest first; pass `next_cursor` back for the next page."""
    ctx = context(request)
    with ctx.db.transaction() as session:
        device = device_auth.authenticate(session.connection(), authorization)
        return my_logins.my_logins(session, device.employee_id, limit=limit, cursor=cursor)


@router.post("/logins/{signin_id}/answer", responses=ERRORS)
def answer(signin_id: str, body: Answer, request: Request,
           authorization: str | None = Header(None)) -> dict[str, Any]:
    """"This was me" / "this wasn't me" / "not sure" about one of this employee's sign-ins."""
    ctx = context(request)
    with ctx.db.transaction() as session:
        device = device_auth.authenticate(session.connection(), authorization)
        if not signin_id.isdigit() or len(signin_id) > 18:
            raise NotFound(f"no sign-in {signin_id} for this device's employee")
        return my_logins.answer(session, employee_id=device.employee_id,
                                device_id=device.device_id, signin_id=int(signin_id),
                                choice=body.answer, comment=body.comment, now=ctx.now())


@router.get("/cases", responses=ERRORS)
def cases(request: Request, authorization: str | None = Header(None)) -> dict[str, Any]:
    """This employee's help-desk cases: number and status only."""
    ctx = context(request)
    with ctx.db.transaction() as session:
        device = device_auth.authenticate(session.connection(), authorization)
        return my_logins.my_cases(session, device.employee_id)
