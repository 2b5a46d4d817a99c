"""The admin API: the role matrix (each role x each endpoint, by session and by token), CSRF,
API-token scopes, and the audit trail of admin actions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from server.services import api_tokens
from server.services.audit import Actor
from server.services.roles import ROLES, allowed


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str  # may contain {device} / {token}
    permission: str
    body: dict[str, Any] | None = None
    success: int = 200


ENDPOINTS = [
    Endpoint("GET", "/api/v1/admin/devices", "devices.read"),
    Endpoint("POST", "/api/v1/admin/devices/{device}/revoke", "devices.revoke"),
    Endpoint("GET", "/api/v1/admin/employees", "employees.read"),
    Endpoint("POST", "/api/v1/admin/employees", "employees.write",
             {"email": "new@corp.example", "home_country": "DE", "aliases": ["n1"]}, 201),
    Endpoint("GET", "/api/v1/admin/enrollment-tokens", "tokens.read"),
    Endpoint("POST", "/api/v1/admin/enrollment-tokens", "tokens.write",
             {"email": "e1042@corp.example"}, 201),
    Endpoint("GET", "/api/v1/admin/rules", "rules.read"),
    Endpoint("POST", "/api/v1/admin/rules", "rules.publish", {"yaml": "schema: 1\nversion: 1\n"},
             201),
    Endpoint("GET", "/api/v1/admin/audit", "audit.read"),
    Endpoint("GET", "/api/v1/admin/api-tokens", "api_tokens.read"),
    Endpoint("POST", "/api/v1/admin/api-tokens", "api_tokens.write",
             {"name": "siem", "scopes": ["ingest"]}, 201),
    Endpoint("POST", "/api/v1/admin/api-tokens/{token}/revoke", "api_tokens.write"),
]


def _token(h, role: str, scopes: list[str]) -> str:
    with h.ctx.db.transaction() as s:
        _, token = api_tokens.create(s, name=f"t-{role}", scopes=scopes, role=role,
                                     actor=Actor("test"), now=h.clock())
    return token


def _call(client, endpoint: Endpoint, targets: dict[str, str], headers: dict[str, str]):
    path = endpoint.path.format(**targets)
    return client.request(endpoint.method, path, json=endpoint.body, headers=headers)


def _targets(h) -> dict[str, str]:
    device = h.enroll()
    with h.ctx.db.transaction() as s:
        token_id, _ = api_tokens.create(s, name="victim", scopes=["ingest"], role=None,
                                        actor=Actor("test"), now=h.clock())
    return {"device": device["device_id"], "token": token_id}


@pytest.mark.parametrize("via", ["session", "token"])
@pytest.mark.parametrize("role", ROLES)
def test_role_matrix(harness, role, via):
    targets = _targets(harness)
    if via == "session":
        client, csrf = harness.login(role)
        headers = {"X-CSRF-Token": csrf}
    else:
        client = harness.new_client()
        headers = {"Authorization": f"Bearer {_token(harness, role, ['admin:write'])}"}
    wrong = []
    for endpoint in ENDPOINTS:
        reply = _call(client, endpoint, targets, headers)
        expected = endpoint.success if allowed(role, endpoint.permission) else 403
        if reply.status_code != expected or (expected == 403
                                             and reply.json()["error"] != "forbidden"):
            wrong.append((endpoint.method, endpoint.path, reply.status_code, reply.text[:120]))
    assert wrong == []


def test_permission_table_matches_documented_roles():
    assert allowed("security_admin", "rules.publish")
    assert not allowed("helpdesk", "rules.publish") and allowed("helpdesk", "cases.write")
    assert allowed("auditor", "audit.read") and not allowed("auditor", "devices.revoke")
    assert not any(allowed("auditor", e.permission) for e in ENDPOINTS if e.method == "POST")
    assert not allowed(None, "devices.read") and not allowed("root", "devices.read")


def test_unauthenticated_calls_are_401(harness):
    targets = _targets(harness)
    for endpoint in ENDPOINTS:
        reply = _call(harness.client, endpoint, targets, {})
        assert (reply.status_code, reply.json()["error"]) == (401, "unauthenticated"), endpoint


@pytest.mark.parametrize("csrf_header", [None, "", "wrong-token"])
def test_session_writes_need_the_csrf_header(harness, csrf_header):
    targets = _targets(harness)
    client, _ = harness.login("security_admin")
    headers = {} if csrf_header is None else {"X-CSRF-Token": csrf_header}
    for endpoint in (e for e in ENDPOINTS if e.method == "POST"):
        reply = _call(client, endpoint, targets, headers)
        assert (reply.status_code, reply.json()["error"]) == (403, "csrf_failed"), endpoint
    assert client.get("/api/v1/admin/devices").status_code == 200  # reads need no token
    assert client.get("/api/v1/admin/devices").json()["devices"][0]["revoked_at"] is None


def test_token_scopes(harness):
    targets = _targets(harness)
    ingest = _token(harness, "security_admin", ["ingest"])
    reader = _token(harness, "security_admin", ["admin:read"])
    client = harness.new_client()
    devices = ENDPOINTS[0]
    revoke = ENDPOINTS[1]
    as_ingest = _call(client, devices, targets, {"Authorization": f"Bearer {ingest}"})
    assert (as_ingest.status_code, as_ingest.json()["error"]) == (403, "forbidden")
    assert _call(client, devices, targets, {"Authorization": f"Bearer {reader}"}).status_code \
        == 200
    assert _call(client, revoke, targets, {"Authorization": f"Bearer {reader}"}).status_code \
        == 403
    bogus = _call(client, devices, targets, {"Authorization": "Bearer hfa_nope"})
    assert (bogus.status_code, bogus.json()["error"]) == (401, "unauthenticated")


def test_revoked_api_token_stops_working(harness):
    admin, csrf = harness.login("security_admin")
    created = admin.post("/api/v1/admin/api-tokens", headers={"X-CSRF-Token": csrf},
                         json={"name": "ops", "scopes": ["admin:read"], "role": "auditor"}).json()
    bearer = {"Authorization": f"Bearer {created['token']}"}
    assert harness.client.get("/api/v1/admin/audit", headers=bearer).status_code == 200
    assert admin.post(f"/api/v1/admin/api-tokens/{created['id']}/revoke",
                      headers={"X-CSRF-Token": csrf}).status_code == 200
    assert harness.client.get("/api/v1/admin/audit", headers=bearer).status_code == 401
    listed = admin.get("/api/v1/admin/api-tokens").json()["tokens"]
    assert created["token"] not in str(listed)
    assert [t["revoked_at"] is not None for t in listed if t["id"] == created["id"]] == [True]


def test_admin_token_scope_needs_a_role(harness):
    admin, csrf = harness.login("security_admin")
    reply = admin.post("/api/v1/admin/api-tokens", headers={"X-CSRF-Token": csrf},
                       json={"name": "x", "scopes": ["admin:write"]})
    assert reply.status_code == 422 and "role" in reply.json()["message"]


def test_admin_actions_are_audited_with_actor_and_address(harness):
    device = harness.enroll()
    admin, csrf = harness.login("security_admin")
    client = harness.new_client(peer="127.0.0.1")
    client.cookies = admin.cookies
    reply = client.post(f"/api/v1/admin/devices/{device['device_id']}/revoke",
                        headers={"X-CSRF-Token": csrf, "X-Forwarded-For": "81.2.69.142"})
    assert reply.status_code == 200
    again = client.post(f"/api/v1/admin/devices/{device['device_id']}/revoke",
                        headers={"X-CSRF-Token": csrf})
    assert (again.status_code, again.json()["error"]) == (409, "conflict")
    entries = admin.get("/api/v1/admin/audit").json()["entries"]
    revoke = next(e for e in entries if e["action"] == "device.revoke")
    assert revoke["target"] == device["device_id"]
    assert revoke["actor"].startswith("user:security_admin-")
    assert revoke["source_ip"] == "81.2.69.142"
    actions = [e["action"] for e in entries]
    assert {"device.enroll", "enrollment_token.create", "employee.create", "console.login",
            "console_user.create", "device.revoke"} <= set(actions)
    assert admin.get("/api/v1/admin/devices").json()["devices"][0]["revoked_at"] is not None


def test_employee_conflicts_and_validation(harness):
    admin, csrf = harness.login("security_admin")
    h = {"X-CSRF-Token": csrf}
    ok = admin.post("/api/v1/admin/employees", headers=h,
                    json={"email": "E1042@corp.example", "home_country": "gb",
                          "aliases": ["e1042", "CORP\\e1042"]})
    assert ok.status_code == 201 and ok.json()["email"] == "e1042@corp.example"
    assert ok.json()["home_country"] == "GB"
    clash = admin.post("/api/v1/admin/employees", headers=h,
                       json={"email": "x@corp.example", "home_country": "GB",
                             "aliases": ["corp\\E1042"]})
    assert (clash.status_code, clash.json()["error"]) == (409, "conflict")
    bad = admin.post("/api/v1/admin/employees", headers=h,
                     json={"email": "y@corp.example", "home_country": "XX"})
    assert bad.status_code == 422 and bad.json()["fields"][0]["path"] == "home_country"
    listed = admin.get("/api/v1/admin/employees").json()["employees"]
    assert [(e["email"], e["aliases"]) for e in listed] == [
        ("e1042@corp.example", ["e1042", "CORP\\e1042"])]
