"""Incremental reads with checkpoints in the agent's real state store: once, none missed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from agent.browsing import chromium as c
from agent.browsing import firefox as f
from agent.browsing.profiles import Profile
from agent.browsing.reader import HistoryReader
from agent.paths import resolve_home
from agent.store import Store

T0 = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
SINGLE = c.CHAIN_START | c.CHAIN_END


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def store(tmp_path):
    st = Store(resolve_home(tmp_path / "state"))
    yield st
    st.close()


def profile_of(db, family: str) -> Profile:
    return Profile("test", family, db.path.parent)


def hosts(result) -> list[str]:
    return [v.host for v in result.visits]


def test_first_read_starts_at_the_newest_visit_then_reads_each_new_one_once(chromium_db,
                                                                          store, tmp_path):
    db = chromium_db()
    db.visit("https://old-history.example/", T0, c.TYPED | SINGLE)
    clock = Clock(T0 + timedelta(minutes=5))
    reader = HistoryReader(store, clock=clock)
    profile = profile_of(db, "chromium")
    first = reader.read_new(profile)
    assert first.visits == () and reader.checkpoint_of(profile) == 1
    db.visit("https://new.example/", T0 + timedelta(minutes=1), c.LINK | SINGLE)
    second = reader.read_new(profile)
    assert hosts(second) == ["new.example"]
    reader.commit(profile, second)
    assert reader.read_new(profile).visits == ()
    db.visit("https://while-stopped.example/", T0 + timedelta(minutes=2), c.LINK | SINGLE)
    restarted = HistoryReader(Store(tmp_path / "state"), clock=clock)
    assert hosts(restarted.read_new(profile)) == ["while-stopped.example"]


def test_uncommitted_visits_are_read_again(chromium_db, store):
    db = chromium_db()
    reader = HistoryReader(store, clock=Clock(T0 + timedelta(minutes=5)), backfill=True)
    db.visit("https://a.example/", T0, c.TYPED | SINGLE)
    profile = profile_of(db, "chromium")
    assert hosts(reader.read_new(profile)) == ["a.example"]
    assert hosts(reader.read_new(profile)) == ["a.example"]  # handler crashed: not committed


def test_reused_row_ids_after_deletion_are_not_missed(firefox_db, store):
    db = firefox_db()
    reader = HistoryReader(store, clock=Clock(T0 + timedelta(minutes=5)), backfill=True)
    profile = profile_of(db, "firefox")
    for n in range(3):
        db.visit(f"https://site{n}.example/", T0 + timedelta(seconds=10 * n))
    reader.commit(profile, reader.read_new(profile))
    db.conn.execute("DELETE FROM moz_historyvisits WHERE id >= 2")  # "forget recent history"
    reused = db.visit("https://after-clear.example/", T0 + timedelta(minutes=1))
    assert reused == 2
    assert hosts(reader.read_new(profile)) == ["after-clear.example"]


def test_fresh_redirect_source_is_held_back_until_its_target_arrives(firefox_db, store):
    db = firefox_db()
    clock = Clock(T0)
    reader = HistoryReader(store, clock=clock, settle=5.0, backfill=True)
    profile = profile_of(db, "firefox")
    db.visit("https://earlier.example/", T0 - timedelta(minutes=1))
    source = db.visit("https://bit.example/x", T0 - timedelta(seconds=1))
    early = reader.read_new(profile)
    assert hosts(early) == ["earlier.example"]
    assert early.held_back == 1 and 0 < early.retry_after <= 5.0
    reader.commit(profile, early)
    db.visit("https://www.casino.com/", T0, f.TRANSITION_REDIRECT_TEMPORARY, from_visit=source)
    clock.now = T0 + timedelta(seconds=10)
    late = reader.read_new(profile)
    assert hosts(late) == ["www.casino.com"] and late.held_back == 0


def test_visits_dated_in_the_future_are_not_held_forever(chromium_db, store):
    db = chromium_db()
    reader = HistoryReader(store, clock=Clock(T0), backfill=True)
    db.visit("https://clock-skew.example/", T0 + timedelta(days=2), c.TYPED | SINGLE)
    assert hosts(reader.read_new(profile_of(db, "chromium"))) == ["clock-skew.example"]


def test_unknown_family_is_a_clear_error(store, tmp_path):
    reader = HistoryReader(store)
    with pytest.raises(ValueError, match="unknown browser family 'safari'"):
        reader.read_new(Profile("safari", "safari", tmp_path))
