"""Queries on employees and their identity aliases."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from server.storage.models import Employee, EmployeeAlias


def normalise_identity(name: str) -> str:
    """The form identities are compared in: stripped and case-folded.

    `CORP\\E1042` and `corp\\e1042` are the same identity; `e1042` is another one.
    """
    return name.strip().casefold()


def add_employee(session: Session, *, email: str, home_country: str, now: datetime,
                 aliases: Iterable[str] = (), display_name: str | None = None) -> Employee:
    """Insert an employee and their aliases; the caller checks for conflicts first."""
    employee = Employee(email=normalise_identity(email), home_country=home_country.upper(),
                        display_name=display_name, created_at=now)
    session.add(employee)
    session.flush()
    for alias in aliases:
        add_alias(session, employee.id, alias)
    return employee


def add_alias(session: Session, employee_id: int, alias: str) -> EmployeeAlias:
    """Attach one more identity alias to an employee."""
    row = EmployeeAlias(employee_id=employee_id, alias=alias.strip(),
                        alias_normalised=normalise_identity(alias))
    session.add(row)
    session.flush()
    return row


def get_employee(session: Session, employee_id: int) -> Employee | None:
    """The employee with this id, if any."""
    return session.get(Employee, employee_id)


def get_by_email(session: Session, email: str) -> Employee | None:
    """The employee whose email is `email` (compared case-insensitively)."""
    return session.scalar(select(Employee).where(Employee.email == normalise_identity(email)))


def find_by_identity(session: Session, identity: str) -> Employee | None:
    """The employee whose email or one of whose aliases is `identity` (normalised)."""
    key = normalise_identity(identity)
    alias_owner = select(EmployeeAlias.employee_id).where(EmployeeAlias.alias_normalised == key)
    return session.scalar(select(Employee).where(
        or_(Employee.email == key, Employee.id.in_(alias_owner))))


def taken_identities(session: Session, names: Iterable[str]) -> list[str]:
    """Which of `names` are already an employee's email or alias (normalised)."""
    keys = {normalise_identity(n) for n in names}
    if not keys:
        return []
    emails = session.scalars(select(Employee.email).where(Employee.email.in_(keys)))
    aliases = session.scalars(select(EmployeeAlias.alias_normalised)
                              .where(EmployeeAlias.alias_normalised.in_(keys)))
    return sorted(set(emails) | set(aliases))


def aliases_of(session: Session, employee_ids: Iterable[int]) -> dict[int, list[str]]:
    """Aliases (as written) of each employee id."""
    ids = list(employee_ids)
    out: dict[int, list[str]] = {i: [] for i in ids}
    if not ids:
        return out
    rows = session.execute(select(EmployeeAlias.employee_id, EmployeeAlias.alias)
                           .where(EmployeeAlias.employee_id.in_(ids))
                           .order_by(EmployeeAlias.id))
    for employee_id, alias in rows:
        out[employee_id].append(alias)
    return out


def list_employees(session: Session, *, limit: int = 100, offset: int = 0,
                   only: Select[Any] | None = None) -> list[Employee]:
    """Employees ordered by email (only those whose id is in the `only` subquery, if given)."""
    query = select(Employee).order_by(Employee.email).limit(limit).offset(offset)
    if only is not None:
        query = query.where(Employee.id.in_(only))
    return list(session.scalars(query))


def count_employees(session: Session) -> int:
    """How many employees exist."""
    return session.scalar(select(func.count()).select_from(Employee)) or 0
