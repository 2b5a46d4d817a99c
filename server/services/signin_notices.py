"""The words of the notifications the sign-in pipeline sends, always to one employee only:
"was this you?" for a flagged sign-in, and a detail-free line when their report (case) moves."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from server.services.clock import rfc3339

REVIEW_KIND = "signin.review"
CASE_KIND = "case.update"
ANSWER_CHOICES = ["was_me", "not_me", "not_sure"]

CASE_MESSAGES = {
    "in_progress": "The help desk is looking at your report #{number}.",
    "waiting_on_employee": "The help desk needs something from you about your report "
                           "#{number}. Please contact them.",
    "resolved": "Your report #{number} has been resolved.",
    "reopened": "Your report #{number} has been reopened.",
}


def review_title(place_label: str, occurred_at: datetime, outcome: str) -> str:
    """"New sign-in from Tokyo, Japan at 09:14 UTC — was this you?" (failures say so)."""
    when = occurred_at.strftime("%H:%M UTC")
    if outcome == "failure":
        return f"Failed sign-ins to your account from {place_label} at {when} — was this you?"
    return f"New sign-in from {place_label} at {when} — was this you?"


def notification_rows(fresh: list[tuple[Any, int, tuple[Any, ...]]],
                      now: datetime) -> list[dict[str, Any]]:
    """Rows for `notifications` of newly stored sign-ins that notify: `fresh` holds
    (Judged, stored id, stored row whose last column is the notification id)."""
    rows = []
    for judged, signin_id, row in fresh:
        notification_id = row[-1]
        if not judged.notify or notification_id is None:
            continue
        signin, place = judged.signin, judged.place
        reasons = [flag.reason for flag in judged.flags]
        body = "\n".join(reasons) + ("\n\nTell us in Heedful: this was me, this wasn't me, "
                                     "or not sure.")
        rows.append({
            "id": notification_id, "employee_id": judged.employee_id, "kind": REVIEW_KIND,
            "title": review_title(place.label, signin.occurred_at, signin.outcome)[:200],
            "body": body[:4000], "created_at": now, "acked_at": None,
            "acked_by_device_id": None, "response": None,
            "data": {"signin_id": signin_id, "occurred_at": rfc3339(signin.occurred_at),
                     "place": place.label, "source_system": signin.source_system,
                     "application": signin.application,
                     "flags": [flag.kind for flag in judged.flags],
                     "answers": ANSWER_CHOICES}})
    return rows


def case_message(number: int, change: str) -> tuple[str, str]:
    """(title, body) telling the employee their case moved, without any details."""
    body = CASE_MESSAGES[change].format(number=number)
    return f"Update on your report #{number}", body
