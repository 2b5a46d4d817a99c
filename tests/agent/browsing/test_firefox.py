"""Firefox reader on schema-faithful `places.sqlite` databases (WAL mode, writer open)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from agent.browsing import firefox as f
from agent.browsing.reader import read_database

T0 = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
NOW = T0 + timedelta(hours=1)


def hosts(db, **kwargs) -> list[str]:
    return [v.host for v in read_database(db.path, "firefox", now=NOW, **kwargs)]


def test_visits_in_the_wal_are_read_with_exact_utc_time(firefox_db):
    db = firefox_db()
    db.visit("https://www.example.com/page", T0, f.TRANSITION_TYPED)
    db.visit("https://news.example.org/", T0 + timedelta(seconds=5), f.TRANSITION_LINK)
    assert db.path.with_name("places.sqlite-wal").stat().st_size > 0
    visits = read_database(db.path, "firefox", now=NOW)
    assert [(v.host, v.time) for v in visits] == [
        ("www.example.com", T0), ("news.example.org", T0 + timedelta(seconds=5))]


def test_embeds_and_framed_links_are_skipped(firefox_db):
    db = firefox_db()
    db.visit("https://page.example/", T0, f.TRANSITION_LINK)
    db.visit("https://ads.example.net/", T0, f.TRANSITION_EMBED)
    db.visit("https://frame.example.net/", T0, f.TRANSITION_FRAMED_LINK)
    db.visit("https://page.example/again", T0 + timedelta(seconds=9), f.TRANSITION_RELOAD)
    assert hosts(db) == ["page.example", "page.example"]


def test_redirects_are_followed_to_the_final_host(firefox_db):
    db = firefox_db()
    source = db.visit("https://bit.example/x", T0, f.TRANSITION_LINK)
    hop = db.visit("https://tracker.example/", T0, f.TRANSITION_REDIRECT_PERMANENT,
                   from_visit=source)
    db.visit("https://www.casino.com/", T0, f.TRANSITION_REDIRECT_TEMPORARY, from_visit=hop)
    assert hosts(db) == ["www.casino.com"]


def test_https_first_retry_rows_are_one_visit(firefox_db):
    # What Firefox ESR 153 wrote when HTTPS-First failed: the http URL once as an orphan,
    # then again as the source of the server redirect, 90 ms apart.
    db = firefox_db()
    db.visit("http://www.casino.com/redir", T0, f.TRANSITION_LINK)
    retry = db.visit("http://www.casino.com/redir", T0 + timedelta(milliseconds=90),
                     f.TRANSITION_LINK)
    db.visit("http://www.poker.example/landing", T0 + timedelta(milliseconds=105),
             f.TRANSITION_REDIRECT_TEMPORARY, from_visit=retry)
    assert hosts(db) == ["www.poker.example"]


def test_visits_known_only_through_sync_are_skipped(firefox_db):
    db = firefox_db()
    db.visit("https://mine.example/", T0, f.TRANSITION_TYPED)
    db.visit("https://phone.example/", T0, f.TRANSITION_TYPED, synced_extra=True)
    assert hosts(db) == ["mine.example"]


def test_legacy_schema_without_source_and_extra_table(firefox_db):
    db = firefox_db(legacy=True)
    db.visit("https://old.example/", T0, f.TRANSITION_BOOKMARK)
    db.visit("https://frame.example/", T0, f.TRANSITION_EMBED)
    assert hosts(db) == ["old.example"]


def test_unicode_hosts_come_back_as_punycode(firefox_db):
    db = firefox_db()
    db.visit("https://bücher.example/", T0, f.TRANSITION_TYPED)
    assert hosts(db) == ["xn--bcher-kva.example"]
