"""Event-type dispatch at check-in: features that keep aggregates of agent events hook in here.

The core stores every accepted event once in `agent_events` (by device and event id). A
feature that also needs a derived table registers a handler for its event types in
`HANDLERS`; `handle` / `handle_async` call it with the accepted events of that type, after the
core stored them and only if the device is active: on the check-in's own transaction on SQLite,
on a connection of the asyncio pool (taken only when there is something to handle) on
PostgreSQL.

A handler must
* be idempotent on its own (the same event may arrive again: a re-sent batch, or a retry after
  the server failed between the core's insert and the handler) — e.g. record the (device,
  event id) it counted in the same atomic step as the counts;
* write in single statements on PostgreSQL (the hot path is autocommit) and within the given
  transaction on SQLite;
* skip malformed data instead of raising (a refused check-in would be re-sent forever).

A check-in without events of a registered type costs one pass over its events and no database
work.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from server.services import nudge_stats, seal_reports

Rows = Sequence[dict[str, Any]]  # check-in rows: event_id, type, occurred_at, data


@dataclass(frozen=True)
class Handler:
    """What one event type does at check-in, on the sync and the asyncio path."""

    sync: Callable[[Connection, str, Rows, datetime], None]
    asyncio: Callable[[Any, str, Rows, datetime], Awaitable[None]]


HANDLERS: dict[str, Handler] = {
    nudge_stats.NUDGE_OUTCOMES: Handler(nudge_stats.record_outcomes,
                                        nudge_stats.record_outcomes_async),
    nudge_stats.NUDGE_MISCATEGORISED: Handler(nudge_stats.record_reports,
                                              nudge_stats.record_reports_async),
    # seal on idle: each device's seal timeline, for the lost-device assessment (issue 6)
    **{kind: Handler(seal_reports.record, seal_reports.record_async)
       for kind in seal_reports.EVENT_TYPES},
}


def _by_type(rows: Rows) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        if row["type"] in HANDLERS:
            found.setdefault(row["type"], []).append(row)
    return found


def handle(conn: Connection, device_id: str, rows: Rows, now: datetime) -> None:
    """Run the handlers for the events of a check-in (sync connection)."""
    for kind, events in _by_type(rows).items():
        HANDLERS[kind].sync(conn, device_id, events, now)


async def handle_async(pool: Any, device_id: str, rows: Rows, now: datetime) -> None:
    """Run the handlers for the events of a check-in on a connection of `pool` (an
    `storage.async_pool.AsyncPool` of asyncio psycopg connections)."""
    found = _by_type(rows)
    if not found:
        return
    async with pool.connection() as conn:
        for kind, events in found.items():
            await HANDLERS[kind].asyncio(conn, device_id, events, now)
