"""The protocol over a real socket: `heedful-server run` (uvicorn) in a subprocess."""

from __future__ import annotations

import json
import socket
import uuid

import httpx

from server.services import enrollment, fleet
from server.services.audit import Actor
from server.services.clock import utc_now
from server.storage.db import Database


def _token(url: str) -> str:
    db = Database(url)
    try:
        with db.transaction() as s:
            fleet.add_employee(s, email="e1042@corp.example", home_country="GB", aliases=(),
                               actor=Actor("test"), now=utc_now())
            return enrollment.issue_token(s, email="e1042@corp.example", lifetime_seconds=600,
                                          actor=Actor("test"), now=utc_now()).token
    finally:
        db.dispose()


def test_enrol_checkin_and_rules_over_a_socket(live_server, migrated_url):
    token = _token(migrated_url)
    with httpx.Client(base_url=live_server.url, timeout=10) as client:
        enrolled = client.post("/api/v1/enroll", json={"token": token, "name": "LIVE",
                                                       "os": "linux", "agent_version": "0.1.0"})
        assert enrolled.status_code == 201, enrolled.text
        device = enrolled.json()
        auth = {"Authorization": f"Device {device['device_id']}:{device['device_secret']}"}
        event = {"id": str(uuid.uuid4()), "type": "agent.started",
                 "occurred_at": "2024-05-02T09:00:00Z", "data": {}}
        body = {"state": {"agent_version": "0.1.0"}, "events": [event]}
        for _ in range(2):  # keep-alive, resent batch
            reply = client.post("/api/v1/checkin", json=body,
                                headers={**auth, "X-Request-ID": "live-1"})
            assert reply.status_code == 200, reply.text
            assert reply.json()["accepted_event_ids"] == [event["id"]]
            assert reply.headers["x-request-id"] == "live-1"
        again = client.post("/api/v1/enroll", json={"token": token, "name": "LIVE2",
                                                     "os": "linux", "agent_version": "0.1.0"})
        assert (again.status_code, again.json()["error"]) == (410, "token_used")
        rules = client.get("/api/v1/rules/current", headers=auth)
        assert rules.json()["error"] == "rules_not_published"
        assert client.get("/readyz").json()["status"] == "ready"
        metrics = client.get("/metrics").text
        assert "heedful_checkins_total 2" in metrics
    log_lines = [json.loads(line) for line in live_server.log.read_text().splitlines()
                 if line.startswith("{")]
    access = [r for r in log_lines if r.get("logger") == "heedful.access"]
    assert any(r["request_id"] == "live-1" and r["status"] == 200 for r in access)
    assert device["device_secret"] not in live_server.log.read_text()
    assert token not in live_server.log.read_text()


def test_chunked_oversized_body_is_refused_before_it_ends(live_server):
    """Send a chunked body past the 4 KiB limit and never finish it: the server must answer
    413 on its own, which it can only do if it counts while streaming."""
    with socket.create_connection(("127.0.0.1", live_server.port), timeout=10) as sock:
        sock.sendall(b"POST /api/v1/checkin HTTP/1.1\r\nHost: x\r\n"
                     b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
        chunk = b"1000\r\n" + b" " * 0x1000 + b"\r\n"
        sock.sendall(chunk * 2)  # 8 KiB, no terminating chunk
        reply = b""
        while b"\r\n\r\n" not in reply:
            data = sock.recv(65536)
            if not data:
                break
            reply += data
    assert reply.startswith(b"HTTP/1.1 413"), reply[:200]
