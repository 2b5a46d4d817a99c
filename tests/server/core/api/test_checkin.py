"""POST /api/v1/checkin: authentication, stored state, idempotent events, batch limits,
notifications and acknowledgement."""

from __future__ import annotations

import uuid

import pytest

from server.services import fleet
from server.services.audit import Actor
from server.storage import devices as device_store


def _events(h, device_id: str):
    with h.ctx.db.transaction() as s:
        return device_store.events_of(s, device_id)


def test_checkin_stores_state_and_answers_per_protocol(harness):
    device = harness.enroll()
    harness.clock.advance(seconds=30)
    state = {"agent_version": "0.1.1", "rules_version": None, "os": "Debian 12",
             "idle_seconds": 12.5, "locked": False, "asleep_since": None,
             "seal": {"pending_files": 14, "pending_bytes": 3145728, "sealed_files": 0,
                      "sealed_bytes": 0, "last_seal_at": "2024-05-02T07:55:00Z"},
             "footprint": {"cpu_percent": 0.4, "rss_bytes": 41943040}, "future_key": 1}
    reply = harness.client.post("/api/v1/checkin", json={"state": state},
                                headers=harness.auth(device))
    assert reply.status_code == 200, reply.text
    expected = {
        "rules_version": None,
        "location": {"kind": "unknown", "country_code": None, "country_name": None,
                     "city": None, "source": "request_ip"},
        "notifications": [], "next_checkin_seconds": 60, "max_batch_size": 500,
        "accepted_event_ids": [], "server_time": "2024-05-02T09:00:30Z"}
    body = reply.json()  # later features add keys of their own; these are the core's
    assert {key: body[key] for key in expected} == expected
    with harness.ctx.db.transaction() as s:
        stored = device_store.get_state(s, device["device_id"])
    assert stored.checkins == 1
    assert stored.last_checkin_at.isoformat() == "2024-05-02T09:00:30+00:00"
    assert stored.state["seal"]["pending_files"] == 14
    assert stored.state["agent_version"] == "0.1.1"
    assert "future_key" not in stored.state  # unknown keys are ignored
    assert stored.last_ip == "127.0.0.1"


@pytest.mark.parametrize("header", [
    None, "Device", "Device not-a-uuid:secret", "Bearer abc",
    f"Device {uuid.uuid4()}:secret",  # unknown device
])
def test_bad_credentials_get_device_invalid(harness, header):
    headers = {"Authorization": header} if header else {}
    reply = harness.client.post("/api/v1/checkin", json={"state": {"agent_version": "1"}},
                                headers=headers)
    assert reply.status_code == 401
    assert reply.json()["error"] == "device_invalid"


def test_wrong_secret_gets_device_invalid(harness):
    device = harness.enroll()
    wrong = dict(device, device_secret=device["device_secret"][:-1] + "A"
                 if device["device_secret"][-1] != "A" else "B")
    reply = harness.checkin(wrong)
    assert (reply.status_code, reply.json()["error"]) == (401, "device_invalid")
    assert harness.checkin(device).status_code == 200


def test_revoked_device_gets_device_invalid_on_every_endpoint(harness):
    device = harness.enroll()
    assert harness.checkin(device).status_code == 200
    with harness.ctx.db.transaction() as s:
        fleet.revoke_device(s, device["device_id"], actor=Actor("test"), now=harness.clock())
    assert harness.checkin(device).json()["error"] == "device_invalid"
    rules = harness.client.get("/api/v1/rules/current", headers=harness.auth(device))
    assert (rules.status_code, rules.json()["error"]) == (401, "device_invalid")
    ack = harness.client.post(f"/api/v1/notifications/{uuid.uuid4()}/ack",
                              headers=harness.auth(device))
    assert (ack.status_code, ack.json()["error"]) == (401, "device_invalid")


def test_resent_batch_is_stored_once_and_acknowledged_both_times(harness):
    device = harness.enroll()
    events = [harness.event("seal.completed", files=3), harness.event("nudge.shown")]
    batch = str(uuid.uuid4())
    first = harness.checkin(device, events, batch_id=batch)
    second = harness.checkin(device, events, batch_id=batch)
    ids = [e["id"] for e in events]
    assert first.json()["accepted_event_ids"] == ids
    assert second.json()["accepted_event_ids"] == ids
    stored = _events(harness, device["device_id"])
    assert [(e.event_id, e.type, e.data) for e in stored] == [
        (ids[0], "seal.completed", {"files": 3}), (ids[1], "nudge.shown", {})]
    assert all(e.batch_id == batch for e in stored)
    assert harness.ctx.metrics.events.value("duplicate") == 2


def test_same_event_id_on_two_devices_is_two_events(harness):
    one, two = harness.enroll(name="A"), harness.enroll(name="B")
    event = harness.event()
    harness.checkin(one, [event])
    harness.checkin(two, [event])
    assert len(_events(harness, one["device_id"])) == 1
    assert len(_events(harness, two["device_id"])) == 1


def test_unknown_event_types_are_stored_as_is(harness):
    device = harness.enroll()
    event = harness.event("laptop-signin.v2", user="e1042", nested={"a": [1, 2]})
    assert harness.checkin(device, [event]).status_code == 200
    [stored] = _events(harness, device["device_id"])
    assert stored.type == "laptop-signin.v2"
    assert stored.data == {"user": "e1042", "nested": {"a": [1, 2]}}


def test_only_max_batch_size_events_are_accepted(make_harness):
    h = make_harness(max_batch_size=3)
    device = h.enroll()
    events = [h.event() for _ in range(5)]
    reply = h.checkin(device, events).json()
    assert reply["max_batch_size"] == 3
    assert reply["accepted_event_ids"] == [e["id"] for e in events[:3]]
    reply = h.checkin(device, events[3:]).json()
    assert reply["accepted_event_ids"] == [e["id"] for e in events[3:]]
    assert len(_events(h, device["device_id"])) == 5


@pytest.mark.parametrize(("event", "path"), [
    ({"id": "nope", "type": "x", "occurred_at": "2024-05-02T08:00:00Z"}, "events[1].id"),
    ({"id": str(uuid.uuid4()), "type": "Bad Type", "occurred_at": "2024-05-02T08:00:00Z"},
     "events[1].type"),
    ({"id": str(uuid.uuid4()), "type": "x", "occurred_at": "2024-05-02T08:00:00"},
     "events[1].occurred_at"),
    ({"id": str(uuid.uuid4()), "type": "x", "occurred_at": "2024-05-02T08:00:00Z",
      "data": {"blob": "x" * 17000}}, "events[1].data"),
])
def test_invalid_event_is_422_naming_the_field_and_nothing_is_stored(harness, event, path):
    device = harness.enroll()
    reply = harness.checkin(device, [harness.event(), event])
    assert reply.status_code == 422
    body = reply.json()
    assert body["error"] == "validation_failed"
    assert [f["path"] for f in body["fields"]] == [path]
    assert body["message"].startswith(path + ": ")
    assert _events(harness, device["device_id"]) == []
    with harness.ctx.db.transaction() as s:
        assert device_store.get_state(s, device["device_id"]).checkins == 0


def test_state_field_errors_name_nested_paths(harness):
    device = harness.enroll()
    reply = harness.client.post("/api/v1/checkin", headers=harness.auth(device), json={
        "state": {"agent_version": "1", "seal": {"pending_files": -1}, "locked": "maybe"}})
    assert reply.status_code == 422
    assert sorted(f["path"] for f in reply.json()["fields"]) == ["state.locked",
                                                                "state.seal.pending_files"]


def test_malformed_json_is_400(harness):
    device = harness.enroll()
    reply = harness.client.post("/api/v1/checkin", content=b'{"state": ',
                                headers={**harness.auth(device),
                                         "Content-Type": "application/json"})
    assert (reply.status_code, reply.json()["error"]) == (400, "malformed_json")


def test_notifications_are_delivered_until_acknowledged_by_their_owner(harness):
    device = harness.enroll()
    harness.add_employee("other@corp.example", "FR")
    other = harness.enroll(harness.issue_token("other@corp.example"), name="OTHER")
    first = harness.notify(title="First")
    harness.clock.advance(seconds=1)
    second = harness.notify(title="Second")
    pending = harness.checkin(device).json()["notifications"]
    assert [(n["id"], n["title"], n["kind"]) for n in pending] == [
        (first, "First", "message"), (second, "Second", "message")]
    assert pending[0]["created_at"] == "2024-05-02T09:00:00Z"
    assert harness.checkin(other).json()["notifications"] == []

    stolen = harness.client.post(f"/api/v1/notifications/{first}/ack",
                                 headers=harness.auth(other))
    assert (stolen.status_code, stolen.json()["error"]) == (404, "not_found")
    ack = harness.client.post(f"/api/v1/notifications/{first}/ack", json={"response": "was_me"},
                              headers=harness.auth(device))
    assert ack.status_code == 200
    assert ack.json() == {"id": first, "acked_at": "2024-05-02T09:00:01Z", "response": "was_me"}
    harness.clock.advance(seconds=5)
    again = harness.client.post(f"/api/v1/notifications/{first}/ack",
                                headers=harness.auth(device))
    assert again.json() == ack.json()  # first answer kept
    assert [n["id"] for n in harness.checkin(device).json()["notifications"]] == [second]


def test_ack_without_body_and_with_bad_id(harness):
    device = harness.enroll()
    nid = harness.notify()
    reply = harness.client.post(f"/api/v1/notifications/{nid}/ack",
                                headers=harness.auth(device))
    assert reply.status_code == 200 and reply.json()["response"] is None
    bad = harness.client.post("/api/v1/notifications/123/ack", headers=harness.auth(device))
    assert bad.status_code == 422 and bad.json()["fields"][0]["path"] == "notification_id"


def test_fast_path_and_fastapi_route_answer_alike(make_harness):
    """The ASGI fast path and the documented FastAPI route run the same code; prove it."""
    replies = []
    for fast in (True, False):
        h = make_harness(fast_path=fast)
        device = h.enroll(name=f"FAST-{fast}")
        event = h.event()
        ok = h.checkin(device, [event]).json()
        assert ok["accepted_event_ids"] == [event["id"]]
        bad = h.client.post("/api/v1/checkin", json={"state": {}}, headers=h.auth(device))
        unauth = h.client.post("/api/v1/checkin", json={"state": {"agent_version": "1"}})
        replies.append((ok["next_checkin_seconds"], bad.status_code, bad.json()["fields"],
                        unauth.status_code, unauth.json()["error"],
                        h.client.get("/metrics").text.count('route="/api/v1/checkin"') > 0))
    assert replies[0] == replies[1]
    assert replies[0][1:5] == (422, [{"path": "state.agent_version",
                                      "reason": "Field required"}], 401, "device_invalid")


def test_state_number_too_large_to_be_finite_is_stored_as_null(harness):
    device = harness.enroll()
    raw = b'{"state": {"agent_version": "0.1.0", "idle_seconds": 1e999, "locked": true}}'
    reply = harness.client.post("/api/v1/checkin", content=raw,
                                headers={**harness.auth(device),
                                         "Content-Type": "application/json"})
    assert reply.status_code == 200, reply.text
    with harness.ctx.db.transaction() as s:
        stored = device_store.get_state(s, device["device_id"]).state
    assert (stored["idle_seconds"], stored["locked"]) == (None, True)
