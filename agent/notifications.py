"""Notifications from the server, kept for the tray until the employee has seen them.

Check-in replies carry this employee's unacknowledged notifications; each is stored once (by
id) with a local sequence number, which the tray uses as a long-poll cursor. When the
employee acknowledges one in the tray (optionally with an answer), the acknowledgement is
queued here and the uplink delivers it to the server (`POST /notifications/{id}/ack`),
retrying until the server confirms. Nothing is shown twice, nothing is acknowledged that the
employee has not seen.

Notifications made on the laptop itself (nudges) share the stream and its sequence numbers but
live only in memory and never reach the server: see `agent.local_notifications` (`.local`).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

from agent.local_notifications import LocalNotifications
from agent.store import Store


class Notifications:
    """Durable list of notifications plus a condition for long polls."""

    def __init__(self, store: Store, *, clock: Callable[[], float] = time.time) -> None:
        self.store, self.clock = store, clock
        self._changed = threading.Condition()
        self.local = LocalNotifications(self._reserve_seq, self._notify, clock=clock)

    def receive(self, items: list[dict[str, Any]]) -> int:
        """Store notifications from a check-in reply; returns how many were new."""
        added = 0
        with self.store.transaction() as conn:
            for item in items:
                if not isinstance(item, dict) or not item.get("id"):
                    continue
                cur = conn.execute("INSERT OR IGNORE INTO notifications (id, received_at, "
                                   "payload) VALUES (?, ?, ?)",
                                   (str(item["id"]), self.clock(), json.dumps(item)))
                added += cur.rowcount
        if added:
            self._notify()
        return added

    def _notify(self) -> None:
        with self._changed:
            self._changed.notify_all()

    def _reserve_seq(self) -> int:
        # AUTOINCREMENT never hands out a number twice, even once its row is deleted: an
        # insert and a delete in one transaction give a local notification the next seq, so
        # one cursor orders both kinds and stays valid across restarts, and nothing of the
        # local notification is written here.
        with self.store.transaction() as conn:
            seq = conn.execute("INSERT INTO notifications (id, received_at, payload) "
                               "VALUES ('local-seq', ?, '{}')", (self.clock(),)).lastrowid
            conn.execute("DELETE FROM notifications WHERE seq = ?", (seq,))
        return int(seq)

    def list(self, *, after: int = 0, include_acked: bool = False,
             limit: int = 100) -> list[dict[str, Any]]:
        """Notifications with a sequence number above `after`, oldest first: the server's
        (`"local": false`) and the open local ones (`"local": true`)."""
        sql = ("SELECT seq, payload, acked_at, response FROM notifications WHERE seq > ?"
               + ("" if include_acked else " AND acked_at IS NULL") + " ORDER BY seq LIMIT ?")
        rows = self.store.query(sql, (after, limit))
        found = [{**json.loads(p), "seq": s, "local": False, "acked": a is not None,
                  "response": r} for s, p, a, r in rows]
        found += self.local.items(after)
        return sorted(found, key=lambda item: item["seq"])[:limit]

    def wait(self, *, after: int, timeout: float) -> list[dict[str, Any]]:
        """Long poll: return as soon as there is something after `after`, or [] at timeout."""
        deadline = self.clock() + timeout
        with self._changed:
            while True:
                found = self.list(after=after)
                remaining = deadline - self.clock()
                if found or remaining <= 0:
                    return found
                self._changed.wait(min(remaining, 5.0))

    def ack(self, notification_id: str, response: str | None = None) -> bool:
        """The employee saw (or answered) it; False if there is no such notification."""
        with self.store.transaction() as conn:
            cur = conn.execute("UPDATE notifications SET acked_at = ?, response = ?, "
                               "ack_sent = 0 WHERE id = ? AND acked_at IS NULL",
                               (self.clock(), response, notification_id))
            exists = conn.execute("SELECT 1 FROM notifications WHERE id = ?",
                                  (notification_id,)).fetchone()
        if cur.rowcount:
            self._notify()
        return exists is not None

    def pending_acks(self) -> list[tuple[str, str | None]]:
        """Acknowledgements the server has not confirmed yet."""
        return [(i, r) for i, r in self.store.query(
            "SELECT id, response FROM notifications WHERE acked_at IS NOT NULL "
            "AND ack_sent = 0 ORDER BY seq")]

    def ack_delivered(self, notification_id: str) -> None:
        """The server confirmed (or can never accept) this acknowledgement."""
        with self.store.transaction() as conn:
            conn.execute("UPDATE notifications SET ack_sent = 1 WHERE id = ?",
                         (notification_id,))

    def purge(self, older_than_days: float = 30.0) -> None:
        """Forget acknowledged notifications the server has confirmed, after a while."""
        with self.store.transaction() as conn:
            conn.execute("DELETE FROM notifications WHERE ack_sent = 1 AND acked_at < ?",
                         (self.clock() - older_than_days * 86400,))
