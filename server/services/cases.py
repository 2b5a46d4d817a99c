"""Help-desk cases: opened by an employee's "this wasn't me" / "not sure" answer, worked by the
help desk through new -> in_progress -> waiting_on_employee -> resolved (with a resolution).

Every help-desk action is audited and counts as the first response if none came before;
`resolved_at - created_at` and `first_response_at - created_at` are the two service times.
State changes notify the employee with a detail-free line ("Your report #12 has been
resolved"); nothing about a case is ever sent to anyone else.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from server.services import audit, notifications
from server.services.audit import Actor
from server.services.clock import rfc3339
from server.services.errors import Conflict, InvalidInput, NotFound
from server.services.signin_notices import CASE_KIND, case_message
from server.services.signin_records import signin_json
from server.storage import cases as case_store
from server.storage import employees as employee_store
from server.storage import signins as signin_store
from server.storage.signin_models import CASE_STATES, RESOLUTIONS, Case

TRANSITIONS = {
    "new": {"in_progress", "waiting_on_employee", "resolved"},
    "in_progress": {"waiting_on_employee", "resolved"},
    "waiting_on_employee": {"in_progress", "resolved"},
    "resolved": {"in_progress"},  # reopen
}
ASSIGNABLE_ROLES = ("helpdesk", "security_admin")


def report_signin(session: Session, *, employee_id: int, signin_id: int, answer: str,
                  comment: str | None, now: datetime) -> Case:
    """Add the sign-in to the employee's open case, or open one. Returns the case."""
    case = case_store.open_case_of(session, employee_id)
    if case is None:
        case = case_store.create_case(session, employee_id=employee_id,
                                      opened_by="employee", now=now)
    if case_store.link_signin(session, case.id, signin_id, answer, now):
        text = f"Employee answered {answer} about sign-in {signin_id}"
        case_store.add_note(session, case.id, kind="employee", author="employee",
                            body=text + (f": {comment}" if comment else "."), now=now)
        case_store.touch(case, now)
    return case


def _get(session: Session, number: int) -> Case:
    case = case_store.by_number(session, number)
    if case is None:
        raise NotFound(f"no case #{number}")
    return case


def _responded(case: Case, now: datetime) -> None:
    if case.first_response_at is None:
        case.first_response_at = now


def assign(session: Session, number: int, assignee: str | None, *, actor: Actor,
           now: datetime) -> dict[str, Any]:
    """Give the case to a help-desk console user (None: unassign). Audited."""
    case = _get(session, number)
    user_id = None
    if assignee is not None:
        user = case_store.console_user(session, assignee)
        if user is None or user.role not in ASSIGNABLE_ROLES:
            raise InvalidInput(f"assignee: {assignee!r} is not an active help-desk or "
                               "security admin console user",
                               fields=[{"path": "assignee", "reason": "not an assignable user"}])
        user_id = user.id
    case_store.touch(case, now, assignee_id=user_id)
    _responded(case, now)
    case_store.add_note(session, case.id, kind="assign", author=actor.name,
                        body=f"Assigned to {assignee}" if assignee else "Unassigned", now=now)
    audit.record(session, actor, "case.assign", target=f"case #{number}", now=now,
                 details={"assignee": assignee})
    return case_json(session, case)


def change_state(session: Session, number: int, state: str, *, resolution: str | None,
                 note: str | None, actor: Actor, now: datetime) -> dict[str, Any]:
    """Move the case along its workflow (resolution required exactly when resolving).
    Audited; the employee is told, without details."""
    if state not in CASE_STATES:
        raise InvalidInput(f"state: {state!r} is not one of {', '.join(CASE_STATES)}",
                           fields=[{"path": "state", "reason": "unknown state"}])
    if (state == "resolved") != (resolution is not None):
        raise InvalidInput("resolution: required when (and only when) resolving, one of "
                           + ", ".join(RESOLUTIONS),
                           fields=[{"path": "resolution", "reason": "required with resolved"}])
    if resolution is not None and resolution not in RESOLUTIONS:
        raise InvalidInput(f"resolution: {resolution!r} is not one of {', '.join(RESOLUTIONS)}",
                           fields=[{"path": "resolution", "reason": "unknown resolution"}])
    case = _get(session, number)
    if state not in TRANSITIONS[case.state]:
        raise Conflict(f"case #{number} is {case.state}; it cannot become {state}")
    change = "reopened" if case.state == "resolved" else state
    previous = case.state
    case_store.touch(case, now, state=state, resolution=resolution,
                     resolved_at=now if state == "resolved" else None)
    _responded(case, now)
    text = f"{previous} -> {state}" + (f" ({resolution})" if resolution else "")
    case_store.add_note(session, case.id, kind="state", author=actor.name,
                        body=text + (f": {note}" if note else ""), now=now)
    audit.record(session, actor, "case.state", target=f"case #{number}", now=now,
                 details={"from": previous, "to": state, "resolution": resolution})
    title, body = case_message(case.number, change)
    notifications.notify(session, employee_id=case.employee_id, kind=CASE_KIND, title=title,
                         body=body, data={"case": case.number, "state": state}, now=now)
    return case_json(session, case)


def add_note(session: Session, number: int, body: str, *, actor: Actor,
             now: datetime) -> dict[str, Any]:
    """A help-desk note on the case (audited; the employee is not told)."""
    if not body.strip():
        raise InvalidInput("body: a note needs text", fields=[{"path": "body",
                                                               "reason": "empty"}])
    case = _get(session, number)
    case_store.add_note(session, case.id, kind="note", author=actor.name, body=body.strip(),
                        now=now)
    case_store.touch(case, now)
    _responded(case, now)
    audit.record(session, actor, "case.note", target=f"case #{number}", now=now,
                 details={"length": len(body)})
    return case_json(session, case)


def list_cases(session: Session, *, state: str | None = None, assignee: str | None = None,
               employee: str | None = None, limit: int = 100,
               before_number: int | None = None) -> list[dict[str, Any]]:
    """Cases newest first. `assignee` is an email or "none"; `employee` an email."""
    assignee_id, employee_id = None, None
    if assignee not in (None, "none"):
        user = case_store.console_user(session, assignee)
        if user is None:
            return []
        assignee_id = user.id
    if employee is not None:
        person = employee_store.get_by_email(session, employee)
        if person is None:
            return []
        employee_id = person.id
    rows = case_store.list_cases(session, state=state, assignee_id=assignee_id,
                                 employee_id=employee_id, unassigned=assignee == "none",
                                 limit=limit, before_number=before_number)
    return [_summary(case, email, assignee_email) for case, email, assignee_email in rows]


def _time(moment: datetime | None) -> str | None:
    return rfc3339(moment) if moment else None


def _summary(case: Case, employee_email: str, assignee_email: str | None) -> dict[str, Any]:
    return {"number": case.number, "state": case.state, "resolution": case.resolution,
            "employee": employee_email, "assignee": assignee_email,
            "created_at": _time(case.created_at), "updated_at": _time(case.updated_at),
            "first_response_at": _time(case.first_response_at),
            "resolved_at": _time(case.resolved_at),
            "time_to_first_response_seconds": _seconds(case.created_at,
                                                       case.first_response_at),
            "time_to_resolve_seconds": _seconds(case.created_at, case.resolved_at)}


def _seconds(start: datetime, end: datetime | None) -> float | None:
    return (end - start).total_seconds() if end is not None else None


def case_json(session: Session, case: Case) -> dict[str, Any]:
    """A case with its employee, linked sign-ins (place, flags, answers) and notes."""
    employee = employee_store.get_employee(session, case.employee_id)
    assert employee is not None
    links = case_store.signin_links(session, case.id)
    rows = signin_store.get_signins(session.connection(), [link.signin_id for link in links])
    out = _summary(case, employee.email, case_store.user_email(session, case.assignee_id))
    out["employee"] = {"id": employee.id, "email": employee.email,
                       "display_name": employee.display_name,
                       "home_country": employee.home_country}
    out["signins"] = [signin_json(row, with_details=True) for row in rows]
    out["notes"] = [{"kind": n.kind, "author": n.author, "body": n.body,
                     "created_at": _time(n.created_at)}
                    for n in case_store.notes_of(session, case.id)]
    return out


def get_case(session: Session, number: int) -> dict[str, Any]:
    """One case in full; NotFound for an unknown number."""
    return case_json(session, _get(session, number))


def employee_cases(session: Session, employee_id: int) -> list[dict[str, Any]]:
    """What the employee sees of their own cases: number, status and dates only."""
    return [{"number": c.number, "state": c.state, "resolved": c.state == "resolved",
             "created_at": _time(c.created_at), "updated_at": _time(c.updated_at)}
            for c in case_store.cases_of_employee(session, employee_id)]
