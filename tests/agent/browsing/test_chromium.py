"""Chromium reader on schema-faithful `History` databases: what counts as a person's visit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from agent.browsing import chromium as c
from agent.browsing.reader import read_database

T0 = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
NOW = T0 + timedelta(hours=1)
SINGLE = c.CHAIN_START | c.CHAIN_END  # a navigation without redirects


def hosts(db, **kwargs) -> list[str]:
    return [v.host for v in read_database(db.path, "chromium", now=NOW, **kwargs)]


def test_typed_and_link_visits_with_exact_utc_time(chromium_db):
    db = chromium_db()
    db.visit("https://www.Example.COM./a?q=secret", T0, c.TYPED | SINGLE)
    db.visit("http://news.example.org/", T0 + timedelta(seconds=30), c.LINK | SINGLE)
    visits = read_database(db.path, "chromium", now=NOW)
    assert [(v.host, v.time) for v in visits] == [
        ("www.example.com", T0), ("news.example.org", T0 + timedelta(seconds=30))]


def test_subframes_keyword_generated_and_blocked_are_not_a_persons_visits(chromium_db):
    db = chromium_db()
    db.visit("https://page.example/", T0, c.LINK | SINGLE)
    db.visit("https://ads.example.net/frame", T0, c.AUTO_SUBFRAME | SINGLE)
    db.visit("https://widget.example.net/", T0, c.MANUAL_SUBFRAME | SINGLE)
    db.visit("http://wikipedia.org/", T0, c.KEYWORD_GENERATED | SINGLE)
    db.visit("https://blocked.example/", T0, c.LINK | SINGLE | c.BLOCKED)
    assert hosts(db) == ["page.example"]


def test_synced_visits_are_skipped_by_visit_source_and_by_originator(chromium_db):
    db = chromium_db()
    db.visit("https://mine.example/", T0, c.TYPED | SINGLE)
    db.visit("https://phone.example/", T0, c.TYPED | SINGLE, source=c.SOURCE_SYNCED)
    db.visit("https://tablet.example/", T0, c.LINK | SINGLE, originator="a1b2c3-cache-guid")
    db.visit("https://extension.example/", T0, c.LINK | SINGLE, source=c.SOURCE_EXTENSION)
    assert hosts(db) == ["mine.example", "extension.example"]


def test_server_redirect_chain_counts_once_for_the_final_host(chromium_db):
    db = chromium_db()
    first = db.visit("https://t.example/abc", T0, c.LINK | c.CHAIN_START)
    middle = db.visit("https://tracker.example/r", T0, c.LINK | c.SERVER_REDIRECT,
                      from_visit=first)
    db.visit("https://www.casino.com/", T0, c.LINK | c.SERVER_REDIRECT | c.CHAIN_END,
             from_visit=middle)
    assert hosts(db) == ["www.casino.com"]


def test_https_upgrade_with_fallback_is_one_visit(chromium_db):
    # Exactly what Chromium 156 wrote for a typed http://www.casino.com/ whose HTTPS upgrade
    # failed: http (CHAIN_START) -> https (redirect) -> http (fallback, CHAIN_END), one time.
    db = chromium_db()
    a = db.visit("http://www.casino.com/", T0, 0x18000001)
    b = db.visit("https://www.casino.com/", T0, 0x88000001, from_visit=a)
    db.visit("http://www.casino.com/", T0, 0xA8000001, from_visit=b)
    assert hosts(db) == ["www.casino.com"]


def test_upgrade_written_as_two_navigations_is_still_one_visit(chromium_db):
    db = chromium_db()  # older versions: http and https as separate, complete navigations
    db.visit("http://bet.example/", T0, c.TYPED | SINGLE)
    db.visit("https://bet.example/", T0 + timedelta(milliseconds=300), c.TYPED | SINGLE)
    db.visit("https://bet.example/", T0 + timedelta(seconds=60), c.LINK | SINGLE)
    assert hosts(db) == ["bet.example", "bet.example"]  # the minute-later return is real


def test_client_redirect_extends_the_chain(chromium_db):
    db = chromium_db()  # meta refresh on casino.com one second after it loaded
    a = db.visit("http://short.example/r", T0, c.TYPED | c.CHAIN_START)
    b = db.visit("http://www.casino.com/landing", T0, c.TYPED | c.SERVER_REDIRECT,
                 from_visit=a)
    db.visit("http://www.poker.example/final", T0 + timedelta(seconds=1),
             c.LINK | c.CHAIN_END | c.CLIENT_REDIRECT, from_visit=b)
    assert hosts(db) == ["www.poker.example"]


def test_non_web_schemes_and_bad_rows_are_ignored(chromium_db):
    db = chromium_db()
    db.visit("chrome://settings/", T0, c.TYPED | SINGLE)
    db.visit("file:///home/me/notes.html", T0, c.TYPED | SINGLE)
    db.visit("https://[2001:db8::1]:8443/x", T0, c.TYPED | SINGLE)
    db.visit("http://192.168.1.1/", T0, c.TYPED | SINGLE)
    assert hosts(db) == ["2001:db8::1", "192.168.1.1"]


def test_legacy_schema_without_originator_and_chain_bits(chromium_db):
    db = chromium_db(legacy=True)
    db.visit("https://old.example/", T0, c.TYPED)  # imported row: no chain qualifiers at all
    db.visit("https://synced.example/", T0, c.TYPED, source=c.SOURCE_SYNCED)
    assert hosts(db) == ["old.example"]


def test_since_filters_by_visit_time(chromium_db):
    db = chromium_db()
    db.visit("https://early.example/", T0, c.TYPED | SINGLE)
    db.visit("https://late.example/", T0 + timedelta(hours=2), c.TYPED | SINGLE)
    assert hosts(db, since=T0 + timedelta(hours=1)) == ["late.example"]


def test_classify_reads_the_signed_transition_column():
    assert c.classify(-1476395007, None, None).value == "final"  # 0xA8000001 stored signed
    assert c.classify(-2013265919, None, None).value == "hop"  # 0x88000001
    assert c.classify(c.AUTO_SUBFRAME | SINGLE, None, "").value == "skip"
