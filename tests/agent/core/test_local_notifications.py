"""Local notifications share the tray's stream and cursor with the server's, and stay local."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.local_notifications import MAX_OPEN, NoHandler
from agent.notifications import Notifications
from agent.store import Store


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def nudge(n: int) -> dict:
    return {"id": f"nudge-{n}", "kind": "nudge", "title": "Online gambling", "body": "b",
            "data": {"host": "www.casino.com"}}


def test_one_cursor_orders_both_kinds_across_restarts(tmp_path: Path):
    store = Store(tmp_path)
    notes = Notifications(store)
    notes.receive([{"id": "s-1", "kind": "message", "title": "Hi", "body": "", "data": {}}])
    notes.local.post(nudge(1), keep_seconds=60)
    notes.receive([{"id": "s-2", "kind": "message", "title": "Hi", "body": "", "data": {}}])
    listed = notes.list(after=0)
    assert [(n["id"], n["seq"], n["local"]) for n in listed] == [
        ("s-1", 1, False), ("nudge-1", 2, True), ("s-2", 3, False)]
    assert [n["id"] for n in notes.list(after=2)] == ["s-2"]
    assert store.query("SELECT count(*) FROM notifications")[0][0] == 2  # the nudge: not here
    assert notes.ack("nudge-1") is False and notes.pending_acks() == []
    store.close()

    store = Store(tmp_path)  # a restart: the local one is gone, its seq is never reused
    notes = Notifications(store)
    assert [n["id"] for n in notes.list(after=0)] == ["s-1", "s-2"]
    assert notes.local.post(nudge(2), keep_seconds=60) == 4
    store.close()


def test_expiry_cap_and_choices(tmp_path: Path):
    clock, store = Clock(), Store(tmp_path)
    notes = Notifications(store, clock=clock)
    local = notes.local
    for n in range(MAX_OPEN + 2):
        local.post(nudge(n), keep_seconds=60)
    open_ids = [n["id"] for n in notes.list(after=0)]
    assert len(open_ids) == MAX_OPEN and open_ids[0] == "nudge-2"  # the oldest went first
    with pytest.raises(NoHandler):
        local.answer("nudge", "nudge-5", {"choice": "got_it"})
    local.handle("nudge", lambda i, body: {"id": i, "open": body["choice"] == "why"})
    assert local.answer("nudge", "nudge-5", {"choice": "why"})["open"] is True
    assert local.answer("nudge", "nudge-5", {"choice": "got_it"})["open"] is False
    assert "nudge-5" not in [n["id"] for n in notes.list(after=0)]
    with pytest.raises(ValueError):
        local.post({"title": "no id or kind"}, keep_seconds=60)
    clock.now += 61
    assert notes.list(after=0) == []
    assert not local.tray_connected()
    local.poll_started()
    assert local.tray_connected()
    local.poll_ended()
    clock.now += 30
    assert local.tray_connected()  # it re-polls right away; not headless yet
    clock.now += 61
    assert not local.tray_connected()
    store.close()
