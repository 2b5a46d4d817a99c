"""Error replies everywhere (404/405/413/500/503 as JSON with a code), request ids, and the
operations endpoints (/healthz, /readyz, /metrics, OpenAPI)."""

from __future__ import annotations

import asyncio
import json

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from server.app import create_app
from server.storage import devices as device_store

DEAD_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:9/heedful"  # discard port: refused


def test_unknown_path_and_wrong_method_are_json(harness):
    missing = harness.client.get("/api/v1/nothing-here")
    assert missing.status_code == 404
    assert missing.json()["error"] == "not_found" and missing.json()["message"]
    wrong = harness.client.get("/api/v1/checkin")
    assert (wrong.status_code, wrong.json()["error"]) == (405, "method_not_allowed")
    assert wrong.json()["request_id"] == wrong.headers["x-request-id"]


def test_request_id_is_echoed_or_generated(harness):
    echoed = harness.client.get("/healthz", headers={"X-Request-ID": "trace-abc-123"})
    assert echoed.headers["x-request-id"] == "trace-abc-123"
    generated = harness.client.get("/healthz", headers={"X-Request-ID": "bad id\twith tab"})
    assert len(generated.headers["x-request-id"]) == 32


def test_unexpected_error_is_500_json_with_request_id(harness):
    def boom() -> None:
        raise RuntimeError("kaboom with a secret value")

    harness.app.add_api_route("/test-boom", boom)
    client = TestClient(harness.app, raise_server_exceptions=False)
    reply = client.get("/test-boom", headers={"X-Request-ID": "req-500"})
    assert reply.status_code == 500
    assert reply.json()["error"] == "internal_error"
    assert reply.json()["request_id"] == "req-500"
    assert "kaboom" not in reply.text  # internals are logged, not shown


def test_declared_oversized_body_is_413_before_reading(make_harness):
    h = make_harness(max_body_bytes=1000)
    device = h.enroll()
    big = h.checkin(device, [h.event(blob="x" * 2000)])
    assert (big.status_code, big.json()["error"]) == (413, "body_too_large")
    with h.ctx.db.transaction() as s:
        assert device_store.get_state(s, device["device_id"]).checkins == 0


def test_streamed_oversized_body_is_cut_off_at_the_limit(make_harness):
    """Driven at the ASGI level, so we see how much of the body the app pulled."""
    h = make_harness(max_body_bytes=1000)
    device = h.enroll()
    pulled: list[int] = []
    sent: list[dict] = []

    async def receive() -> dict:
        pulled.append(100)
        return {"type": "http.request", "body": b" " * 100, "more_body": len(pulled) < 100}

    async def send(message: dict) -> None:
        sent.append(message)

    auth = h.auth(device)["Authorization"].encode()
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "POST", "scheme": "http", "path": "/api/v1/checkin", "raw_path":
             b"/api/v1/checkin", "query_string": b"", "root_path": "",
             "headers": [(b"content-type", b"application/json"), (b"authorization", auth),
                         (b"transfer-encoding", b"chunked")],
             "client": ("127.0.0.1", 5000), "server": ("testserver", 80)}
    asyncio.run(h.app(scope, receive, send))
    assert sent[0]["status"] == 413
    assert json.loads(sent[1]["body"])["error"] == "body_too_large"
    assert sum(pulled) <= 1100  # stopped right after the limit, not at 10,000 bytes


def test_small_enough_body_passes_the_limit(make_harness):
    h = make_harness(max_body_bytes=1000)
    device = h.enroll()
    assert h.checkin(device).status_code == 200


def _dead_app(tmp_path, clock, url):
    from server.settings import load_settings
    settings = load_settings(environ={"HEEDFUL_DATA_DIR": str(tmp_path / "d"),
                                      "HEEDFUL_DATABASE_URL": url,
                                      "HEEDFUL_ACCESS_LOG": "false"})
    return create_app(settings, now=clock, geolocator=None)


@pytest.mark.parametrize("url", [DEAD_POSTGRES, "sqlite:////nonexistent-dir/sub/heedful.db"])
def test_unreachable_database_gives_503_everywhere(tmp_path, clock, url):
    client = TestClient(_dead_app(tmp_path, clock, url))
    device = {"Authorization": "Device 3f2b9c1e-8d4a-4f8e-9a51-2c7d0e6b1a42:secret"}
    replies = [
        client.post("/api/v1/enroll", json={"token": "t", "name": "n", "os": "linux",
                                            "agent_version": "1"}),
        client.post("/api/v1/checkin", json={"state": {"agent_version": "1"}}, headers=device),
        client.get("/api/v1/rules/current", headers=device),
        client.get("/api/v1/admin/devices", headers={"Authorization": "Bearer x"}),
        client.get("/readyz"),
    ]
    for reply in replies:
        assert reply.status_code == 503, reply.text
        assert reply.json()["error"] == "database_unavailable"
    assert replies[0].headers["retry-after"] == "5"
    assert client.get("/healthz").status_code == 200  # liveness does not need the database


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_failure_mid_checkin_writes_nothing(database_url, tmp_path, clock, make_harness):
    """The state row is updated first; the event insert then times out on a lock held by
    another connection. The 503 must leave the state as it was."""
    h = make_harness(db_statement_timeout_ms=500)
    device = h.enroll()
    blocker = create_engine(database_url)
    with blocker.connect() as conn:
        conn.execute(text("BEGIN"))
        conn.execute(text("LOCK TABLE agent_events IN ACCESS EXCLUSIVE MODE"))
        reply = h.checkin(device, [h.event()])
        conn.execute(text("ROLLBACK"))
    blocker.dispose()
    assert (reply.status_code, reply.json()["error"]) == (503, "database_unavailable")
    with h.ctx.db.transaction() as s:
        assert device_store.get_state(s, device["device_id"]).checkins == 0
        assert device_store.events_of(s, device["device_id"]) == []
    assert h.checkin(device, [h.event()]).status_code == 200  # and it recovers


def test_readyz_reports_schema_state(harness, database_url, tmp_path, clock):
    from server.migrations import head_revision
    ready = harness.client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["schema"] == head_revision()


def test_readyz_on_an_unmigrated_database_is_503(database_url, tmp_path, clock):
    client = TestClient(_dead_app(tmp_path, clock, database_url))
    reply = client.get("/readyz")
    assert (reply.status_code, reply.json()["error"]) == (503, "schema_outdated")
    assert "heedful-server migrate" in reply.json()["message"]


def test_metrics_count_requests_checkins_and_events(harness):
    device = harness.enroll()
    harness.checkin(device, [harness.event(), harness.event()])
    harness.checkin(device)
    body = harness.client.get("/metrics")
    assert body.headers["content-type"].startswith("text/plain; version=0.0.4")
    lines = body.text.splitlines()
    assert 'heedful_http_requests_total{route="/api/v1/checkin",method="POST",status="200"} 2' \
        in lines
    assert "heedful_checkins_total 2" in lines
    assert 'heedful_agent_events_total{outcome="stored"} 2' in lines
    assert 'heedful_enrollments_total{result="enrolled"} 1' in lines
    assert any(line.startswith('heedful_http_request_duration_seconds_bucket{route='
                               '"/api/v1/checkin",method="POST",le="+Inf"} 2') for line in lines)


def test_metrics_token_when_configured(make_harness):
    h = make_harness(metrics_token="s3cret")
    assert h.client.get("/metrics").status_code == 401
    ok = h.client.get("/metrics", headers={"Authorization": "Bearer s3cret"})
    assert ok.status_code == 200 and "heedful_http_requests_total" in ok.text


def test_openapi_and_docs(harness):
    spec = harness.client.get("/api/openapi.json").json()
    for path in ("/api/v1/enroll", "/api/v1/checkin", "/api/v1/rules/current",
                 "/api/v1/notifications/{notification_id}/ack", "/api/v1/admin/devices"):
        assert path in spec["paths"], path
    checkin_body = spec["paths"]["/api/v1/checkin"]["post"]["requestBody"]
    assert "state" in checkin_body["content"]["application/json"]["schema"]["properties"]
    assert "CheckinReply" in spec["components"]["schemas"]
    docs = harness.client.get("/api/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
