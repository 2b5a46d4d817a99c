"""Help-desk case admin API (docs/protocol.md, "Cases"): list, read, assign, move along the
workflow, add notes. Permissions `cases.read` / `cases.write` (server.services.roles);
every write is audited by the service."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from server.api.deps import Principal, context, require
from server.services import cases

router = APIRouter(prefix="/api/v1/admin/cases", tags=["cases"])


class Assignment(BaseModel):
    assignee: str | None = Field(None, max_length=320, description="console user email; "
                                 "null unassigns")


class StateChange(BaseModel):
    state: str
    resolution: str | None = None
    note: str | None = Field(None, max_length=10_000)


class Note(BaseModel):
    body: str = Field(min_length=1, max_length=10_000)


@router.get("")
def list_cases(request: Request, state: str | None = None, assignee: str | None = None,
               employee: str | None = None, limit: int = Query(100, ge=1, le=1000),
               before: int | None = None,
               _: Principal = Depends(require("cases.read"))) -> dict[str, Any]:
    """Cases newest first; filter by state, assignee (email, or `none`) and employee."""
    with context(request).db.transaction() as session:
        return {"cases": cases.list_cases(session, state=state, assignee=assignee,
                                          employee=employee, limit=limit,
                                          before_number=before)}


@router.get("/{number}")
def get_case(number: int, request: Request,
             _: Principal = Depends(require("cases.read"))) -> dict[str, Any]:
    """One case: employee, linked sign-ins with flags and answers, notes, timestamps."""
    with context(request).db.transaction() as session:
        return cases.get_case(session, number)


@router.post("/{number}/assign")
def assign(number: int, body: Assignment, request: Request,
           principal: Principal = Depends(require("cases.write"))) -> dict[str, Any]:
    """Assign the case to a help-desk user (or unassign)."""
    ctx = context(request)
    with ctx.db.transaction() as session:
        return cases.assign(session, number, body.assignee, actor=principal.actor,
                            now=ctx.now())


@router.post("/{number}/state")
def change_state(number: int, body: StateChange, request: Request,
                 principal: Principal = Depends(require("cases.write"))) -> dict[str, Any]:
    """Move the case: in_progress, waiting_on_employee, resolved (with a resolution)."""
    ctx = context(request)
    with ctx.db.transaction() as session:
        return cases.change_state(session, number, body.state, resolution=body.resolution,
                                  note=body.note, actor=principal.actor, now=ctx.now())


@router.post("/{number}/notes", status_code=201)
def add_note(number: int, body: Note, request: Request,
             principal: Principal = Depends(require("cases.write"))) -> dict[str, Any]:
    """Add a help-desk note (not shown to the employee)."""
    ctx = context(request)
    with ctx.db.transaction() as session:
        return cases.add_note(session, number, body.body, actor=principal.actor,
                              now=ctx.now())
