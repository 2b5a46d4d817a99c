"""The state database, the durable outbox, the ledger and settings, on real SQLite files."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from agent.events import OUTBOX_DROPPED, Event
from agent.ledger import Ledger, summarise_checkin
from agent.outbox import Outbox
from agent.settings import Settings
from agent.store import Store, StoreError


class Clock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_store_is_wal_private_and_keeps_values_across_reopen(tmp_path: Path):
    store = Store(tmp_path)
    assert store.query("PRAGMA journal_mode")[0][0] == "wal"
    store.put_state("location", {"country_code": "FR"})
    store.put_checkpoint("presence:x", [1, 2])
    assert store.add_to_counter("n", 2) == 2 and store.add_to_counter("n", 3) == 5
    store.close()
    assert stat.S_IMODE(os.stat(tmp_path / "agent.db").st_mode) == 0o600
    again = Store(tmp_path)
    assert again.get_state("location") == {"country_code": "FR"}
    assert again.get_checkpoint("presence:x") == [1, 2]
    assert again.get_state("n") == 5


def test_store_refuses_a_newer_schema(tmp_path: Path):
    store = Store(tmp_path)
    store.conn.execute("PRAGMA user_version=99")
    store.close()
    with pytest.raises(StoreError, match="newer agent"):
        Store(tmp_path)


def test_outbox_keeps_events_until_acknowledged_and_ignores_duplicate_ids(tmp_path: Path):
    outbox = Outbox(Store(tmp_path))
    first, second = Event("laptop_signin", {"n": 1}), Event("laptop_signin", {"n": 2})
    assert outbox.put_many([first, second]) == 2
    assert outbox.put(first) is False  # the same idempotency key is queued once
    assert [e.id for e in outbox.peek(10)] == [first.id, second.id]
    assert outbox.peek(1)[0] == first
    assert outbox.acknowledge([first.id, "not-queued"]) == 1
    reopened = Outbox(Store(tmp_path))  # durable: a new process sees what is left
    assert [e.id for e in reopened.peek(10)] == [second.id]


def test_keyed_events_derive_the_same_uuid_from_the_same_fact():
    a = Event.keyed("laptop_signin", "k1", {}, "2024-01-01T00:00:00Z")
    b = Event.keyed("laptop_signin", "k1", {}, "2024-01-01T00:00:00Z")
    assert a.id == b.id != Event.keyed("laptop_signin", "k2", {}, "2024-01-01T00:00:00Z").id
    assert len(a.id) == 36


def test_outbox_keeps_at_least_the_minimum_then_drops_oldest_old_events(tmp_path: Path):
    clock = Clock()
    outbox = Outbox(Store(tmp_path), keep_days=7, keep_events=5, hard_max=100, clock=clock)
    outbox.put_many([Event("t", {"n": n}) for n in range(8)])  # all recent: all kept
    assert outbox.depth() == 8 and outbox.dropped() == 0
    clock.now += 8 * 86400  # now they are older than 7 days
    outbox.put(Event("t", {"n": 8}))
    # 9 events, minimum 5: the 4 oldest old ones go, and a drop event is queued
    assert outbox.dropped() == 4
    remaining = outbox.peek(20)
    assert [e.data.get("n") for e in remaining] == [4, 5, 6, 7, 8, None]
    assert remaining[-1].type == OUTBOX_DROPPED and remaining[-1].data["dropped"] == 4
    assert Outbox(Store(tmp_path)).dropped() == 4  # the counter persists


def test_outbox_hard_cap_drops_even_recent_events(tmp_path: Path):
    outbox = Outbox(Store(tmp_path), keep_days=7, keep_events=3, hard_max=6, clock=Clock())
    outbox.put_many([Event("t", {"n": n}) for n in range(10)])
    assert outbox.dropped() == 4
    assert [e.data.get("n") for e in outbox.peek(20)][:6] == [4, 5, 6, 7, 8, 9]


def test_ledger_masks_secrets_coalesces_state_only_checkins_and_lists_newest_first(
        tmp_path: Path):
    ledger = Ledger(Store(tmp_path))
    ledger.record("enroll", "enrolment request", {"token": "het_secret", "name": "laptop"})
    body = {"state": {"idle_seconds": 3.0, "locked": False}, "events": []}
    ledger.record("checkin", summarise_checkin(body), body, coalesce=True)
    ledger.record("checkin", summarise_checkin(body), body, coalesce=True)
    with_events = {"state": {"idle_seconds": None, "locked": None},
                   "events": [{"type": "laptop_signin"}, {"type": "laptop_signin"}]}
    ledger.record("checkin", summarise_checkin(with_events), with_events)
    newest, coalesced, enrolment = ledger.entries()
    assert enrolment.detail == {"token": "***", "name": "laptop"}
    assert coalesced.detail["repeats"] == 2 and coalesced.summary.endswith("(x2)")
    assert newest.summary == "check-in: state (idle unknown, lock unknown), 2 laptop_signin"
    assert "het_secret" not in enrolment.render()
    assert ledger.entries(before=newest.seq)[0].seq == coalesced.seq


def test_settings_come_from_environment_then_store_then_default():
    settings = Settings({"request_timeout": "7", "min_checkin_interval": 30},
                        env={"HEEDFUL_AGENT_MIN_CHECKIN_INTERVAL": "20"})
    assert settings.min_checkin_interval == 20.0
    assert settings.request_timeout == 7.0
    assert settings.outbox_keep_events == 100_000
    sources = {row["name"]: row["source"] for row in settings.describe()}
    assert sources["min_checkin_interval"] == "environment"
    assert sources["request_timeout"] == "stored" and sources["log_level"] == "default"
    with pytest.raises(ValueError, match="HEEDFUL_AGENT_CPU_LIMIT_PERCENT"):
        Settings({}, env={"HEEDFUL_AGENT_CPU_LIMIT_PERCENT": "lots"}).get("cpu_limit_percent")
