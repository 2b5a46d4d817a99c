"""Reader of Chromium-family history (`History` of Chrome, Chromium, Edge, Brave, Vivaldi).

Tables used: `urls(id, url)`, `visits(id, url, visit_time, from_visit, transition,
[originator_cache_guid])` and `visit_source(id, source)`. Times are microseconds since
1601-01-01 UTC. The constants below are Chromium's own, from `ui/base/page_transition_types.h`
(`PageTransition`) and `components/history/core/browser/history_types.h` (`VisitSource`); they
are written into the database, so Chromium never renumbers them.

What counts (seen in databases written by Chromium 156, see tests/agent/browsing):

* A redirect chain is written as consecutive rows linked by `from_visit`: the first carries
  CHAIN_START, the last CHAIN_END; rows in between carry neither. Only the CHAIN_END row is the
  page the person ended on. Chromium's automatic HTTPS upgrade is such a chain
  (`http -> https [-> http fallback]`, all with the same time), so following chains also
  removes its duplicate rows. A client redirect (meta refresh, script) a moment after a page
  loaded extends that page's chain; the settle delay in `visits` covers that window.
  `opener_visit` links a tab to the tab that opened it; that is a new navigation, not a
  redirect, so it is not followed.
* Skipped: synced visits (`visit_source.source = SOURCE_SYNCED`, or a non-empty
  `originator_cache_guid` on newer versions), sub-frames (AUTO_SUBFRAME, MANUAL_SUBFRAME),
  KEYWORD_GENERATED (a visit Chromium invents for a search keyword's host) and BLOCKED
  navigations (a managed profile refused the page, so it was never shown).
"""

from __future__ import annotations

import sqlite3
from datetime import datetime

from agent.browsing.visits import RawVisit, Role, utc_from_webkit_us, webkit_us

# PageTransition core types (low byte) and qualifiers (high bits).
LINK, TYPED, AUTO_BOOKMARK, AUTO_SUBFRAME, MANUAL_SUBFRAME = 0, 1, 2, 3, 4
GENERATED, AUTO_TOPLEVEL, FORM_SUBMIT, RELOAD, KEYWORD, KEYWORD_GENERATED = 5, 6, 7, 8, 9, 10
CORE_MASK = 0xFF
BLOCKED = 0x00800000
FORWARD_BACK = 0x01000000
FROM_ADDRESS_BAR = 0x02000000
HOME_PAGE = 0x04000000
FROM_API = 0x08000000
CHAIN_START = 0x10000000
CHAIN_END = 0x20000000
CLIENT_REDIRECT = 0x40000000
SERVER_REDIRECT = 0x80000000
CHAIN_BITS = CHAIN_START | CHAIN_END | CLIENT_REDIRECT | SERVER_REDIRECT

# VisitSource (visit_source.source); rows exist only for visits not browsed on this device.
SOURCE_SYNCED, SOURCE_BROWSED, SOURCE_EXTENSION = 0, 1, 2

NOT_BY_A_PERSON = frozenset({AUTO_SUBFRAME, MANUAL_SUBFRAME, KEYWORD_GENERATED})
DATABASE_NAME = "History"


def classify(transition: int, source: int | None, originator: str | None) -> Role:
    """How one `visits` row counts, from its transition bits and where it came from."""
    bits = transition & 0xFFFFFFFF  # stored as a signed 32-bit integer
    if source == SOURCE_SYNCED or originator:
        return Role.SKIP
    if bits & CORE_MASK in NOT_BY_A_PERSON or bits & BLOCKED:
        return Role.SKIP
    if bits & CHAIN_BITS and not bits & CHAIN_END:
        return Role.HOP
    return Role.FINAL  # chain end, or a legacy/imported row without chain bits


def _columns(conn: sqlite3.Connection, table: str) -> set[str]:
    return {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}


def _query(conn: sqlite3.Connection) -> str:
    has_source = bool(_columns(conn, "visit_source"))
    source = "vs.source" if has_source else "NULL"
    join = "LEFT JOIN visit_source vs ON vs.id = v.id" if has_source else ""
    origin = "v.originator_cache_guid" if "originator_cache_guid" in _columns(
        conn, "visits") else "NULL"
    return (f"SELECT v.id, v.visit_time, u.url, v.transition, {source}, {origin} "
            f"FROM visits v JOIN urls u ON u.id = v.url {join} "
            "WHERE v.id > ? AND v.visit_time >= ? ORDER BY v.id")


def max_visit_id(conn: sqlite3.Connection) -> int:
    """The highest visit id in the database (0 when empty)."""
    return conn.execute("SELECT COALESCE(MAX(id), 0) FROM visits").fetchone()[0]


def time_of(conn: sqlite3.Connection, visit_id: int) -> int | None:
    """Raw stored time of the newest visit with id <= visit_id (None if there is none)."""
    row = conn.execute("SELECT visit_time FROM visits WHERE id <= ? ORDER BY id DESC LIMIT 1",
                       (visit_id,)).fetchone()
    return row[0] if row else None


def last_id_before(conn: sqlite3.Connection, raw_time: int) -> int:
    """The id just below the first visit dated after raw_time (resume point by time)."""
    row = conn.execute("SELECT MIN(id) FROM visits WHERE visit_time > ?", (raw_time,)).fetchone()
    return row[0] - 1 if row[0] is not None else max_visit_id(conn)


def read_rows(conn: sqlite3.Connection, after_id: int,
              since: datetime | None = None) -> list[RawVisit]:
    """Classified rows with id > after_id (and time >= since), in id order."""
    since_us = webkit_us(since) if since else 0
    rows = []
    for visit_id, time_us, url, transition, source, origin in conn.execute(
            _query(conn), (after_id, since_us)):
        if not time_us or not url:
            continue
        rows.append(RawVisit(visit_id, utc_from_webkit_us(time_us), url,
                             classify(transition, source, origin)))
    return rows
