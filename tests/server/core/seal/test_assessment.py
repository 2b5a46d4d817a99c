"""The lost-device assessment end to end on the server: evidence built only through the real
check-in API (seal state and seal events) with the injected clock, verdicts read back through
the admin API, every assessment audited (both databases, both check-in paths)."""

from __future__ import annotations

from datetime import timedelta

from rules.model import Bundle, SealSettings
from server.services import checkin_events, publishing
from server.services.audit import Actor
from server.storage import audit as audit_store
from server.storage import seal_timeline

from .conftest import report, seal_event, seal_state


def assess(h, client, device) -> dict:
    reply = client.get(f"/api/v1/admin/devices/{device['device_id']}/assessment")
    assert reply.status_code == 200, reply.text
    return reply.json()


def test_each_scenario_gets_its_verdict(harness):
    h, t0 = harness, harness.clock()
    devices = {name: h.enroll(name=name) for name in (
        "never", "old-agent", "sealed-away", "in-use-clean", "sealing", "old-agent-sealing",
        "not-due", "busy-left", "crashed", "unsealing")}
    report(h, devices["old-agent"], seal_state(with_seal=False))
    started = seal_event("seal_started", t0 - timedelta(minutes=2), reason="idle",
                         session="s1", pending_files=2, pending_bytes=2048)
    finished = seal_event("seal_finished", t0 - timedelta(minutes=1), reason="idle",
                          session="s1", sealed_files=2, sealed_bytes=2048, busy_files=0,
                          failed_files=0, remaining_files=0, remaining_bytes=0,
                          duration_seconds=0.4, interrupted=False, paths=[])
    report(h, devices["sealed-away"], seal_state(
        idle=400, state="away", sealed_files=2, sealed_bytes=2048,
        last_seal_at=(t0 - timedelta(minutes=1)).isoformat()), [started, finished])
    report(h, devices["in-use-clean"], seal_state(idle=4))
    report(h, devices["sealing"], seal_state(idle=320, state="sealing", pending_files=3,
                                             pending_bytes=3000))
    report(h, devices["old-agent-sealing"],
           seal_state(idle=320, state=None, pending_files=2, pending_bytes=10),
           [seal_event("seal_started", t0 - timedelta(seconds=15), reason="idle",
                       session="s9", pending_files=2, pending_bytes=10)])
    report(h, devices["not-due"], seal_state(idle=10, pending_files=4, pending_bytes=4096))
    report(h, devices["busy-left"], seal_state(idle=900, state="away", pending_files=2,
                                               pending_bytes=20, busy_files=1))
    report(h, devices["crashed"], seal_state(unresolved_operations=1))
    report(h, devices["unsealing"], seal_state(state="unsealing", sealed_files=5))
    h.clock.advance(minutes=1)
    admin, _ = h.login("security_admin")
    verdicts = {name: assess(h, admin, d)["verdict"] for name, d in devices.items()}
    assert verdicts == {
        "never": "unknown", "old-agent": "unknown", "sealed-away": "no_fresh_plaintext",
        "in-use-clean": "no_fresh_plaintext", "sealing": "possible_exposure",
        "old-agent-sealing": "possible_exposure", "not-due": "possible_exposure",
        "busy-left": "likely_exposure", "crashed": "possible_exposure",
        "unsealing": "possible_exposure"}

    h.clock.advance(hours=2)  # the pending files of "not-due" were due long ago
    later = assess(h, admin, devices["not-due"])
    assert later["verdict"] == "likely_exposure"
    assert later["evidence"]["silent_seconds"] == 2 * 3600 + 60
    assert later["evidence"]["seal"]["pending_files"] == 4
    with h.ctx.db.transaction() as s:
        audited = audit_store.entries(s, action="device.assess", limit=100)
    assert len(audited) == len(devices) + 1
    assert {e.details["verdict"] for e in audited} >= {"unknown", "likely_exposure"}


def test_seal_events_form_a_timeline_stored_once(harness):
    h, t0 = harness, harness.clock()
    device = h.enroll()
    events = [seal_event("seal_started", t0 - timedelta(minutes=5), reason="lock",
                         session="s1", pending_files=1, pending_bytes=5),
              seal_event("seal_error", t0 - timedelta(minutes=4), operation="seal",
                         kind="disk_full", message="No space left on device",
                         folder="Downloads", path=None),
              seal_event("seal_finished", t0 - timedelta(minutes=4), reason="lock",
                         session="s1", sealed_files=0, sealed_bytes=0, busy_files=0,
                         failed_files=1, remaining_files=1, remaining_bytes=5,
                         duration_seconds=0.1, interrupted=False, paths=[]),
              seal_event("unseal_finished", t0 - timedelta(minutes=1), reason="return",
                         session="s1", unsealed_files=0, unsealed_bytes=0, failed_files=0,
                         duration_seconds=0.0)]
    state = seal_state(idle=30, pending_files=1, pending_bytes=5, failed_files=1)
    report(h, device, state, events)
    report(h, device, state, events)  # a re-sent batch
    with h.ctx.db.transaction() as s:
        rows = seal_timeline.timeline_of(s, device["device_id"])
    assert [r.type for r in rows] == ["seal_started", "seal_error", "seal_finished",
                                      "unseal_finished"]
    assert rows[1].detail["kind"] == "disk_full" and rows[2].remaining_files == 1
    assert rows[0].occurred_at == t0 - timedelta(minutes=5)
    admin, _ = h.login("auditor")
    result = assess(h, admin, device)
    details = [e["detail"] for e in result["timeline"] if e["clock"] == "agent"]
    assert len(details) == 4 and "disk_full" in details[1]
    assert "failed to seal" in " ".join(result["reasons"])


def test_malformed_seal_events_never_refuse_a_checkin(harness):
    h, t0 = harness, harness.clock()
    device = h.enroll()
    odd = [seal_event("seal_finished", t0, sealed_files=-3, sealed_bytes="many",
                      duration_seconds="fast", session="x" * 500,
                      interrupted="yes", paths=[{"folder": 1}, "no"]),
           seal_event("seal_started", t0, reason=["idle"], pending_files=True)]
    report(h, device, seal_state(), odd)
    with h.ctx.db.transaction() as s:
        rows = {r.type: r for r in seal_timeline.timeline_of(s, device["device_id"])}
    finished, started = rows["seal_finished"], rows["seal_started"]
    assert (finished.files, finished.bytes, finished.duration_seconds) == (None, None, None)
    assert len(finished.session) == 64 and finished.interrupted is None
    assert finished.detail == {"paths": [{"folder": None, "path": None}]}
    assert (started.reason, started.files) == (None, None)


def test_idle_threshold_comes_from_the_rules_version_the_device_applied(harness):
    h = harness
    with h.ctx.db.transaction() as s:
        publishing.publish(s, Bundle(version=1, seal=SealSettings(idle_threshold_seconds=120)),
                           key=h.ctx.signing_key, actor=Actor("test"), now=h.clock())
    fast, default = h.enroll(name="ruled"), h.enroll(name="built-in")
    report(h, fast, seal_state(idle=10, rules_version=1, pending_files=1, pending_bytes=1))
    report(h, default, seal_state(idle=10, pending_files=1, pending_bytes=1))
    h.clock.advance(seconds=200)  # 210 s since input: past 120, not past the agent's 300
    admin, _ = h.login("security_admin")
    ruled, builtin = assess(h, admin, fast), assess(h, admin, default)
    assert ruled["evidence"]["idle_threshold_source"] == "rules v1"
    assert (ruled["verdict"], ruled["evidence"]["idle_threshold_seconds"]) == \
        ("likely_exposure", 120)
    assert builtin["evidence"]["idle_threshold_source"] == "reported by the agent"
    assert builtin["verdict"] == "possible_exposure"


def test_unknown_device_is_404(harness):
    admin, _ = harness.login("security_admin")
    reply = admin.get("/api/v1/admin/devices/0d6f6a1e-0000-4000-8000-000000000000/assessment")
    assert (reply.status_code, reply.json()["error"]) == (404, "not_found")


def test_the_sync_hot_path_stores_seal_events_once_too(harness):
    h, t0 = harness, harness.clock()
    device = h.enroll()
    event = seal_event("seal_started", t0, reason="manual", session="m", pending_files=1,
                       pending_bytes=2)
    row = {"event_id": event["id"], "type": "seal_started", "occurred_at": t0,
           "data": event["data"]}
    for _ in range(2):  # the connection PostgreSQL's synchronous check-in would use
        with h.ctx.db.hot_path() as conn:
            checkin_events.handle(conn, device["device_id"], [row], t0)
    with h.ctx.db.transaction() as s:
        rows = seal_timeline.timeline_of(s, device["device_id"])
    assert [(r.type, r.reason, r.files, r.bytes) for r in rows] == [("seal_started", "manual",
                                                                     1, 2)]
