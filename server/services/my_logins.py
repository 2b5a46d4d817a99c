"""The employee's own view of their sign-ins, through their enrolled device: list them
(newest first, cursor paging), answer "this was me / this wasn't me / not sure", see their
cases. A device only ever reaches its own employee's sign-ins: anyone else's id is NotFound,
exactly like an id that does not exist.

Answers teach and escalate: "was me" adds the place (or the anonymiser network) to the
employee's known places; "not me" and "not sure" open a help-desk case or add to the open one.
Answering also acknowledges the sign-in's "was this you?" notification, and acknowledging
that notification with an answer (POST /notifications/{id}/ack) answers the sign-in.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from server.services import cases
from server.services.errors import InvalidInput, NotFound
from server.services.signin_notices import REVIEW_KIND
from server.services.signin_records import (
    confirmed_place_row,
    network_row,
    place_from_row,
    signin_json,
)
from server.storage import notifications as notification_store
from server.storage import signin_history
from server.storage import signins as signin_store
from server.storage.signin_models import ANSWERS

MAX_PAGE = 200


def encode_cursor(occurred_at: datetime, signin_id: int) -> str:
    """An opaque cursor for "after this row"."""
    raw = f"{occurred_at.isoformat()}|{signin_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    """(occurred_at, id) from a cursor; InvalidInput when it is not one of ours."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, _, ident = raw.partition("|")
        moment = datetime.fromisoformat(at)
        if moment.tzinfo is None:
            raise ValueError("naive time")
        return moment, int(ident)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidInput("cursor: not a cursor this server issued",
                           fields=[{"path": "cursor", "reason": "invalid cursor"}]) from None


def my_logins(session: Session, employee_id: int, *, limit: int = 50,
              cursor: str | None = None) -> dict[str, Any]:
    """A page of the employee's sign-ins and the cursor of the next page (null at the end)."""
    limit = max(1, min(limit, MAX_PAGE))
    before = decode_cursor(cursor) if cursor else None
    rows = signin_store.employee_signins(session.connection(), employee_id, limit=limit + 1,
                                         before=before)
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor(rows[-1]["occurred_at"], rows[-1]["id"]) if more else None
    return {"logins": [signin_json(row) for row in rows], "next_cursor": next_cursor}


def answer(session: Session, *, employee_id: int, device_id: str | None, signin_id: int,
           choice: str, comment: str | None, now: datetime) -> dict[str, Any]:
    """Record the employee's answer about their sign-in (see module docstring)."""
    if choice not in ANSWERS:
        raise InvalidInput(f"answer: {choice!r} is not one of {', '.join(ANSWERS)}",
                           fields=[{"path": "answer", "reason": "unknown answer"}])
    conn = session.connection()
    row = signin_store.owned_signin(conn, signin_id, employee_id)
    if row is None:
        raise NotFound(f"no sign-in {signin_id} for this device's employee")
    signin_store.save_answer(conn, signin_id=signin_id, employee_id=employee_id,
                             answer=choice, comment=comment, device_id=device_id, now=now)
    if row["notification_id"] and device_id is not None:
        notification_store.acknowledge(session, row["notification_id"], device_id=device_id,
                                       response=choice, now=now)
    case = None
    if choice == "was_me":
        _learn(conn, employee_id, row, now)
    else:
        case = cases.report_signin(session, employee_id=employee_id, signin_id=signin_id,
                                   answer=choice, comment=comment, now=now)
    return {"id": signin_id, "answer": choice, "comment": comment,
            "case": {"number": case.number, "state": case.state} if case else None}


def _learn(conn: Any, employee_id: int, row: dict[str, Any], now: datetime) -> None:
    """"This was me": remember the place, and the network if it is an anonymiser/hosting."""
    place = place_from_row(row)
    if place.kind == "public" and place.country_code:
        signin_history.confirm_known_place(conn, confirmed_place_row(employee_id, place,
                                                                     row["id"], now))
    if (place.is_anonymizer or place.is_hosting) and place.asn is not None:
        signin_history.confirm_known_place(conn, network_row(employee_id, place.asn,
                                                             place.network_org, row["id"],
                                                             now))


def answer_from_notification(session: Session, *, employee_id: int, device_id: str,
                             notification_id: str, response: str | None,
                             now: datetime) -> None:
    """An acknowledged "was this you?" notification that carries an answer answers its
    sign-in too (other notifications and plain "seen" acknowledgements change nothing)."""
    if response not in ANSWERS:
        return
    row = notification_store.get_for_employee(session, notification_id, employee_id)
    if row is None or row.kind != REVIEW_KIND:
        return
    signin_id = (row.data or {}).get("signin_id")
    if isinstance(signin_id, int):
        answer(session, employee_id=employee_id, device_id=device_id, signin_id=signin_id,
               choice=response, comment=None, now=now)


def my_cases(session: Session, employee_id: int) -> dict[str, Any]:
    """The employee's cases: number and status only."""
    return {"cases": cases.employee_cases(session, employee_id)}
