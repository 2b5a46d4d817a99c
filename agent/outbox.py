"""The durable outbox: events wait here until the server has acknowledged them.

Rules that make delivery exactly-once from the server's point of view:

1. An event is written (committed, fsynced) here *before* anything tries to send it.
2. Each event carries its idempotency key (`id`) from the moment it is queued; retries resend
   the same id, and the server stores an id once.
3. An event is removed only when the server listed its id in `accepted_event_ids`.

So a crash, a `kill -9` or a lost reply between "sent" and "acknowledged" leads to a resend
that the server recognises — never to a duplicate, never to a loss.

Bounded: the outbox keeps at least `keep_days` of events *and* at least `keep_events` events
(whichever is larger), and never more than `hard_max`. Beyond that the oldest are dropped; the
number dropped is added to a persistent counter shown in `status`, and an `outbox.dropped`
event tells the server.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable

from agent.events import OUTBOX_DROPPED, Event
from agent.store import Store

DROPPED_COUNTER = "outbox_dropped_total"


class Outbox:
    """Queue of `Event`s in the state database, oldest first."""

    def __init__(self, store: Store, *, keep_days: float = 7.0, keep_events: int = 100_000,
                 hard_max: int = 1_000_000, clock: Callable[[], float] = time.time) -> None:
        self.store, self.clock = store, clock
        self.keep_seconds, self.keep_events, self.hard_max = keep_days * 86400, keep_events, \
            hard_max

    def put(self, event: Event) -> bool:
        """Queue one event durably; False if an event with this id is already queued."""
        return self.put_many([event]) == 1

    def put_many(self, events: Iterable[Event]) -> int:
        """Queue events in one transaction; returns how many were new."""
        added = self._insert(events)
        if added:
            self.enforce_bounds()
        return added

    def _insert(self, events: Iterable[Event]) -> int:
        now, added = self.clock(), 0
        with self.store.transaction() as conn:
            for event in events:
                cur = conn.execute(
                    "INSERT OR IGNORE INTO outbox (id, type, occurred_at, data, queued_at) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (event.id, event.type, event.occurred_at, json.dumps(event.data), now))
                added += cur.rowcount
        return added

    def peek(self, limit: int) -> list[Event]:
        """The oldest `limit` events, without removing them."""
        rows = self.store.query(
            "SELECT id, type, occurred_at, data FROM outbox ORDER BY seq LIMIT ?", (limit,))
        return [Event(type=t, data=json.loads(d), occurred_at=o, id=i) for i, t, o, d in rows]

    def mark_attempt(self, ids: Iterable[str]) -> None:
        """Count a send attempt for these events (shown in `status` as retries)."""
        with self.store.transaction() as conn:
            conn.executemany("UPDATE outbox SET attempts = attempts + 1 WHERE id = ?",
                             [(i,) for i in ids])

    def acknowledge(self, ids: Iterable[str]) -> int:
        """Remove events the server acknowledged; returns how many were removed."""
        with self.store.transaction() as conn:
            return sum(conn.execute("DELETE FROM outbox WHERE id = ?", (i,)).rowcount
                       for i in ids)

    def depth(self) -> int:
        """Events waiting."""
        return self.store.query("SELECT COUNT(*) FROM outbox")[0][0]

    def oldest_queued_at(self) -> float | None:
        """When the oldest waiting event was queued (epoch seconds), or None if empty."""
        row = self.store.query("SELECT MIN(queued_at) FROM outbox")[0][0]
        return float(row) if row is not None else None

    def dropped(self) -> int:
        """Total events ever dropped because the outbox was full."""
        return int(self.store.get_state(DROPPED_COUNTER, 0))

    def enforce_bounds(self) -> int:
        """Drop the oldest events beyond the bounds; returns how many were dropped now."""
        low, high = self.store.query("SELECT MIN(seq), MAX(seq) FROM outbox")[0]
        if low is None or high - low + 1 <= self.keep_events:
            return 0  # cheap upper bound on the count: nothing to do
        cutoff = self.clock() - self.keep_seconds
        with self.store.transaction() as conn:
            count = conn.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]
            over_soft = max(0, count - self.keep_events)
            old = conn.execute("SELECT COUNT(*) FROM outbox WHERE queued_at < ?",
                               (cutoff,)).fetchone()[0]
            drop = max(min(over_soft, old), count - self.hard_max, 0)
            if drop:
                conn.execute("DELETE FROM outbox WHERE seq IN (SELECT seq FROM outbox "
                             "ORDER BY seq LIMIT ?)", (drop,))
        if drop:
            total = self.store.add_to_counter(DROPPED_COUNTER, drop)
            self._insert([Event(OUTBOX_DROPPED, {"dropped": drop, "dropped_total": total,
                                             "reason": "outbox full"})])
        return drop
