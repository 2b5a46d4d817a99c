"""Reporting a device lost: it is revoked at once (its agent gets device_invalid), its escrowed
key stays exportable, the list shows it, and only the right roles may assess or report (both
databases; the role matrix by console session and by API token)."""

from __future__ import annotations

from server.services import api_tokens, escrow
from server.services.audit import Actor
from server.services.roles import ROLES, allowed
from server.storage import audit as audit_store

from .conftest import wrap

KEY = bytes(range(32, 64))


def test_mark_lost_revokes_and_keeps_the_escrowed_key(escrow_harness, recovery):
    h = escrow_harness
    device = h.enroll()
    blob = wrap(KEY, recovery, device["device_id"])
    from agent.seal.format import key_id

    kid = key_id(KEY).hex()
    assert h.client.put("/api/v1/escrow", json={"key_id": kid, "escrow": blob},
                        headers=h.auth(device)).status_code == 201
    assert h.checkin(device).status_code == 200
    admin, csrf = h.login("security_admin")
    marked = admin.post(f"/api/v1/admin/devices/{device['device_id']}/lost",
                        headers={"X-CSRF-Token": csrf}, json={"note": "INC-4711"})
    assert marked.status_code == 200, marked.text
    assert marked.json()["escrowed_key_ids"] == [kid]
    assert marked.json()["revoked_at"] == marked.json()["reported_lost_at"]

    refused = h.checkin(device)
    assert (refused.status_code, refused.json()["error"]) == (401, "device_invalid")
    (listed,) = admin.get("/api/v1/admin/devices").json()["devices"]
    assert listed["reported_lost_at"] == marked.json()["reported_lost_at"]
    assert listed["revoked_at"] is not None
    again = admin.post(f"/api/v1/admin/devices/{device['device_id']}/lost",
                       headers={"X-CSRF-Token": csrf})
    assert (again.status_code, again.json()["error"]) == (409, "conflict")
    with h.ctx.db.transaction() as s:
        exported = escrow.export(s, device["device_id"], actor=Actor("t"), now=h.clock())
        (entry,) = audit_store.entries(s, action="device.mark_lost")
    assert exported.blob == blob.encode()
    assert entry.details["note"] == "INC-4711" and entry.details["revoked_now"] is True
    result = admin.get(f"/api/v1/admin/devices/{device['device_id']}/assessment").json()
    kinds = [e["event"] for e in result["timeline"]]
    assert "revoked" in kinds and "reported_lost" in kinds
    assert result["evidence"]["escrowed_key_ids"] == [kid]


def test_a_revoked_device_can_still_be_reported_lost(harness):
    device = harness.enroll()
    admin, csrf = harness.login("security_admin")
    headers = {"X-CSRF-Token": csrf}
    first = admin.post(f"/api/v1/admin/devices/{device['device_id']}/revoke", headers=headers)
    marked = admin.post(f"/api/v1/admin/devices/{device['device_id']}/lost", headers=headers)
    assert marked.status_code == 200
    assert marked.json()["revoked_at"] == first.json()["revoked_at"]
    missing = admin.post("/api/v1/admin/devices/nope/lost", headers=headers)
    assert (missing.status_code, missing.json()["error"]) == (404, "not_found")


def _token(h, role: str, scope: str) -> str:
    with h.ctx.db.transaction() as s:
        _, token = api_tokens.create(s, name=f"{role}-{scope}", scopes=[scope], role=role,
                                     actor=Actor("test"), now=h.clock())
    return token


def test_role_matrix_for_assessment_and_loss_reports(harness):
    h = harness
    wrong = []
    for role in ROLES:
        for via in ("session", "token"):
            device = h.enroll(name=f"{role}-{via}")
            if via == "session":
                client, csrf = h.login(role)
                headers = {"X-CSRF-Token": csrf}
            else:
                client = h.new_client()
                headers = {"Authorization": f"Bearer {_token(h, role, 'admin:write')}"}
            base = f"/api/v1/admin/devices/{device['device_id']}"
            for method, path, permission in (("GET", "/assessment", "devices.assess"),
                                             ("POST", "/lost", "devices.mark_lost")):
                reply = client.request(method, base + path, headers=headers)
                expected = 200 if allowed(role, permission) else 403
                if reply.status_code != expected:
                    wrong.append((role, via, method, path, reply.status_code))
    assert wrong == []
    assert allowed("auditor", "devices.assess") and not allowed("helpdesk", "devices.assess")
    assert not allowed("auditor", "devices.mark_lost")
    with h.ctx.db.transaction() as s:
        assessed = audit_store.entries(s, action="device.assess", limit=50)
    assert len(assessed) == 4  # security_admin and auditor, by session and by token


def test_read_tokens_may_assess_but_not_report_and_strangers_get_401(harness):
    h = harness
    device = h.enroll()
    base = f"/api/v1/admin/devices/{device['device_id']}"
    reader = {"Authorization": f"Bearer {_token(h, 'security_admin', 'admin:read')}"}
    client = h.new_client()
    assert client.get(base + "/assessment", headers=reader).status_code == 200
    assert client.post(base + "/lost", headers=reader).status_code == 403
    for method, path in (("GET", "/assessment"), ("POST", "/lost")):
        reply = client.request(method, base + path)
        assert (reply.status_code, reply.json()["error"]) == (401, "unauthenticated")
    with h.ctx.db.transaction() as s:
        assert audit_store.entries(s, action="device.mark_lost") == []
