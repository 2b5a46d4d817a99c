"""Whose data a console role may read.

The security team and auditors see every employee. The help desk works cases, so it sees the
employees who have a case — in any state, since a resolved case can be looked at again — with
their devices and sign-ins, and nobody else: an employee who never reported anything, and was
never the subject of a report, stays out of the help desk's view.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from server.services import roles
from server.services.errors import Forbidden
from server.storage import cases as case_store
from server.storage.signin_models import Case


def employee_filter(role: str | None) -> Select[Any] | None:
    """None when `role` sees everyone, else a subquery of the employee ids it may read."""
    return case_store.employees_with_cases() if roles.sees_only_case_employees(role) else None


def require_visible(session: Session, role: str | None, employee_id: int) -> None:
    """Raise Forbidden unless `role` may read this employee's data."""
    if not roles.sees_only_case_employees(role):
        return
    if session.scalar(select(Case.id).where(Case.employee_id == employee_id).limit(1)) is None:
        raise Forbidden(f"role {role!r} sees only employees who have a case")
