"""The ledger: a local, human-readable record of everything the agent sent to the server.

Each entry has a time, a kind (`enroll`, `checkin`, `rules-download`, `ack`, `proxy`), a
one-line summary in plain words and the exact JSON that left the laptop (secrets masked).
`heedful-agent ledger` prints it; the tray shows it through the local API. Entries older than
`ledger_keep_days` are purged.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from agent.store import Store

SECRET_KEYS = {"token", "device_secret", "Authorization"}


@dataclass(frozen=True)
class LedgerEntry:
    """One thing that was sent."""

    seq: int
    at: float
    kind: str
    summary: str
    detail: Any

    def as_dict(self) -> dict[str, Any]:
        """JSON form for the local API."""
        return {"seq": self.seq, "at": _iso(self.at), "kind": self.kind,
                "summary": self.summary, "detail": self.detail}

    def render(self, with_detail: bool = True) -> str:
        """Readable text: a header line, then the payload indented."""
        head = f"{_iso(self.at)}  {self.kind:<15} {self.summary}"
        if not with_detail:
            return head
        body = json.dumps(self.detail, indent=2, sort_keys=True, ensure_ascii=False)
        return head + "\n" + "\n".join("    " + line for line in body.splitlines())


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at, tz=UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def mask(value: Any) -> Any:
    """A copy of `value` with secrets (enrolment token, device secret) replaced by '***'."""
    if isinstance(value, dict):
        return {k: "***" if k in SECRET_KEYS else mask(v) for k, v in value.items()}
    if isinstance(value, list):
        return [mask(v) for v in value]
    return value


class Ledger:
    """Append-only (apart from age-based purge) record of what left the laptop."""

    def __init__(self, store: Store, *, keep_days: float = 90.0,
                 clock: Callable[[], float] = time.time) -> None:
        self.store, self.keep_seconds, self.clock = store, keep_days * 86400, clock
        self._last_purge = 0.0

    def record(self, kind: str, summary: str, detail: Any, *, coalesce: bool = False) -> None:
        """Append one entry; call it for every request body sent to the server.

        With `coalesce`, an entry of the same kind right after another one replaces it and
        counts the repeats (state-only check-ins every minute would otherwise flood it).
        """
        now = self.clock()
        payload = mask(detail)
        with self.store.transaction() as conn:
            last = conn.execute("SELECT seq, kind, summary, detail FROM ledger "
                                "ORDER BY seq DESC LIMIT 1").fetchone()
            if coalesce and last and last[1] == kind:
                previous = json.loads(last[3])
                repeats = int(previous.get("repeats", 1)) + 1 if isinstance(previous, dict) \
                    else 2
                payload = {**payload, "repeats": repeats} if isinstance(payload, dict) \
                    else payload
                conn.execute("UPDATE ledger SET at = ?, summary = ?, detail = ? WHERE seq = ?",
                             (now, f"{summary} (x{repeats})",
                              json.dumps(payload, ensure_ascii=False), last[0]))
            else:
                conn.execute("INSERT INTO ledger (at, kind, summary, detail) "
                             "VALUES (?, ?, ?, ?)",
                             (now, kind, summary, json.dumps(payload, ensure_ascii=False)))
            if now - self._last_purge > 3600:
                conn.execute("DELETE FROM ledger WHERE at < ?", (now - self.keep_seconds,))
                self._last_purge = now

    def entries(self, *, limit: int = 100, before: int | None = None) -> list[LedgerEntry]:
        """Newest first, at most `limit`, optionally only those before sequence `before`."""
        sql = "SELECT seq, at, kind, summary, detail FROM ledger"
        params: tuple = ()
        if before is not None:
            sql, params = sql + " WHERE seq < ?", (before,)
        rows = self.store.query(sql + " ORDER BY seq DESC LIMIT ?", (*params, limit))
        return [LedgerEntry(s, a, k, m, json.loads(d)) for s, a, k, m, d in rows]


def summarise_checkin(body: dict[str, Any]) -> str:
    """'check-in: state (idle 12 s, unlocked), 3 events: 2 laptop_signin, 1 rules.applied'."""
    state = body.get("state", {})
    idle = state.get("idle_seconds")
    idle_text = "idle unknown" if idle is None else f"idle {idle:.0f} s"
    locked = state.get("locked")
    lock_text = {True: "locked", False: "unlocked", None: "lock unknown"}[locked]
    counts: dict[str, int] = {}
    for event in body.get("events", []):
        counts[event["type"]] = counts.get(event["type"], 0) + 1
    events = ", ".join(f"{n} {t}" for t, n in sorted(counts.items())) or "no events"
    return f"check-in: state ({idle_text}, {lock_text}), {events}"
