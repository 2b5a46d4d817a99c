"""Queries on help-desk cases, their linked sign-ins and notes. Functions take the caller's
Session and never commit."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, select, update
from sqlalchemy.orm import Session

from server.storage.models import ConsoleUser, Employee
from server.storage.signin_models import Case, CaseNote, CaseSignIn, Counter

CASE_NUMBER = "case_number"


def next_case_number(session: Session) -> int:
    """The next "#N": the counter row is incremented under its row lock, so two cases opened
    at once never share a number."""
    number = session.execute(update(Counter).where(Counter.name == CASE_NUMBER)
                             .values(value=Counter.value + 1)
                             .returning(Counter.value)).scalar()
    if number is None:  # a database migrated without the seed row
        session.add(Counter(name=CASE_NUMBER, value=1))
        session.flush()
        return 1
    return int(number)


def open_case_of(session: Session, employee_id: int) -> Case | None:
    """The employee's newest case that is not resolved."""
    return session.scalar(select(Case).where(Case.employee_id == employee_id,
                                             Case.state != "resolved")
                          .order_by(Case.created_at.desc(), Case.id.desc()).limit(1))


def create_case(session: Session, *, employee_id: int, opened_by: str, now: datetime) -> Case:
    """A new case in state `new` with the next number."""
    case = Case(number=next_case_number(session), employee_id=employee_id, state="new",
                opened_by=opened_by, created_at=now, updated_at=now)
    session.add(case)
    session.flush()
    return case


def link_signin(session: Session, case_id: int, signin_id: int, answer: str,
                now: datetime) -> bool:
    """Link a sign-in to a case (once); False when it already was."""
    if session.get(CaseSignIn, (case_id, signin_id)) is not None:
        return False
    session.add(CaseSignIn(case_id=case_id, signin_id=signin_id, answer=answer, added_at=now))
    session.flush()
    return True


def case_of_signin(session: Session, signin_id: int) -> Case | None:
    """The newest case a sign-in is linked to."""
    return session.scalar(select(Case).join(CaseSignIn, CaseSignIn.case_id == Case.id)
                          .where(CaseSignIn.signin_id == signin_id)
                          .order_by(Case.id.desc()).limit(1))


def add_note(session: Session, case_id: int, *, kind: str, author: str, body: str,
             now: datetime) -> CaseNote:
    """Append a note to a case."""
    note = CaseNote(case_id=case_id, kind=kind, author=author, body=body, created_at=now)
    session.add(note)
    session.flush()
    return note


def by_number(session: Session, number: int) -> Case | None:
    """The case shown as "#number"."""
    return session.scalar(select(Case).where(Case.number == number))


def employees_with_cases() -> Select[Any]:
    """A subquery of the ids of employees who have (or had) a case, for `IN` filters."""
    return select(Case.employee_id).distinct()


def list_cases(session: Session, *, state: str | None = None, assignee_id: int | None = None,
               employee_id: int | None = None, unassigned: bool = False, limit: int = 100,
               before_number: int | None = None) -> list[tuple[Case, str, str | None]]:
    """(case, employee email, assignee email) newest first, filtered."""
    assignee = ConsoleUser.__table__.alias("assignee")
    query = (select(Case, Employee.email, assignee.c.email)
             .join(Employee, Employee.id == Case.employee_id)
             .outerjoin(assignee, assignee.c.id == Case.assignee_id)
             .order_by(Case.number.desc()).limit(limit))
    if state is not None:
        query = query.where(Case.state == state)
    if assignee_id is not None:
        query = query.where(Case.assignee_id == assignee_id)
    if unassigned:
        query = query.where(Case.assignee_id.is_(None))
    if employee_id is not None:
        query = query.where(Case.employee_id == employee_id)
    if before_number is not None:
        query = query.where(Case.number < before_number)
    return [(row[0], row[1], row[2]) for row in session.execute(query)]


def signin_links(session: Session, case_id: int) -> list[CaseSignIn]:
    """The sign-ins linked to a case, in the order they were added."""
    return list(session.scalars(select(CaseSignIn).where(CaseSignIn.case_id == case_id)
                                .order_by(CaseSignIn.added_at, CaseSignIn.signin_id)))


def notes_of(session: Session, case_id: int) -> list[CaseNote]:
    """Notes of a case, oldest first."""
    return list(session.scalars(select(CaseNote).where(CaseNote.case_id == case_id)
                                .order_by(CaseNote.id)))


def cases_of_employee(session: Session, employee_id: int) -> list[Case]:
    """An employee's cases, newest first."""
    return list(session.scalars(select(Case).where(Case.employee_id == employee_id)
                                .order_by(Case.number.desc())))


def console_user(session: Session, email: str) -> ConsoleUser | None:
    """An active console user by email (assignees)."""
    return session.scalar(select(ConsoleUser).where(ConsoleUser.email == email.strip().lower(),
                                                    ConsoleUser.disabled_at.is_(None)))


def user_email(session: Session, user_id: int | None) -> str | None:
    """The email of a console user id."""
    if user_id is None:
        return None
    return session.scalar(select(ConsoleUser.email).where(ConsoleUser.id == user_id))


def touch(case: Case, now: datetime, **values: Any) -> None:
    """Change fields of a case and its updated_at."""
    for name, value in values.items():
        setattr(case, name, value)
    case.updated_at = now
