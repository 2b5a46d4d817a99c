"""Check-ins arriving together: on PostgreSQL they are written in shared statements
(storage.checkin_batches), and each must still be stored and answered as if it were alone —
its own state, events, notifications, location row and revocation check. Also on SQLite, where
they are written one at a time."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx

from server.services import fleet
from server.services.audit import Actor
from server.storage import devices as device_store
from server.storage import signin_history

LONDON = "81.2.69.142"  # GeoLite2 demo data: Willesden, United Kingdom


def _post_all(h, requests: list[tuple[dict, dict]], peer: str = "127.0.0.1") -> list:
    """POST every (headers, body) check-in at once, on one event loop, like concurrent agents."""

    async def run() -> list:
        transport = httpx.ASGITransport(app=h.app, client=(peer, 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            return await asyncio.gather(*(c.post("/api/v1/checkin", json=body, headers=headers)
                                          for headers, body in requests))

    return asyncio.run(run())


def _body(idle: int, events: list | None = None) -> dict:
    return {"state": {"agent_version": "0.1.0", "idle_seconds": idle}, "events": events or []}


def _state(h, device_id: str):
    with h.ctx.db.transaction() as s:
        return device_store.get_state(s, device_id)


def test_concurrent_checkins_are_each_stored_and_answered(harness):
    devices = [harness.enroll(name=f"LAPTOP-{n}") for n in range(12)]
    for device in devices:  # their credentials are now in the per-worker cache
        assert harness.checkin(device).status_code == 200
    with harness.ctx.db.transaction() as s:  # so only the write itself can notice this
        fleet.revoke_device(s, devices[5]["device_id"], actor=Actor("test"), now=harness.clock())
    notice = harness.notify(title="For everyone of e1042")
    batcher = harness.ctx.checkin_batcher
    batches_before = batcher.batches if batcher is not None else 0
    events = {d["device_id"]: [harness.event("seal.completed", n=n)] for n, d in enumerate(devices)}
    replies = _post_all(harness, [(harness.auth(d), _body(n, events[d["device_id"]]))
                                  for n, d in enumerate(devices)])

    for n, (device, reply) in enumerate(zip(devices, replies, strict=True)):
        device_id = device["device_id"]
        if n == 5:  # revoked: refused, and nothing of this check-in stored
            assert (reply.status_code, reply.json()["error"]) == (401, "device_invalid")
            assert _state(harness, device_id).checkins == 1
            with harness.ctx.db.transaction() as s:
                assert device_store.events_of(s, device_id) == []
            continue
        assert reply.status_code == 200, reply.text
        body = reply.json()
        assert body["accepted_event_ids"] == [events[device_id][0]["id"]]
        assert [x["id"] for x in body["notifications"]] == [notice]
        state = _state(harness, device_id)
        assert (state.checkins, state.state["idle_seconds"]) == (2, n)
        with harness.ctx.db.transaction() as s:
            [stored] = device_store.events_of(s, device_id)
        assert (stored.event_id, stored.data) == (events[device_id][0]["id"], {"n": n})
    assert harness.ctx.metrics.events.value("stored") == 11
    if batcher is not None:  # PostgreSQL: the 12 concurrent ones shared statements
        assert batcher.checkins == 24 and batcher.batches - batches_before < 12
        metrics = harness.ctx.metrics  # and /metrics says so
        assert metrics.checkin_batches.value() == batcher.batches
        assert metrics.checkins_batched.value() == 24
        assert "heedful_checkin_batches_total" in metrics.render()
    assert harness.checkin(devices[5]).status_code == 401  # and stays refused


def test_one_device_checking_in_twice_at_once_is_stored_twice(harness):
    device = harness.enroll()
    first, second = harness.event("a.first"), harness.event("a.second")
    replies = _post_all(harness, [(harness.auth(device), _body(1, [first])),
                                  (harness.auth(device), _body(2, [second]))])
    assert [r.status_code for r in replies] == [200, 200]
    assert [r.json()["accepted_event_ids"] for r in replies] == [[first["id"]], [second["id"]]]
    assert _state(harness, device["device_id"]).checkins == 2
    with harness.ctx.db.transaction() as s:
        stored = device_store.events_of(s, device["device_id"])
    assert sorted(e.type for e in stored) == ["a.first", "a.second"]


def test_a_checkin_the_database_refuses_fails_alone(harness):
    """An address too long for the last_ip column: PostgreSQL refuses that check-in's write
    (SQLite does not check lengths). The others in its batch are stored all the same."""
    good = [harness.enroll(name=f"GOOD-{n}") for n in range(4)]
    bad = harness.enroll(name="BAD")

    async def run() -> list:
        normal = httpx.ASGITransport(app=harness.app, client=("127.0.0.1", 50000))
        odd = httpx.ASGITransport(app=harness.app, client=("not-an-address-" + "x" * 40, 1))
        async with httpx.AsyncClient(transport=normal, base_url="http://testserver") as a, \
                httpx.AsyncClient(transport=odd, base_url="http://testserver") as b:
            calls = [a.post("/api/v1/checkin", json=_body(n), headers=harness.auth(d))
                     for n, d in enumerate(good)]
            calls.insert(2, b.post("/api/v1/checkin", json=_body(9), headers=harness.auth(bad)))
            return await asyncio.gather(*calls)

    replies = asyncio.run(run())
    assert [r.status_code for n, r in enumerate(replies) if n != 2] == [200] * 4
    assert all(_state(harness, d["device_id"]).checkins == 1 for d in good)
    if harness.ctx.checkin_batcher is not None:
        assert replies[2].status_code == 500
        assert _state(harness, bad["device_id"]).checkins == 0


def _employee_of(h, device: dict) -> int:
    with h.ctx.db.transaction() as s:
        return device_store.get_device(s, device["device_id"]).employee_id


def _locations(h, employee_id: int) -> list:
    start = h.clock() - timedelta(days=1)
    with h.ctx.db.transaction() as s:
        return signin_history.device_locations(s.connection(), [employee_id], start,
                                               start + timedelta(days=2))


def test_checkin_keeps_the_device_location_once_per_window(make_harness, geolocator):
    h = make_harness(geolocator=geolocator)
    device = h.enroll()
    h.add_employee("other@corp.example", "FR")
    other = h.enroll(h.issue_token("other@corp.example"), name="OTHER")
    here = {**h.auth(device), "X-Forwarded-For": LONDON}
    for minutes in (0, 1, 2, 16):  # windows [09:00, 09:15) and [09:15, 09:30)
        h.clock.current = h.clock.current.replace(minute=minutes)
        assert h.client.post("/api/v1/checkin", json=_body(1), headers=here).status_code == 200
    rows = _locations(h, _employee_of(h, device))
    assert [(r.window_start.minute, r.seen_at.minute, r.ip, r.city) for r in rows] == [
        (0, 0, LONDON, "Willesden"), (15, 16, LONDON, "Willesden")]
    with h.ctx.db.transaction() as s:
        fleet.revoke_device(s, other["device_id"], actor=Actor("test"), now=h.clock())
    refused = h.client.post("/api/v1/checkin", json=_body(1),
                            headers={**h.auth(other), "X-Forwarded-For": LONDON})
    assert refused.status_code == 401
    assert _locations(h, _employee_of(h, other)) == []


def test_batched_location_rows_come_with_their_checkins(make_harness, geolocator):
    h = make_harness(geolocator=geolocator)
    devices = [h.enroll(name=f"LAPTOP-{n}") for n in range(6)]
    replies = _post_all(h, [({**h.auth(d), "X-Forwarded-For": LONDON}, _body(n))
                            for n, d in enumerate(devices)])
    assert [r.json()["location"]["city"] for r in replies] == ["Willesden"] * 6
    employee_id = _employee_of(h, devices[0])
    rows = _locations(h, employee_id)
    assert sorted(r.device_id for r in rows) == sorted(d["device_id"] for d in devices)
    assert {(r.place_kind, r.country_code) for r in rows} == {("public", "GB")}
    # the next check-ins of the window add nothing
    again = _post_all(h, [({**h.auth(d), "X-Forwarded-For": LONDON}, _body(1)) for d in devices])
    assert [r.status_code for r in again] == [200] * 6
    assert len(_locations(h, employee_id)) == 6
