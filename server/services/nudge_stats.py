"""Browsing nudges on the server: heed rates from the agents' counts, and site reports.

Agents send only counts per (category, country, outcome) in `nudge_outcomes` events, and a
`nudge_miscategorised` event {host, category} when an employee explicitly reports a site
(docs/protocol.md). At check-in (`server.services.checkin_events`) the counts are added to
per-day aggregates; the admin API reads them back grouped by category, country or day, with
heed rate = heeded / (heeded + proceeded): of the nudges whose outcome says something about
the warning, the share after which the employee stayed away. Dismissed and miscategorised
nudges are counted but not part of the rate.

Malformed entries are skipped and logged, never refused: a check-in failing on one bad event
would be re-sent forever and block everything queued behind it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.orm import Session

from server.services.clock import rfc3339
from server.services.errors import InvalidInput
from server.storage import nudge_stats as store
from server.storage.nudge_models import UNKNOWN_COUNTRY

log = logging.getLogger(__name__)
NUDGE_OUTCOMES, NUDGE_MISCATEGORISED = "nudge_outcomes", "nudge_miscategorised"
OUTCOMES = ("heeded", "proceeded", "dismissed", "miscategorised")
GROUPS = ("category", "country", "day")
MAX_COUNT = 10_000  # per entry: far above one laptop's nudges per check-in
CATEGORY = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
COUNTRY = re.compile(r"^[A-Z]{2}$")
HOST = re.compile(r"^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*"
                  r"[a-z0-9])?)*$")
DEFAULT_DAYS = 30


def _day(occurred_at: datetime, now: datetime) -> date:
    # a laptop clock running ahead must not put counts into days that have not happened yet
    return min(occurred_at, now).astimezone(UTC).date()


def outcome_counts(events: Iterable[dict[str, Any]], now: datetime) -> list[store.OutcomeCount]:
    """The valid count entries of `nudge_outcomes` events (check-in rows)."""
    found = []
    for event in events:
        counts = event["data"].get("counts") if isinstance(event["data"], dict) else None
        for entry in counts if isinstance(counts, list) else []:
            parsed = _count(event["event_id"], entry, _day(event["occurred_at"], now))
            if parsed is None:
                log.warning("skipping a malformed nudge_outcomes entry in event %s: %.200r",
                            event["event_id"], entry)
            else:
                found.append(parsed)
    return found


def _count(event_id: str, entry: Any, day: date) -> store.OutcomeCount | None:
    if not isinstance(entry, dict):
        return None
    category, country = entry.get("category"), entry.get("country")
    outcome, count = entry.get("outcome"), entry.get("count")
    if not (isinstance(category, str) and CATEGORY.match(category) and outcome in OUTCOMES
            and (country is None or (isinstance(country, str) and COUNTRY.match(country)))
            and type(count) is int and 1 <= count <= MAX_COUNT):
        return None
    return store.OutcomeCount(event_id, day, category, country or UNKNOWN_COUNTRY, outcome,
                              count)


def reports_of(events: Iterable[dict[str, Any]]) -> list[store.Report]:
    """The valid `nudge_miscategorised` reports (host lower-cased, nothing else kept)."""
    found = []
    for event in events:
        data = event["data"] if isinstance(event["data"], dict) else {}
        host, category = data.get("host"), data.get("category")
        host = host.strip().lower().rstrip(".") if isinstance(host, str) else None
        if host and HOST.match(host) and isinstance(category, str) and \
                CATEGORY.match(category):
            found.append(store.Report(event["event_id"], host, category))
        else:
            log.warning("skipping a malformed nudge_miscategorised event %s",
                        event["event_id"])
    return found


def record_outcomes(conn: Connection, device_id: str, events: Sequence[dict[str, Any]],
                    now: datetime) -> None:
    """Check-in handler for `nudge_outcomes`: add new events' counts (idempotent)."""
    counts = outcome_counts(events, now)
    if counts:
        store.add_outcomes(conn, device_id, counts, now)


async def record_outcomes_async(conn: Any, device_id: str, events: Sequence[dict[str, Any]],
                                now: datetime) -> None:
    """`record_outcomes` on the asyncio PostgreSQL hot path."""
    counts = outcome_counts(events, now)
    if counts:
        await store.add_outcomes_async(conn, device_id, counts, now)


def record_reports(conn: Connection, device_id: str, events: Sequence[dict[str, Any]],
                   now: datetime) -> None:
    """Check-in handler for `nudge_miscategorised`: count new reports (idempotent)."""
    reports = reports_of(events)
    if reports:
        store.add_reports(conn, device_id, reports, now)


async def record_reports_async(conn: Any, device_id: str, events: Sequence[dict[str, Any]],
                               now: datetime) -> None:
    """`record_reports` on the asyncio PostgreSQL hot path."""
    reports = reports_of(events)
    if reports:
        await store.add_reports_async(conn, device_id, reports, now)


# -- reads for the admin API -------------------------------------------------------------------
def _period(since: date | None, until: date | None, today: date) -> tuple[date, date]:
    until = until or today
    since = since or until - timedelta(days=DEFAULT_DAYS - 1)
    if since > until:
        raise InvalidInput(f"since ({since}) is after until ({until})",
                           fields=[{"path": "since", "reason": "must not be after until"}])
    return since, until


def _country_filter(country: str | None) -> str | None:
    if country is None:
        return None
    if country == "unknown":
        return UNKNOWN_COUNTRY
    if not COUNTRY.match(country):
        raise InvalidInput(f"country must be an ISO 3166-1 alpha-2 code or 'unknown', not "
                           f"{country!r}", fields=[{"path": "country", "reason": "bad code"}])
    return country


def _rates(outcomes: dict[str, int]) -> dict[str, Any]:
    decided = outcomes["heeded"] + outcomes["proceeded"]
    return {**outcomes, "nudges": sum(outcomes.values()),
            "heed_rate": round(outcomes["heeded"] / decided, 4) if decided else None}


def _key(group_by: str, value: Any) -> Any:
    if group_by == "country":
        return value or None  # '' is "unknown"
    return value.isoformat() if group_by == "day" else value


def heed_rates(session: Session, *, group_by: str, today: date, since: date | None = None,
               until: date | None = None, category: str | None = None,
               country: str | None = None) -> dict[str, Any]:
    """Counts per outcome and heed rate per group (`category`, `country` or `day`), for the
    UTC days since..until (default: the last 30 days), plus the total over all groups."""
    if group_by not in GROUPS:
        raise InvalidInput(f"group_by must be one of {', '.join(GROUPS)}, not {group_by!r}",
                           fields=[{"path": "group_by", "reason": "unknown grouping"}])
    since, until = _period(since, until, today)
    rows = store.outcome_totals(session, group_by=group_by, since=since, until=until,
                                category=category, country=_country_filter(country))
    groups: dict[Any, dict[str, int]] = {}
    total = dict.fromkeys(OUTCOMES, 0)
    for key, outcome, count in rows:
        if outcome not in total:  # written by a newer server: not part of these figures
            continue
        groups.setdefault(key, dict.fromkeys(OUTCOMES, 0))[outcome] += count
        total[outcome] += count
    return {"group_by": group_by, "since": since.isoformat(), "until": until.isoformat(),
            "category": category, "country": country,
            "groups": [{group_by: _key(group_by, k), **_rates(v)} for k, v in groups.items()],
            "total": _rates(total)}


def miscategorised_sites(session: Session, *, category: str | None = None, limit: int = 100,
                         offset: int = 0) -> dict[str, Any]:
    """Sites employees reported as miscategorised, most reported first."""
    rows = store.reports(session, category=category, limit=max(1, min(limit, 1000)),
                         offset=max(0, offset))
    return {"reports": [{"host": r.host, "category": r.category, "reports": r.reports,
                         "first_reported_at": rfc3339(r.first_reported_at),
                         "last_reported_at": rfc3339(r.last_reported_at)} for r in rows]}
