"""Reader of Firefox history (`places.sqlite`: `moz_places`, `moz_historyvisits`).

Times are PRTime, microseconds since the Unix epoch. `visit_type` values are Firefox's
`nsINavHistoryService::TransitionType` (toolkit/components/places/nsINavHistoryService.idl).

What counts (seen in databases written by Firefox ESR 153, see tests/agent/browsing):

* A redirect is written as two visits: the source with the transition that reached it (LINK,
  TYPED, ...) and the target with REDIRECT_PERMANENT or REDIRECT_TEMPORARY and `from_visit`
  pointing at the source. A visit that is the source of such a redirect is a HOP; the chain
  ends at the first visit that redirects nowhere. The two rows are written in separate
  transactions; the settle delay in `visits` keeps a lone source from being counted early.
* Skipped: EMBED and FRAMED_LINK (content inside frames, not the page the person opened).
* Synced visits: desktop Firefox writes no marker for them. The `source` column (schema 70+)
  only says organic/sponsored/bookmarked/searched. The one hint is a row in
  `moz_historyvisits_extra`, which only Sync writes (extra fields of a record it downloaded);
  such visits are skipped. Other synced visits are indistinguishable here; the nudger ignores
  visits older than its freshness window, which covers a sync bringing in old history.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime

from agent.browsing.visits import RawVisit, Role, unix_us, utc_from_unix_us

TRANSITION_LINK = 1
TRANSITION_TYPED = 2
TRANSITION_BOOKMARK = 3
TRANSITION_EMBED = 4
TRANSITION_REDIRECT_PERMANENT = 5
TRANSITION_REDIRECT_TEMPORARY = 6
TRANSITION_DOWNLOAD = 7
TRANSITION_FRAMED_LINK = 8
TRANSITION_RELOAD = 9

VISIT_SOURCE_ORGANIC, VISIT_SOURCE_SPONSORED = 0, 1
VISIT_SOURCE_BOOKMARKED, VISIT_SOURCE_SEARCHED = 2, 3

REDIRECTS = (TRANSITION_REDIRECT_PERMANENT, TRANSITION_REDIRECT_TEMPORARY)
IN_A_FRAME = frozenset({TRANSITION_EMBED, TRANSITION_FRAMED_LINK})
DATABASE_NAME = "places.sqlite"


def classify(visit_type: int, redirects_onward: bool, synced: bool) -> Role:
    """How one `moz_historyvisits` row counts."""
    if synced or visit_type in IN_A_FRAME:
        return Role.SKIP
    return Role.HOP if redirects_onward else Role.FINAL


def _has_table(conn: sqlite3.Connection, name: str) -> bool:
    found = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                         (name,)).fetchone()
    return found is not None


def _query(conn: sqlite3.Connection) -> str:
    synced = ("EXISTS (SELECT 1 FROM moz_historyvisits_extra x WHERE x.visit_id = v.id)"
              if _has_table(conn, "moz_historyvisits_extra") else "0")
    return ("SELECT v.id, v.visit_date, p.url, v.visit_type, "
            "EXISTS (SELECT 1 FROM moz_historyvisits r WHERE r.from_visit = v.id "
            f"AND r.visit_type IN {REDIRECTS}), {synced} "
            "FROM moz_historyvisits v JOIN moz_places p ON p.id = v.place_id "
            "WHERE v.id > ? AND v.visit_date >= ? ORDER BY v.id")


def max_visit_id(conn: sqlite3.Connection) -> int:
    """The highest visit id in the database (0 when empty)."""
    return conn.execute("SELECT COALESCE(MAX(id), 0) FROM moz_historyvisits").fetchone()[0]


def time_of(conn: sqlite3.Connection, visit_id: int) -> int | None:
    """Raw stored time of the newest visit with id <= visit_id (None if there is none)."""
    row = conn.execute("SELECT visit_date FROM moz_historyvisits WHERE id <= ? "
                       "ORDER BY id DESC LIMIT 1", (visit_id,)).fetchone()
    return row[0] if row else None


def last_id_before(conn: sqlite3.Connection, raw_time: int) -> int:
    """The id just below the first visit dated after raw_time (resume point by time)."""
    row = conn.execute("SELECT MIN(id) FROM moz_historyvisits WHERE visit_date > ?",
                       (raw_time,)).fetchone()
    return row[0] - 1 if row[0] is not None else max_visit_id(conn)


def read_rows(conn: sqlite3.Connection, after_id: int,
              since: datetime | None = None) -> list[RawVisit]:
    """Classified rows with id > after_id (and time >= since), in id order."""
    since_us = unix_us(since) if since else 0
    rows = []
    for visit_id, date_us, url, visit_type, onward, synced in conn.execute(
            _query(conn), (after_id, since_us)):
        if not date_us or not url:
            continue
        rows.append(RawVisit(visit_id, utc_from_unix_us(date_us), url,
                             classify(visit_type, bool(onward), bool(synced))))
    return rows
