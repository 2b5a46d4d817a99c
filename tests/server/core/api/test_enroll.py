"""POST /api/v1/enroll: the happy path and every way a token can be refused."""

from __future__ import annotations

import threading

from rules.signing import key_id, load_public_key
from server.storage import checkins as checkin_store
from server.storage import devices as device_store


def _enroll(h, token: str, name: str = "LAPTOP-1"):
    return h.client.post("/api/v1/enroll", json={"token": token, "name": name, "os": "windows",
                                                 "os_version": "Windows 11", "hardware_id": "S1",
                                                 "agent_version": "0.1.0"})


def test_enrol_returns_credential_employee_and_signing_key(harness):
    harness.add_employee(country="GB")
    reply = _enroll(harness, harness.issue_token())
    assert reply.status_code == 201, reply.text
    body = reply.json()
    assert body["employee"] == {"email": "e1042@corp.example", "home_country": "GB"}
    assert len(body["device_secret"]) == 43
    assert body["checkin_interval_seconds"] == 60
    assert body["server_time"] == "2024-05-02T09:00:00Z"
    [key] = body["rules_public_keys"]
    assert key_id(load_public_key(key["public_key_pem"])) == key["key_id"]
    assert key["key_id"] == harness.ctx.signing_key.key_id
    with harness.ctx.db.transaction() as s:
        device = device_store.get_device(s, body["device_id"])
        assert device.name == "LAPTOP-1" and device.os == "windows"
        [cred] = checkin_store.credentials(s.connection(), body["device_id"])
        assert body["device_secret"] not in cred.secret_hash  # stored hashed only
        assert len(cred.secret_hash) == 64


def test_reused_token_is_410_token_used_and_creates_no_device(harness):
    harness.add_employee()
    token = harness.issue_token()
    assert _enroll(harness, token).status_code == 201
    again = _enroll(harness, token, name="LAPTOP-2")
    assert again.status_code == 410
    assert again.json()["error"] == "token_used"
    with harness.ctx.db.transaction() as s:
        assert [d.device.name for d in device_store.list_devices(s)] == ["LAPTOP-1"]


def test_unknown_token_is_401_token_invalid(harness):
    reply = _enroll(harness, "het_not-a-real-token")
    assert reply.status_code == 401
    assert reply.json()["error"] == "token_invalid"


def test_expired_token_is_410_token_expired(harness):
    harness.add_employee()
    token = harness.issue_token(lifetime=600)
    harness.clock.advance(seconds=600)
    reply = _enroll(harness, token)
    assert reply.status_code == 410
    assert reply.json()["error"] == "token_expired"
    assert "2024-05-02T09:10:00Z" in reply.json()["message"]


def test_token_still_valid_one_second_before_expiry(harness):
    harness.add_employee()
    token = harness.issue_token(lifetime=600)
    harness.clock.advance(seconds=599)
    assert _enroll(harness, token).status_code == 201


def test_revoked_token_is_410_token_revoked(harness):
    from server.storage import enrollment as token_store
    harness.add_employee()
    token = harness.issue_token()
    with harness.ctx.db.transaction() as s:
        [(row, _)] = token_store.list_tokens(s)
        assert token_store.revoke(s, row.id, now=harness.clock())
    reply = _enroll(harness, token)
    assert (reply.status_code, reply.json()["error"]) == (410, "token_revoked")


def test_missing_field_is_422_naming_it(harness):
    reply = harness.client.post("/api/v1/enroll", json={"token": "x", "os": "linux",
                                                        "agent_version": "1"})
    assert reply.status_code == 422
    assert reply.json()["fields"] == [{"path": "name", "reason": "Field required"}]


def test_concurrent_enrolments_with_one_token_create_one_device(harness):
    harness.add_employee()
    token = harness.issue_token()
    results: list[int] = []

    def attempt(i: int) -> None:
        client = harness.new_client()
        results.append(_enroll_with(client, token, f"RACE-{i}").status_code)

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [201, 410, 410, 410]
    with harness.ctx.db.transaction() as s:
        assert len(device_store.list_devices(s)) == 1


def _enroll_with(client, token: str, name: str):
    return client.post("/api/v1/enroll", json={"token": token, "name": name, "os": "linux",
                                               "agent_version": "0.1.0"})
