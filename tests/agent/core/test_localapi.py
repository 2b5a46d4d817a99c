"""The tray's local API: real loopback server, real client, a real (not running) Agent."""

from __future__ import annotations

import http.client
import json
import os
import stat
import threading
import time
from pathlib import Path

import pytest

from agent import enrolment
from agent.localapi import LocalApi
from agent.localclient import AgentNotRunning, LocalApiError, LocalClient
from agent.runtime import Agent


@pytest.fixture
def api(tmp_path: Path):
    agent = Agent(tmp_path, sensors=[])
    local = LocalApi(agent)
    local.start()
    yield agent, local, LocalClient(tmp_path)
    local.stop()
    agent.store.close()


def raw_get(port: int, path: str, headers: dict[str, str]) -> tuple[int, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.putrequest("GET", path, skip_host=True)
    for key, value in headers.items():
        conn.putheader(key, value)
    conn.endheaders()
    reply = conn.getresponse()
    return reply.status, json.loads(reply.read())


def test_secret_file_is_private_and_required(api, tmp_path: Path):
    agent, local, client = api
    assert stat.S_IMODE(os.stat(tmp_path / "localapi.secret").st_mode) == 0o600
    port = local.address["port"]
    good_host = {"Host": f"127.0.0.1:{port}"}
    assert raw_get(port, "/v1/status", good_host)[0] == 401
    wrong = {**good_host, "Authorization": "Bearer guess"}
    assert raw_get(port, "/v1/status", wrong) == (401, {"error": "unauthorized",
                                                        "message": "missing or wrong local "
                                                                   "API secret"})
    assert client.status()["enrolment"]["state"] == "not_enrolled"


def test_host_header_of_a_rebound_dns_name_is_refused(api):
    agent, local, _ = api
    port = local.address["port"]
    headers = {"Host": f"evil.example:{port}", "Authorization": f"Bearer {local.secret}"}
    status, body = raw_get(port, "/v1/status", headers)
    assert status == 403 and body["error"] == "bad_host"
    headers["Host"] = f"localhost:{port}"
    assert raw_get(port, "/v1/status", headers)[0] == 200


def test_status_says_what_cannot_be_seen(api):
    status = api[2].status()
    assert status["agent"]["running"] is True
    names = {c["name"] for c in status["capabilities"]}
    assert {"idle", "lock", "sleep_wake"} <= names
    assert status["outbox"] == {"depth": 0, "oldest_queued_at": None, "dropped_total": 0,
                                "rejected_total": 0}


def test_notifications_long_poll_wakes_on_arrival_and_ack_is_queued(api):
    agent, _, client = api
    got: list = []
    waiter = threading.Thread(target=lambda: got.extend(client.notifications(after=0,
                                                                             wait=20)))
    waiter.start()
    time.sleep(0.2)
    agent.notifications.receive([{"id": "n-1", "kind": "message", "title": "Hello",
                                  "body": "Your laptop is protected.", "data": {}}])
    waiter.join(20)
    assert [n["id"] for n in got] == ["n-1"] and got[0]["seq"] == 1
    assert client.ack("n-1", response="was_me") == {"id": "n-1", "acked": True,
                                                    "response": "was_me"}
    assert client.notifications(after=0) == []
    assert agent.notifications.pending_acks() == [("n-1", "was_me")]
    with pytest.raises(LocalApiError) as missing:
        client.ack("n-404")
    assert missing.value.status == 404


def test_ledger_endpoint_shows_what_was_sent(api):
    agent, _, client = api
    agent.ledger.record("checkin", "check-in: state", {"state": {"idle_seconds": 1}})
    (entry,) = client.ledger()
    assert entry["kind"] == "checkin" and entry["detail"]["state"]["idle_seconds"] == 1


def test_proxy_needs_enrolment_and_explains_a_missing_server_endpoint(api, serve):
    agent, _, client = api
    with pytest.raises(LocalApiError) as not_enrolled:
        client.my_logins()
    assert (not_enrolled.value.status, not_enrolled.value.code) == (409, "not_enrolled")
    server = serve([(404, {"error": "not_found", "message": "Not Found"}, None),
                    (200, {"id": "l-1", "answer": "not_me", "case_id": 7}, None)])
    enrolment.save(agent.store, enrolment.Enrolment(f"http://127.0.0.1:{server.port}",
                                                    "dev-1", "secret-1"))
    with pytest.raises(LocalApiError) as absent:
        client.my_cases()
    assert (absent.value.status, absent.value.code) == (404, "not_available")
    assert client.answer_login("l-1", "not_me")["case_id"] == 7
    method, path, headers, body = server.requests[1]
    assert (method, path) == ("POST", "/api/v1/me/logins/l-1/answer")
    assert headers["Authorization"] == "Device dev-1:secret-1"
    assert json.loads(body) == {"answer": "not_me"}
    server.close()
    with pytest.raises(LocalApiError) as down:
        client.my_logins()
    assert (down.value.status, down.value.code) == (502, "server_unreachable")


def test_sensor_endpoints_answer_503_without_their_sensor_and_unknown_paths_404(api):
    with pytest.raises(LocalApiError) as caught:
        api[2].call("POST", "/v1/seal-now", {})
    assert caught.value.status == 404
    with pytest.raises(LocalApiError) as caught:  # this agent runs no seal sensor
        api[2].seal_status()
    assert (caught.value.status, caught.value.code) == (503, "unavailable")


def test_client_says_when_no_agent_runs(tmp_path: Path):
    with pytest.raises(AgentNotRunning):
        LocalClient(tmp_path / "nobody").status()


def test_unix_socket_transport(tmp_path: Path):
    agent = Agent(tmp_path, sensors=[])
    local = LocalApi(agent, socket_path=str(tmp_path / "api.sock"))
    local.start()
    try:
        assert LocalClient(tmp_path).status()["agent"]["running"] is True
        assert stat.S_IMODE(os.stat(tmp_path / "api.sock").st_mode) == 0o600
    finally:
        local.stop()
        agent.store.close()


def test_sign_in_paging_reaches_the_server_and_nothing_else_is_forwarded(api, serve):
    agent, local, client = api
    page = {"logins": [], "next_cursor": None}
    server = serve([(200, page, None), (200, page, None)])
    enrolment.save(agent.store, enrolment.Enrolment(f"http://127.0.0.1:{server.port}",
                                                    "dev-1", "secret-1"))
    assert client.my_logins(cursor="c-42", limit=20) == page
    status, _ = raw_get(local.address["port"], "/v1/me/logins?cursor=c-43&debug=1",
                        {"Host": f"127.0.0.1:{local.address['port']}",
                         "Authorization": f"Bearer {local.secret}"})
    assert status == 200
    assert [path for _, path, _, _ in server.requests] == [
        "/api/v1/me/logins?cursor=c-42&limit=20", "/api/v1/me/logins?cursor=c-43"]
