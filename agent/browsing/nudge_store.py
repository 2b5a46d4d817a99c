"""The local history of nudges: kept for cooldowns, caps, variant rotation and heed outcomes.

One SQLite file in the agent's state folder (`nudges.db`, 0600), separate from `agent.db`
because it holds the one thing that must never leave the laptop: which site was nudged. Rows
are purged once every window they serve has passed (`purge`), and outcomes are counted for the
server as (category, country, outcome) only.

A nudge's outcome is set once: `proceeded` at the first return to the site within its heed
window, `heeded` when the window ends without one, `dismissed` / `miscategorised` when the
employee chooses so. Counts are sent exactly once: `open_batch` ties the decided, uncounted
nudges to a batch id (the same batch comes back until `close_batch`), the caller queues one
event whose id derives from the batch id (so a crash before `close_batch` re-queues the same
event, which the outbox and the server store once), then closes the batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from agent.localdb import LocalDatabase

HEEDED, PROCEEDED, DISMISSED, MISCATEGORISED = "heeded", "proceeded", "dismissed", \
    "miscategorised"
OUTCOMES = (HEEDED, PROCEEDED, DISMISSED, MISCATEGORISED)
SCHEMA = """
CREATE TABLE IF NOT EXISTS nudges (
    id TEXT PRIMARY KEY, site TEXT NOT NULL, host TEXT NOT NULL, category TEXT NOT NULL,
    rule TEXT NOT NULL, country TEXT, variant INTEGER NOT NULL, shown_at REAL NOT NULL,
    heed_until REAL NOT NULL, keep_until REAL NOT NULL, outcome TEXT, decided_at REAL,
    batch TEXT, sent INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS nudges_site ON nudges (site, shown_at);
CREATE INDEX IF NOT EXISTS nudges_open ON nudges (outcome, heed_until);
"""


@dataclass(frozen=True)
class NudgeRecord:
    """One nudge as remembered locally."""

    id: str
    site: str
    host: str
    category: str
    rule: str
    country: str | None
    variant: int
    shown_at: float
    heed_until: float
    keep_until: float
    outcome: str | None = None
    decided_at: float | None = None


class NudgeStore(LocalDatabase):
    """SQLite-backed nudge history; safe to share between threads."""

    def __init__(self, path: Path) -> None:
        # secure_delete: purged hosts are overwritten, not left in free pages
        super().__init__(path, pragmas=("secure_delete=ON",))
        self.create_schema(SCHEMA)
        self.make_private()

    def add(self, record: NudgeRecord) -> None:
        """Remember a nudge that was just shown."""
        with self.transaction() as conn:
            conn.execute("INSERT INTO nudges (id, site, host, category, rule, country, variant, "
                         "shown_at, heed_until, keep_until) VALUES (?,?,?,?,?,?,?,?,?,?)",
                         (record.id, record.site, record.host, record.category, record.rule,
                          record.country, record.variant, record.shown_at, record.heed_until,
                          record.keep_until))

    def _rows(self, sql: str, params: tuple = ()) -> list[NudgeRecord]:
        with self._lock:
            rows = self.conn.execute(
                "SELECT id, site, host, category, rule, country, variant, shown_at, heed_until, "
                f"keep_until, outcome, decided_at FROM nudges {sql}", params).fetchall()
        return [NudgeRecord(*row) for row in rows]

    def get(self, nudge_id: str) -> NudgeRecord | None:
        """One nudge by id (None once purged)."""
        found = self._rows("WHERE id = ?", (nudge_id,))
        return found[0] if found else None

    def since(self, start: float) -> list[NudgeRecord]:
        """Nudges shown at or after `start`, oldest first (for cooldown, cap, rotation)."""
        return self._rows("WHERE shown_at >= ? ORDER BY shown_at", (start,))

    def open_nudges(self) -> list[NudgeRecord]:
        """Nudges without an outcome yet (few: one per site and heed window at most)."""
        return self._rows("WHERE outcome IS NULL ORDER BY shown_at")

    def expired_open(self, now: float) -> list[NudgeRecord]:
        """Undecided nudges whose heed window has ended."""
        return self._rows("WHERE outcome IS NULL AND heed_until < ?", (now,))

    def decide(self, nudge_id: str, outcome: str, at: float) -> bool:
        """Set the outcome if none is set yet; True if this call set it."""
        if outcome not in OUTCOMES:
            raise ValueError(f"unknown outcome {outcome!r}; known: {', '.join(OUTCOMES)}")
        with self.transaction() as conn:
            done = conn.execute("UPDATE nudges SET outcome = ?, decided_at = ? "
                                "WHERE id = ? AND outcome IS NULL", (outcome, at, nudge_id))
            return done.rowcount == 1

    def open_batch(self, new_id: str) -> tuple[str, list[dict[str, object]]] | None:
        """The unsent batch of outcome counts, creating one as `new_id` if none is pending.

        Returns (batch id, counts per (category, country, outcome)) or None when nothing new.
        """
        with self.transaction() as conn:
            row = conn.execute("SELECT batch FROM nudges WHERE batch IS NOT NULL AND sent = 0 "
                               "LIMIT 1").fetchone()
            batch = row[0] if row else new_id
            if row is None:
                conn.execute("UPDATE nudges SET batch = ? WHERE outcome IS NOT NULL "
                             "AND batch IS NULL", (batch,))
            rows = conn.execute("SELECT category, country, outcome, count(*) FROM nudges "
                                "WHERE batch = ? GROUP BY category, country, outcome "
                                "ORDER BY category, country, outcome", (batch,)).fetchall()
        if not rows:
            return None
        return batch, [{"category": c, "country": k, "outcome": o, "count": n}
                       for c, k, o, n in rows]

    def close_batch(self, batch: str) -> None:
        """Mark a batch as handed to the outbox."""
        with self.transaction() as conn:
            conn.execute("UPDATE nudges SET sent = 1 WHERE batch = ?", (batch,))

    def purge(self, now: float) -> int:
        """Delete nudges that are counted, sent and past every window; returns how many.

        With secure_delete and a truncating checkpoint, the purged hosts are gone from the
        file and its WAL too, not just unreachable."""
        with self.transaction() as conn:
            done = conn.execute("DELETE FROM nudges WHERE keep_until < ? AND "
                                "sent = 1", (now,)).rowcount
        if done:
            with self._lock:
                self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return done

    def count(self) -> int:
        """Number of nudges remembered (for status and tests)."""
        with self._lock:
            return self.conn.execute("SELECT count(*) FROM nudges").fetchone()[0]
