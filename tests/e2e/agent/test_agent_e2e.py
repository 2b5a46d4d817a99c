"""The real agent process against the real server process (see conftest.py)."""

from __future__ import annotations

import contextlib
import threading
import time
from pathlib import Path

import pytest

from agent.localclient import LocalApiError
from agent.platform import utmp
from agent.sync import FAULT_MARKER

from .conftest import wait_for

pytestmark = pytest.mark.slow


def add_logins(wtmp: Path, *users: str) -> None:
    """Append real-format wtmp records (as login(1)/sshd would) for `users`, now."""
    now = int(time.time())
    with wtmp.open("ab") as handle:
        for n, user in enumerate(users):
            handle.write(utmp.pack_record(utmp.UtmpRecord(
                utmp.USER_PROCESS, 4000 + n, f"pts/{n}", f"ts{n}", user, "192.0.2.44", 0,
                now, n, "192.0.2.44")))


def checkin_expecting_death(agent) -> None:
    """Ask for a check-in whose reply never comes: the agent is killed while it waits."""
    with contextlib.suppress(LocalApiError):
        agent.client.call("POST", "/v1/checkin", {}, timeout=5)


def signins_on_server(server, device_id: str) -> list[str]:
    return [data["identity"] for _, kind, data in server.events(device_id)
            if kind == "laptop_signin"]


def test_enrol_check_in_apply_rules_and_deliver_a_notification(e2e, database_url):
    server, agent = e2e(database_url)
    device = agent.enroll(server.url, server.token())
    agent.start()
    assert agent.checkin()["outcome"] == "ok"
    status = agent.status()
    assert status["enrolment"]["state"] == "enrolled" and status["server"]["reachable"]
    assert status["rules"]["version"] is None  # built-in defaults until something is published

    server.publish(1, threshold=120)
    assert agent.checkin()["rules"] == "applied v1"
    assert agent.status()["rules"]["version"] == 1
    sensors = {s["name"]: s for s in agent.status()["sensors"]}
    assert sensors["presence"]["threshold_seconds"] == 120  # sensors were reconfigured

    nid = server.notify("Welcome to Heedful", "Your laptop is now protected.")
    agent.checkin()
    (note,) = agent.client.notifications(after=0, wait=5)
    assert (note["id"], note["title"]) == (nid, "Welcome to Heedful")
    agent.client.ack(nid, response="seen")
    wait_for(lambda: agent.checkin() and server.notification(nid)[0], 30,
             "the acknowledgement to reach the server")
    assert server.notification(nid)[1] == "seen"
    kinds = [kind for _, kind, _ in server.events(device)]
    assert "rules.applied" in kinds
    ledger = agent.cli("ledger", "--brief").stdout
    assert "enroll" in ledger and "check-in" in ledger and "acknowledged" in ledger
    agent.stop()


def test_tampered_and_rolled_back_bundles_are_refused(e2e):
    from .conftest import Relay

    server, agent = e2e()
    relay = Relay(server.port)
    try:
        agent.enroll(relay.url, server.token())
        agent.start()
        server.publish(1, threshold=120)
        assert agent.checkin()["rules"] == "applied v1"
        server.publish(2, threshold=180)
        relay.mode = "tamper"
        assert agent.checkin()["rules"] == "refused: SignatureInvalid"
        status = agent.status()
        assert status["rules"]["version"] == 1
        assert status["rules"]["refused"]["reason"] == "SignatureInvalid"
        relay.mode, relay.replay_body = "replay", relay.seen_envelopes[1]
        assert agent.checkin()["rules"] == "refused: RollbackRefused"
        assert agent.status()["rules"]["version"] == 1
        relay.mode = "pass"
        assert agent.checkin()["rules"] == "applied v2"
        assert agent.status()["rules"]["refused"] is None
        agent.checkin()
        device = agent.status()["enrolment"]["device_id"]
        refusals = [d["reason"] for _, k, d in server.events(device) if k == "rules.refused"]
        assert refusals == ["SignatureInvalid", "RollbackRefused"]
        agent.stop()
    finally:
        relay.close()


def test_server_down_and_kill_9_between_send_and_ack_cause_no_loss_and_no_duplicate(
        e2e, database_url):
    server, agent = e2e(database_url)
    device = agent.enroll(server.url, server.token())
    wtmp = agent.home.parent / "wtmp"
    wtmp.write_bytes(b"")
    agent.start()
    agent.checkin()
    server.stop()
    add_logins(wtmp, "u1", "u2", "u3")
    wait_for(lambda: agent.status()["outbox"]["depth"] >= 3, 30, "sign-ins to be queued")
    failed = agent.checkin()
    assert failed["outcome"] == "failed" and failed["reachable"] is False
    assert agent.status()["server"]["reachable"] is False
    server.start()
    wait_for(lambda: agent.checkin()["outcome"] == "ok" and
             agent.status()["outbox"]["depth"] == 0, 30, "the backlog to drain")
    assert sorted(signins_on_server(server, device)) == ["u1", "u2", "u3"]

    agent.stop()
    add_logins(wtmp, "u4", "u5")
    agent.start(HEEDFUL_AGENT_FAULT_PAUSE_AFTER_SEND="600")
    marker = agent.home / FAULT_MARKER
    wait_for(lambda: agent.status()["outbox"]["depth"] >= 2 or marker.exists(), 30)
    if not marker.exists():  # the start-up check-in went before the sign-ins were queued
        threading.Thread(target=checkin_expecting_death, args=(agent,), daemon=True).start()
    wait_for(marker.exists, 30, "the agent to pause between send and acknowledge")
    agent.kill9()
    assert sorted(signins_on_server(server, device)) == ["u1", "u2", "u3", "u4", "u5"]
    marker.unlink()
    agent.start()
    wait_for(lambda: agent.checkin()["outcome"] == "ok" and
             agent.status()["outbox"]["depth"] == 0, 30, "the resend")
    assert sorted(signins_on_server(server, device)) == ["u1", "u2", "u3", "u4", "u5"]
    agent.stop()


def test_re_enrol_after_revocation(e2e):
    server, agent = e2e()
    first = agent.enroll(server.url, server.token())
    agent.start()
    assert agent.checkin()["outcome"] == "ok"
    server.cli("devices", "revoke", first)
    assert agent.checkin()["outcome"] == "device_invalid"
    status = agent.status()
    assert status["enrolment"]["state"] == "needs_reenrolment"
    assert "refused the credential" in status["enrolment"]["status_reason"]
    add_logins(agent.home.parent / "wtmp", "while-revoked")
    wait_for(lambda: agent.status()["outbox"]["depth"] >= 1, 30, "the sign-in to be queued")
    second = agent.enroll(server.url, server.token())
    assert second != first
    wait_for(lambda: agent.checkin()["outcome"] == "ok" and
             agent.status()["outbox"]["depth"] == 0, 30, "check-ins with the new credential")
    assert signins_on_server(server, second) == ["while-revoked"]
    assert agent.status()["enrolment"]["state"] == "enrolled"
    agent.stop()
