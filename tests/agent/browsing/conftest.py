"""Schema-faithful history databases for edge cases real browsers will not produce on demand.

The DDL below is copied from databases written by the real browsers installed for the test
suite (Chromium 156: `History` meta version 70; Firefox ESR 153: places schema 86), plus the
older shapes still found on laptops (Chromium before `originator_cache_guid`, Firefox before
the `source` column and `moz_historyvisits_extra`).
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from agent.browsing.visits import unix_us, webkit_us

CHROMIUM_DDL = """
CREATE TABLE meta(key LONGVARCHAR NOT NULL UNIQUE PRIMARY KEY, value LONGVARCHAR);
CREATE TABLE urls(id INTEGER PRIMARY KEY AUTOINCREMENT,url LONGVARCHAR,title LONGVARCHAR,
  visit_count INTEGER DEFAULT 0 NOT NULL,typed_count INTEGER DEFAULT 0 NOT NULL,
  last_visit_time INTEGER NOT NULL,hidden INTEGER DEFAULT 0 NOT NULL);
CREATE TABLE visits(id INTEGER PRIMARY KEY AUTOINCREMENT,url INTEGER NOT NULL,
  visit_time INTEGER NOT NULL,from_visit INTEGER,external_referrer_url TEXT,
  transition INTEGER DEFAULT 0 NOT NULL,segment_id INTEGER,
  visit_duration INTEGER DEFAULT 0 NOT NULL,
  incremented_omnibox_typed_score BOOLEAN DEFAULT FALSE NOT NULL,opener_visit INTEGER,
  originator_cache_guid TEXT,originator_visit_id INTEGER,originator_from_visit INTEGER,
  originator_opener_visit INTEGER,is_known_to_sync BOOLEAN DEFAULT FALSE NOT NULL,
  consider_for_ntp_most_visited BOOLEAN DEFAULT FALSE NOT NULL,
  visited_link_id INTEGER DEFAULT 0 NOT NULL,app_id TEXT);
CREATE TABLE visit_source(id INTEGER PRIMARY KEY,source INTEGER NOT NULL);
INSERT INTO meta VALUES ('version', '70'), ('last_compatible_version', '16');
"""
CHROMIUM_LEGACY_DDL = """
CREATE TABLE urls(id INTEGER PRIMARY KEY,url LONGVARCHAR,title LONGVARCHAR,
  visit_count INTEGER DEFAULT 0 NOT NULL,typed_count INTEGER DEFAULT 0 NOT NULL,
  last_visit_time INTEGER NOT NULL,hidden INTEGER DEFAULT 0 NOT NULL);
CREATE TABLE visits(id INTEGER PRIMARY KEY,url INTEGER NOT NULL,visit_time INTEGER NOT NULL,
  from_visit INTEGER,transition INTEGER DEFAULT 0 NOT NULL,segment_id INTEGER,
  visit_duration INTEGER DEFAULT 0 NOT NULL);
CREATE TABLE visit_source(id INTEGER PRIMARY KEY,source INTEGER NOT NULL);
"""
FIREFOX_DDL = """
CREATE TABLE moz_places (id INTEGER PRIMARY KEY, url LONGVARCHAR, title LONGVARCHAR,
  rev_host LONGVARCHAR, visit_count INTEGER DEFAULT 0, hidden INTEGER DEFAULT 0 NOT NULL,
  typed INTEGER DEFAULT 0 NOT NULL, frecency INTEGER DEFAULT -1 NOT NULL,
  last_visit_date INTEGER , guid TEXT, foreign_count INTEGER DEFAULT 0 NOT NULL,
  url_hash INTEGER DEFAULT 0 NOT NULL , description TEXT, preview_image_url TEXT,
  site_name TEXT, origin_id INTEGER, recalc_frecency INTEGER NOT NULL DEFAULT 0,
  alt_frecency INTEGER, recalc_alt_frecency INTEGER NOT NULL DEFAULT 0);
CREATE TABLE moz_historyvisits (id INTEGER PRIMARY KEY, from_visit INTEGER, place_id INTEGER,
  visit_date INTEGER, visit_type INTEGER, session INTEGER, source INTEGER DEFAULT 0 NOT NULL,
  triggeringPlaceId INTEGER);
CREATE TABLE moz_historyvisits_extra (visit_id INTEGER PRIMARY KEY NOT NULL, sync_json TEXT,
  FOREIGN KEY (visit_id) REFERENCES moz_historyvisits(id) ON DELETE CASCADE);
CREATE INDEX moz_historyvisits_fromindex ON moz_historyvisits (from_visit);
"""
FIREFOX_LEGACY_DDL = """
CREATE TABLE moz_places (id INTEGER PRIMARY KEY, url LONGVARCHAR, title LONGVARCHAR,
  rev_host LONGVARCHAR, visit_count INTEGER DEFAULT 0, hidden INTEGER DEFAULT 0 NOT NULL,
  typed INTEGER DEFAULT 0 NOT NULL, favicon_id INTEGER, frecency INTEGER DEFAULT -1 NOT NULL,
  last_visit_date INTEGER);
CREATE TABLE moz_historyvisits (id INTEGER PRIMARY KEY, from_visit INTEGER, place_id INTEGER,
  visit_date INTEGER, visit_type INTEGER, session INTEGER);
"""
T0 = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


class HistoryDb:
    """A history database being written, the way the browser writes it (connection open)."""

    def __init__(self, path: Path, ddl: str, *, wal: bool = False) -> None:
        self.path = path
        self.conn = sqlite3.connect(path, isolation_level=None)
        if wal:
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA wal_autocheckpoint=0")  # keep new rows in the WAL
        self.conn.executescript(ddl)
        if wal:  # like a browser's database: the schema is old, only new rows are in the WAL
            self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self._urls: dict[str, int] = {}

    def close(self) -> None:
        self.conn.close()


class ChromiumDb(HistoryDb):
    """Writes `urls`/`visits`/`visit_source` rows."""

    def __init__(self, path: Path, *, legacy: bool = False) -> None:
        super().__init__(path, CHROMIUM_LEGACY_DDL if legacy else CHROMIUM_DDL)
        self.legacy = legacy

    def visit(self, url: str, at: datetime = T0, transition: int = 0x30000000, *,
              from_visit: int = 0, source: int | None = None, originator: str | None = None,
              title: str = "a title") -> int:
        if url not in self._urls:
            self._urls[url] = self.conn.execute(
                "INSERT INTO urls (url, title, last_visit_time) VALUES (?, ?, ?)",
                (url, title, webkit_us(at))).lastrowid
        signed = transition - (1 << 32) if transition >= 1 << 31 else transition
        cols, vals = ["url", "visit_time", "from_visit", "transition"], \
            [self._urls[url], webkit_us(at), from_visit, signed]
        if not self.legacy:
            cols.append("originator_cache_guid")
            vals.append(originator)
        visit_id = self.conn.execute(
            f"INSERT INTO visits ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
            vals).lastrowid
        if source is not None:
            self.conn.execute("INSERT INTO visit_source VALUES (?, ?)", (visit_id, source))
        return visit_id


class FirefoxDb(HistoryDb):
    """Writes `moz_places`/`moz_historyvisits` rows (WAL mode, like Firefox)."""

    def __init__(self, path: Path, *, legacy: bool = False) -> None:
        super().__init__(path, FIREFOX_LEGACY_DDL if legacy else FIREFOX_DDL, wal=True)
        self.legacy = legacy

    def visit(self, url: str, at: datetime = T0, visit_type: int = 1, *, from_visit: int = 0,
              synced_extra: bool = False) -> int:
        if url not in self._urls:
            self._urls[url] = self.conn.execute(
                "INSERT INTO moz_places (url, title, last_visit_date) VALUES (?, 't', ?)",
                (url, unix_us(at))).lastrowid
        visit_id = self.conn.execute(
            "INSERT INTO moz_historyvisits (from_visit, place_id, visit_date, visit_type) "
            "VALUES (?, ?, ?, ?)", (from_visit, self._urls[url], unix_us(at), visit_type)
        ).lastrowid
        if synced_extra:
            self.conn.execute("INSERT INTO moz_historyvisits_extra VALUES (?, '{\"x\":1}')",
                              (visit_id,))
        return visit_id


@pytest.fixture
def chromium_db(tmp_path: Path):
    """Factory: a Chromium `History` in a profile folder of its own."""
    made: list[HistoryDb] = []

    def make(name: str = "Default", *, legacy: bool = False) -> ChromiumDb:
        folder = tmp_path / "chromium" / name
        folder.mkdir(parents=True, exist_ok=True)
        made.append(ChromiumDb(folder / "History", legacy=legacy))
        return made[-1]

    yield make
    for db in made:
        db.close()


@pytest.fixture
def firefox_db(tmp_path: Path):
    """Factory: a Firefox `places.sqlite` (WAL, writer kept open) in a profile folder."""
    made: list[HistoryDb] = []

    def make(name: str = "abcd.default-release", *, legacy: bool = False) -> FirefoxDb:
        folder = tmp_path / "firefox" / name
        folder.mkdir(parents=True, exist_ok=True)
        made.append(FirefoxDb(folder / "places.sqlite", legacy=legacy))
        return made[-1]

    yield make
    for db in made:
        db.close()
