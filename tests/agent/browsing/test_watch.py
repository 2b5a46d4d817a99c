"""The watcher: real watchdog events on real profile folders, debounced; retries on errors."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from agent.browsing.profiles import Profile
from agent.browsing.reader import HistoryReader
from agent.browsing.watch import HistoryWatcher
from agent.paths import resolve_home
from agent.store import Store


class FakeMonotonic:
    """The clock seam: the watcher's notion of 'now' for debounce and backoff."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def store(tmp_path):
    st = Store(resolve_home(tmp_path / "state"))
    yield st
    st.close()


def now_utc() -> datetime:
    return datetime.now(UTC)


def test_real_writes_trigger_a_debounced_read_once(firefox_db, store):
    db = firefox_db()
    profile = Profile("firefox", "firefox", db.path.parent)
    seen: list[str] = []
    arrived = threading.Event()

    def on_visits(_profile, visits):
        seen.extend(v.host for v in visits)
        arrived.set()

    reader = HistoryReader(store, settle=0.0)
    watcher = HistoryWatcher(reader, on_visits, discover=lambda: [profile], debounce=0.2,
                             max_wait=1.0, scan_interval=3600)
    watcher.start()
    try:
        deadline = time.monotonic() + 10
        while reader.checkpoint_of(profile) is None and time.monotonic() < deadline:
            time.sleep(0.05)  # the first scan stores the starting checkpoint
        db.visit("https://one.example/", now_utc())
        db.visit("https://two.example/", now_utc())
        assert arrived.wait(10), "no read after the history database changed"
        time.sleep(0.5)
    finally:
        watcher.stop()
    assert seen == ["one.example", "two.example"]


def test_nothing_read_twice_nothing_missed_across_restarts(chromium_db, store):
    db = chromium_db()
    profile = Profile("chrome", "chromium", db.path.parent)
    db.visit("https://before-install.example/", now_utc() - timedelta(days=3))
    seen: list[str] = []
    clock = FakeMonotonic()

    def run_once():
        watcher = HistoryWatcher(HistoryReader(store, settle=0.0),
                                 lambda _p, vs: seen.extend(v.host for v in vs),
                                 discover=lambda: [profile], clock=clock, use_watchdog=False)
        watcher.step()

    run_once()
    db.visit("https://a.example/", now_utc())
    clock.now += 1000
    run_once()
    db.visit("https://b.example/", now_utc())  # while the agent is stopped
    run_once()
    run_once()
    assert seen == ["a.example", "b.example"]


def test_unreadable_database_is_retried_with_backoff_then_read(chromium_db, tmp_path, store,
                                                                caplog):
    good = chromium_db()
    good.visit("https://after-repair.example/", now_utc())
    folder = tmp_path / "Default"
    folder.mkdir()
    history = folder / "History"
    history.write_bytes(b"this is not sqlite, the browser is rewriting it")
    profile = Profile("chrome", "chromium", folder)
    clock = FakeMonotonic()
    seen: list[str] = []
    watcher = HistoryWatcher(HistoryReader(store, settle=0.0, backfill=True),
                             lambda _p, vs: seen.extend(v.host for v in vs),
                             discover=lambda: [profile], clock=clock, debounce=2.0,
                             use_watchdog=False)
    wait = watcher.step()
    assert "not a readable SQLite database" in caplog.text
    assert wait == pytest.approx(4.0)  # debounce * 2**1
    clock.now += wait
    assert watcher.step() == pytest.approx(8.0)  # still broken: the delay doubles
    assert seen == []
    history.write_bytes(good.path.read_bytes())
    clock.now += 8.0
    watcher.step()
    assert seen == ["after-repair.example"]


def test_failing_handler_does_not_commit(chromium_db, store):
    db = chromium_db()
    profile = Profile("chrome", "chromium", db.path.parent)
    reader = HistoryReader(store, settle=0.0, backfill=True)
    db.visit("https://a.example/", now_utc())
    calls: list[int] = []

    def flaky(_profile, visits):
        calls.append(len(visits))
        if len(calls) == 1:
            raise RuntimeError("tray went away")

    clock = FakeMonotonic()
    watcher = HistoryWatcher(reader, flaky, discover=lambda: [profile], clock=clock,
                             use_watchdog=False)
    clock.now += watcher.step()
    watcher.step()
    assert calls == [1, 1]
