"""One check-in cycle against a scripted real HTTP server: acknowledgements, refusals,
location, notifications, device_invalid."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent import enrolment
from agent.errors import DeviceInvalid, ServerError
from agent.events import Event
from agent.footprint import Footprint
from agent.ledger import Ledger
from agent.notifications import Notifications
from agent.outbox import Outbox
from agent.rulebook import Rulebook
from agent.sensors.host import SensorHost
from agent.settings import Settings
from agent.store import Store
from agent.sync import Syncer
from rules.model import Bundle


def make_syncer(tmp_path: Path, port: int) -> Syncer:
    store = Store(tmp_path)
    outbox = Outbox(store)
    settings = Settings({}, env={})
    host = SensorHost([], store=store, outbox=outbox, platform=None, settings=settings)
    rulebook = Rulebook(store, defaults=lambda: Bundle(version=1))
    rulebook.load([])
    enrolment.save(store, enrolment.Enrolment(f"http://127.0.0.1:{port}", "dev", "sec"))
    return Syncer(home=tmp_path, store=store, outbox=outbox, ledger=Ledger(store),
                  notifications=Notifications(store), rulebook=rulebook, host=host,
                  footprint=Footprint(), settings=settings, os_name="linux")


def reply(**extra):
    base = {"rules_version": None, "location": {"kind": "public", "country_code": "JP",
                                                "city": "Tokyo", "source": "request_ip"},
            "notifications": [], "next_checkin_seconds": 5, "max_batch_size": 2,
            "accepted_event_ids": [], "server_time": "2024-05-02T09:15:07Z"}
    return (200, {**base, **extra}, None)


def test_only_accepted_events_leave_and_the_reply_is_applied(tmp_path: Path, serve):
    events = [Event("laptop_signin", {"n": n}) for n in range(3)]
    note = {"id": "n-1", "kind": "message", "title": "Hi", "body": "b", "data": {}}
    server = serve([reply(accepted_event_ids=[events[0].id], notifications=[note]),
                    reply(notifications=[note])])
    syncer = make_syncer(tmp_path, server.port)
    syncer.outbox.put_many(events)
    seen = []
    syncer.host.listeners.append(seen.append)
    result = syncer.checkin()
    sent = json.loads(server.requests[0][3])
    assert [e["id"] for e in sent["events"]] == [e.id for e in events]  # default batch 500
    assert sent["state"]["agent_version"] and sent["state"]["idle_seconds"] is None
    assert (result.sent, result.accepted, result.next_interval) == (3, 1, 15.0)  # minimum 15
    assert [e.id for e in syncer.outbox.peek(5)] == [events[1].id, events[2].id]
    assert syncer.max_batch == 2 and result.more_waiting
    assert syncer.store.get_state("location")["country_code"] == "JP"
    assert [s.name for s in seen] == ["location-changed"]
    syncer.checkin()  # the same notification again, and a batch of only 2 now
    assert len(json.loads(server.requests[1][3])["events"]) == 2
    assert [n["id"] for n in syncer.notifications.list()] == ["n-1"]
    assert [s.name for s in seen] == ["location-changed"]  # unchanged place: no signal


def test_a_422_naming_events_drops_exactly_those(tmp_path: Path, serve):
    bad = {"error": "validation_failed", "message": "bad",
           "fields": [{"path": "events[1].occurred_at", "reason": "no offset"}]}
    server = serve([(422, bad, None), (413, {"error": "body_too_large", "message": ""}, None)])
    syncer = make_syncer(tmp_path, server.port)
    events = [Event("t", {"n": n}) for n in range(3)]
    syncer.outbox.put_many(events)
    with pytest.raises(ServerError):
        syncer.checkin()
    assert [e.id for e in syncer.outbox.peek(5)] == [events[0].id, events[2].id]
    assert syncer.store.get_state("outbox_rejected_total") == 1
    with pytest.raises(ServerError):
        syncer.checkin()
    assert syncer.max_batch == 250 and syncer.outbox.depth() == 2


def test_device_invalid_forgets_the_secret_and_keeps_the_outbox(tmp_path: Path, serve):
    server = serve([(401, {"error": "device_invalid", "message": "revoked"}, None)])
    syncer = make_syncer(tmp_path, server.port)
    syncer.outbox.put(Event("t"))
    with pytest.raises(DeviceInvalid):
        syncer.checkin()
    current = enrolment.load(syncer.store)
    assert current.status == "needs_reenrolment" and current.device_secret is None
    assert syncer.outbox.depth() == 1
    assert "check-in" in syncer.ledger.entries()[0].summary
