"""Browsing nudges on the server, on SQLite and PostgreSQL: agents' `nudge_outcomes` counts
become heed rates per category, country and day, each event counted once however often it is
re-sent; explicit miscategorisation reports are listed; the role matrix of both endpoints."""

from __future__ import annotations

import uuid
from datetime import datetime

import pytest
from sqlalchemy import func, select

from server.services import api_tokens, checkin_events
from server.services.audit import Actor
from server.services.roles import ROLES, allowed
from server.storage.nudge_models import NudgeEventReceipt

RATES = "/api/v1/admin/nudges/heed-rates"
REPORTS = "/api/v1/admin/nudges/miscategorised"


def outcomes(occurred_at: str, *counts: tuple) -> dict:
    return {"id": str(uuid.uuid4()), "type": "nudge_outcomes", "occurred_at": occurred_at,
            "data": {"counts": [{"category": c, "country": k, "outcome": o, "count": n}
                                for c, k, o, n in counts]}}


def report(host: str, category: str = "gambling") -> dict:
    return {"id": str(uuid.uuid4()), "type": "nudge_miscategorised",
            "occurred_at": "2024-05-02T08:59:00Z", "data": {"host": host, "category": category}}


def bearer(h, role: str) -> dict[str, str]:
    with h.ctx.db.transaction() as s:
        _, token = api_tokens.create(s, name=f"t-{role}-{uuid.uuid4().hex[:4]}",
                                     scopes=["admin:read"], role=role, actor=Actor("test"),
                                     now=h.clock())
    return {"Authorization": f"Bearer {token}"}


def rates(h, headers, **query) -> dict:
    reply = h.client.get(RATES, params=query, headers=headers)
    assert reply.status_code == 200, reply.text
    return reply.json()


def rows_by(result: dict) -> dict:
    key = result["group_by"]
    return {g[key]: {k: v for k, v in g.items() if k != key} for g in result["groups"]}


def checked_in(h, device, events) -> list[str]:
    reply = h.checkin(device, events)
    assert reply.status_code == 200, reply.text
    return reply.json()["accepted_event_ids"]


def test_outcomes_become_heed_rates_counted_once(harness):
    device, other = harness.enroll(name="LAPTOP-1"), harness.enroll(name="LAPTOP-2")
    today = outcomes("2024-05-02T08:59:00Z", ("gambling", "AE", "heeded", 3),
                     ("gambling", "AE", "proceeded", 1), ("gambling", None, "dismissed", 1),
                     ("gambling", "AE", "bogus", 7), ("Bad Category!", "AE", "heeded", 1))
    yesterday = outcomes("2024-05-01T10:00:00Z", ("gambling", "QA", "heeded", 1),
                         ("malware", "AE", "proceeded", 2),
                         ("malware", "AE", "miscategorised", 1))
    batch = [today, yesterday, harness.event("agent.started")]
    assert len(checked_in(harness, device, batch)) == 3
    assert len(checked_in(harness, device, batch)) == 3  # the same batch again: no change
    later = outcomes("2024-05-02T08:59:30Z", ("gambling", "AE", "heeded", 1))
    checked_in(harness, device, [today, later])  # one retried, one new
    checked_in(harness, other, [dict(today)])  # same id on another device: its own event
    admin = bearer(harness, "security_admin")

    by_category = rates(harness, admin)
    assert (by_category["since"], by_category["until"]) == ("2024-04-03", "2024-05-02")
    assert rows_by(by_category) == {
        "gambling": {"heeded": 8, "proceeded": 2, "dismissed": 2, "miscategorised": 0,
                     "nudges": 12, "heed_rate": 0.8},
        "malware": {"heeded": 0, "proceeded": 2, "dismissed": 0, "miscategorised": 1,
                    "nudges": 3, "heed_rate": 0.0}}
    assert by_category["total"]["nudges"] == 15 and by_category["total"]["heed_rate"] == 0.6667

    by_country = rows_by(rates(harness, admin, group_by="country"))
    assert {k: (v["heeded"], v["proceeded"], v["dismissed"]) for k, v in by_country.items()} \
        == {"AE": (7, 4, 0), "QA": (1, 0, 0), None: (0, 0, 2)}
    assert by_country[None]["heed_rate"] is None  # nothing heeded or proceeded: no rate

    by_day = rates(harness, admin, group_by="day", category="gambling")
    assert {k: v["heeded"] for k, v in rows_by(by_day).items()} == {"2024-05-01": 1,
                                                                    "2024-05-02": 7}
    only_may_1 = rates(harness, admin, group_by="country", since="2024-05-01",
                       until="2024-05-01", country="AE")
    assert rows_by(only_may_1) == {"AE": {"heeded": 0, "proceeded": 2, "dismissed": 0,
                                          "miscategorised": 1, "nudges": 3, "heed_rate": 0.0}}
    assert rows_by(rates(harness, admin, country="unknown"))["gambling"]["dismissed"] == 2


def test_a_laptop_clock_ahead_counts_today_not_the_future(harness):
    device = harness.enroll()
    checked_in(harness, device, [outcomes("2024-05-09T10:00:00+02:00",
                                          ("gambling", "AE", "heeded", 1))])
    result = rates(harness, bearer(harness, "auditor"), group_by="day")
    assert [g["day"] for g in result["groups"]] == ["2024-05-02"]


@pytest.mark.parametrize("query", [{"group_by": "employee"}, {"since": "2024-05-03",
                                                              "until": "2024-05-01"},
                                   {"since": "yesterday"}, {"country": "Britain"}])
def test_bad_queries_are_422(harness, query):
    reply = harness.client.get(RATES, params=query,
                               headers=bearer(harness, "security_admin"))
    assert (reply.status_code, reply.json()["error"]) == (422, "validation_failed")


def test_reports_are_counted_once_and_listed_for_security_admins(harness):
    device, other = harness.enroll(name="LAPTOP-1"), harness.enroll(name="LAPTOP-2")
    first, sloppy = report("www.casino.com"), report("WWW.Casino.COM.")
    checked_in(harness, device, [first, report("not a host/path?q=1"), report("x.example", "")])
    checked_in(harness, device, [first])  # re-sent
    harness.clock.advance(hours=2)
    checked_in(harness, other, [sloppy, report("news.example", "news")])
    reply = harness.client.get(REPORTS, headers=bearer(harness, "security_admin"))
    assert reply.status_code == 200, reply.text
    assert reply.json()["reports"] == [
        {"host": "www.casino.com", "category": "gambling", "reports": 2,
         "first_reported_at": "2024-05-02T09:00:00Z",
         "last_reported_at": "2024-05-02T11:00:00Z"},
        {"host": "news.example", "category": "news", "reports": 1,
         "first_reported_at": "2024-05-02T11:00:00Z",
         "last_reported_at": "2024-05-02T11:00:00Z"}]
    news = harness.client.get(REPORTS, params={"category": "news"},
                              headers=bearer(harness, "security_admin")).json()
    assert [r["host"] for r in news["reports"]] == ["news.example"]


def test_the_sync_hot_path_counts_once_too(harness):
    """`check_in` on a Core connection (SQLite's path; PostgreSQL's sync fallback)."""
    device = harness.enroll()
    row = {"event_id": str(uuid.uuid4()), "type": "nudge_outcomes",
           "occurred_at": datetime.fromisoformat("2024-05-02T08:00:00+00:00"),
           "data": {"counts": [{"category": "gambling", "country": "AE",
                                "outcome": "heeded", "count": 2}]}}
    for _ in range(2):
        with harness.ctx.db.hot_path() as conn:
            checkin_events.handle(conn, device["device_id"], [row], harness.clock())
    result = rates(harness, bearer(harness, "security_admin"))
    assert rows_by(result)["gambling"]["heeded"] == 2
    with harness.ctx.db.transaction() as s:
        assert s.scalar(select(func.count()).select_from(NudgeEventReceipt)) == 1


@pytest.mark.parametrize("via", ["session", "token"])
@pytest.mark.parametrize("role", ROLES)
def test_role_matrix(harness, role, via):
    if via == "session":
        client, _ = harness.login(role)
        headers: dict[str, str] = {}
    else:
        client, headers = harness.new_client(), bearer(harness, role)
    for path, permission in ((RATES, "nudges.read"), (REPORTS, "nudge_reports.read")):
        reply = client.get(path, headers=headers)
        expected = 200 if allowed(role, permission) else 403
        assert reply.status_code == expected, (role, via, path, reply.text)
    assert allowed("auditor", "nudges.read") and not allowed("helpdesk", "nudges.read")
    assert not allowed("auditor", "nudge_reports.read")
    assert harness.client.get(RATES).status_code == 401
