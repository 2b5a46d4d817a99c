"""Writes and reads of the nudge aggregates (tables in `server.storage.nudge_models`).

Writes happen inside a check-in, on its connection, and are idempotent by themselves: the
(device, event id) of each counted event goes into `nudge_event_receipts` in the same atomic
step as its counts, and an event already there adds nothing. So a re-sent event, or a retry
after the server failed between the core's event insert and this step, counts exactly once.
PostgreSQL (autocommit hot path): one statement per kind whose CTEs insert the receipts and
add the counts of the events whose receipt was new. SQLite: the check-in's transaction.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, func, select, text
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from server.storage.nudge_models import (
    NudgeEventReceipt,
    NudgeMiscategorisation,
    NudgeOutcomeCount,
)


@dataclass(frozen=True)
class OutcomeCount:
    """One (day, category, country, outcome, count) entry of an agent's event `event_id`."""

    event_id: str
    day: date
    category: str
    country: str  # '' when unknown
    outcome: str
    count: int


@dataclass(frozen=True)
class Report:
    """One explicit miscategorisation report (agent event `event_id`)."""

    event_id: str
    host: str
    category: str


_FRESH = """
WITH fresh AS (
  INSERT INTO nudge_event_receipts (device_id, event_id, received_at)
  SELECT DISTINCT :device_id, x.event_id, :now
    FROM jsonb_to_recordset(CAST(:items AS jsonb)) AS x(event_id text)
  ON CONFLICT (device_id, event_id) DO NOTHING
  RETURNING event_id
)"""
PG_OUTCOMES = text(_FRESH + """, adding AS (
  SELECT c.day, c.category, c.country, c.outcome, sum(c.count) AS n
    FROM jsonb_to_recordset(CAST(:items AS jsonb)) AS c(event_id text, day date,
         category text, country text, outcome text, count bigint)
    JOIN fresh ON fresh.event_id = c.event_id
   GROUP BY c.day, c.category, c.country, c.outcome
)
INSERT INTO nudge_outcome_counts AS t (day, category, country, outcome, count)
SELECT day, category, country, outcome, n FROM adding
ON CONFLICT (day, category, country, outcome) DO UPDATE SET count = t.count + excluded.count""")
PG_REPORTS = text(_FRESH + """, adding AS (
  SELECT r.host, r.category, count(*) AS n
    FROM jsonb_to_recordset(CAST(:items AS jsonb)) AS r(event_id text, host text,
         category text)
    JOIN fresh ON fresh.event_id = r.event_id
   GROUP BY r.host, r.category
)
INSERT INTO nudge_miscategorisations AS t (host, category, reports, first_reported_at,
                                           last_reported_at)
SELECT host, category, n, :now, :now FROM adding
ON CONFLICT (host, category) DO UPDATE
   SET reports = t.reports + excluded.reports, last_reported_at = excluded.last_reported_at""")


def _psycopg(statement: Any) -> str:
    """The same SQL with psycopg's %(name)s placeholders, for the asyncio hot path."""
    return re.sub(r"(?<![:\w]):(\w+)", r"%(\1)s", str(statement.text))


ASYNC_OUTCOMES, ASYNC_REPORTS = _psycopg(PG_OUTCOMES), _psycopg(PG_REPORTS)


def _pg_params(device_id: str, items: Sequence[Any], now: datetime) -> dict[str, Any]:
    rows = [{k: (v.isoformat() if isinstance(v, date) else v) for k, v in vars(i).items()}
            for i in items]
    return {"device_id": device_id, "now": now, "items": json.dumps(rows)}


def add_outcomes(conn: Connection, device_id: str, counts: Sequence[OutcomeCount],
                 now: datetime) -> None:
    """Add the counts of events not counted before (see module docstring)."""
    if conn.dialect.name == "postgresql":
        conn.execute(PG_OUTCOMES, _pg_params(device_id, counts, now))
        return
    for event_id, entries in _by_event(counts).items():
        if _fresh_sqlite(conn, device_id, event_id, now):
            for c in entries:
                row = {"day": c.day, "category": c.category, "country": c.country,
                       "outcome": c.outcome, "count": c.count}
                stmt = sqlite_insert(NudgeOutcomeCount).values(row)
                conn.execute(stmt.on_conflict_do_update(
                    index_elements=["day", "category", "country", "outcome"],
                    set_={"count": NudgeOutcomeCount.count + stmt.excluded.count}))


def add_reports(conn: Connection, device_id: str, reports: Sequence[Report],
                now: datetime) -> None:
    """Add the miscategorisation reports not counted before."""
    if conn.dialect.name == "postgresql":
        conn.execute(PG_REPORTS, _pg_params(device_id, reports, now))
        return
    for event_id, entries in _by_event(reports).items():
        if _fresh_sqlite(conn, device_id, event_id, now):
            for r in entries:
                stmt = sqlite_insert(NudgeMiscategorisation).values(
                    host=r.host, category=r.category, reports=1, first_reported_at=now,
                    last_reported_at=now)
                conn.execute(stmt.on_conflict_do_update(
                    index_elements=["host", "category"],
                    set_={"reports": NudgeMiscategorisation.reports + 1,
                          "last_reported_at": stmt.excluded.last_reported_at}))


async def add_outcomes_async(conn: Any, device_id: str, counts: Sequence[OutcomeCount],
                             now: datetime) -> None:
    """`add_outcomes` on an asyncio psycopg autocommit connection (PostgreSQL)."""
    await conn.execute(ASYNC_OUTCOMES, _pg_params(device_id, counts, now))


async def add_reports_async(conn: Any, device_id: str, reports: Sequence[Report],
                            now: datetime) -> None:
    """`add_reports` on an asyncio psycopg autocommit connection (PostgreSQL)."""
    await conn.execute(ASYNC_REPORTS, _pg_params(device_id, reports, now))


def _by_event(items: Sequence[Any]) -> dict[str, list[Any]]:
    grouped: dict[str, list[Any]] = defaultdict(list)
    for item in items:
        grouped[item.event_id].append(item)
    return grouped


def _fresh_sqlite(conn: Connection, device_id: str, event_id: str, now: datetime) -> bool:
    stmt = sqlite_insert(NudgeEventReceipt).values(device_id=device_id, event_id=event_id,
                                                   received_at=now)
    return conn.execute(stmt.on_conflict_do_nothing()).rowcount == 1


# -- reads (admin API) ------------------------------------------------------------------------
GROUP_COLUMNS = {"category": NudgeOutcomeCount.category, "country": NudgeOutcomeCount.country,
                 "day": NudgeOutcomeCount.day}


def outcome_totals(session: Session, *, group_by: str, since: date, until: date,
                   category: str | None = None,
                   country: str | None = None) -> list[tuple[Any, str, int]]:
    """(group key, outcome, total) for days in [since, until], optionally filtered."""
    key = GROUP_COLUMNS[group_by]
    query = (select(key, NudgeOutcomeCount.outcome, func.sum(NudgeOutcomeCount.count))
             .where(NudgeOutcomeCount.day >= since, NudgeOutcomeCount.day <= until)
             .group_by(key, NudgeOutcomeCount.outcome).order_by(key))
    if category is not None:
        query = query.where(NudgeOutcomeCount.category == category)
    if country is not None:
        query = query.where(NudgeOutcomeCount.country == country)
    return [(k, o, int(n)) for k, o, n in session.execute(query)]


def reports(session: Session, *, category: str | None = None, limit: int = 100,
            offset: int = 0) -> list[NudgeMiscategorisation]:
    """Reported (host, category) pairs, most reported first."""
    query = (select(NudgeMiscategorisation)
             .order_by(NudgeMiscategorisation.reports.desc(),
                       NudgeMiscategorisation.last_reported_at.desc(),
                       NudgeMiscategorisation.host)
             .limit(limit).offset(offset))
    if category is not None:
        query = query.where(NudgeMiscategorisation.category == category)
    return list(session.scalars(query))

