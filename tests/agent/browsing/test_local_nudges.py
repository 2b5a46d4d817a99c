"""Nudges reach the tray through the real local API and the tray's choices come back.

A real `Agent` (store, notifications, sensor host, syncer) runs the real `BrowsingSensor` on a
Firefox-schema history database; the tray is a real `LocalClient` over loopback HTTP; check-ins
go to a real HTTP server that records what it receives. Nothing of a local notification may
reach the outbox, the state database, or a check-in.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from agent import enrolment
from agent.localapi import LocalApi
from agent.localclient import LocalApiError, LocalClient
from agent.platform.base import BrowserRoot
from agent.runtime import Agent
from agent.sensors.browsing import BrowsingSensor
from rules.model import Bundle, Category, NudgeRule
from tests.waiting import wait_for

HOSTNAME = re.compile(r"(?i)\b(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z][a-z0-9-]+\b")
URLISH = re.compile(r"(?i)[a-z][a-z0-9+.-]*://|www\.|/[a-z0-9_-]+/")
BUNDLE = Bundle(version=3, categories={
    "gambling": Category(title="Online gambling", domains=("casino.com", "bet.example"),
                         reasons={"AE": "Online gambling is illegal in the country you are in."}),
    "news": Category(title="News", domains=("news.example",))},
    nudges=(NudgeRule(categories=("gambling",), countries="outside_home",
                      messages=("{category}: {reason}",), cooldown_minutes=0,
                      heed_window_minutes=10),))


class Platform:
    """The platform seam: only the browser profile roots matter here."""

    NAME = "linux"

    def __init__(self, root: Path) -> None:
        self.root = root

    def browser_profile_roots(self):
        return [BrowserRoot("firefox", "firefox", self.root)]


class CheckinServer:
    """A real HTTP server standing in for heedful-server: accepts every event, records all."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                owner.requests.append(("POST", self.path, body))
                reply = {"rules_version": None, "notifications": [],
                         "location": {"kind": "public", "country_code": "AE", "city": "Dubai",
                                      "source": "request_ip"},
                         "next_checkin_seconds": 60, "max_batch_size": 500,
                         "accepted_event_ids": [e["id"] for e in body.get("events", [])],
                         "server_time": "2026-03-02T09:30:00Z"}
                data = json.dumps(reply).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def running(firefox_db, tmp_path):
    db, server = firefox_db(), CheckinServer()
    home = tmp_path / "agent"
    sensor = BrowsingSensor(debounce=0.05, settle=0.0, tick_seconds=0.1)
    agent = Agent(home, platform=Platform(db.path.parent.parent), sensors=[sensor])
    enrolment.save(agent.store, enrolment.Enrolment(server.url, "dev-1", "secret-1",
                                                    employee={"home_country": "GB"}))
    agent.host.location = {"country_code": "AE"}
    agent.host.start(BUNDLE)
    local = LocalApi(agent)
    local.start()
    wait_for(lambda: sensor.watcher is not None and sensor.watcher.profiles)
    wait_for(lambda: agent.store.get_checkpoint(f"browsing:browsing:firefox:{db.path.parent}"))
    yield db, agent, sensor, LocalClient(home), server, home
    local.stop()
    agent.host.stop()
    agent.syncer.close()
    agent.store.close()
    server.close()


def visit(db, host: str) -> None:
    db.visit(f"https://{host}/private/path?q=secret", datetime.now(UTC))


def test_a_nudge_reaches_the_tray_and_every_choice_comes_back(running, caplog):
    db, agent, sensor, client, _, _ = running
    caplog.set_level(logging.INFO, logger="agent.sensors.browsing")
    got: list = []
    tray = threading.Thread(target=lambda: got.extend(client.notifications(after=0, wait=20)))
    tray.start()
    wait_for(agent.notifications.local.tray_connected)
    visit(db, "www.casino.com")
    tray.join(20)
    [note] = got
    assert (note["kind"], note["local"], note["title"]) == ("nudge", True, "Online gambling")
    assert note["body"] == "Online gambling: Online gambling is illegal in the country you " \
                           "are in."
    assert note["data"]["host"] == "www.casino.com" and note["data"]["country"] == "AE"
    assert [c["id"] for c in note["data"]["choices"]] == ["got_it", "why", "miscategorised"]
    assert "shown in the tray" in caplog.text  # a tray listened: no headless warning

    why = client.choose_nudge(note["id"], "why")
    assert why["open"] is True and "United Arab Emirates" in why["explanation"]
    assert "casino.com" in why["explanation"] and "Nothing was blocked" in why["explanation"]
    assert [n["id"] for n in client.notifications(after=0)] == [note["id"]]  # still shown
    done = client.choose_nudge(note["id"], "got_it")
    assert (done["open"], done["outcome"], done["report_queued"]) == (False, None, False)
    assert client.notifications(after=0) == []

    visit(db, "bet.example")
    [second] = wait_for(lambda: client.notifications(after=note["seq"]))
    assert second["seq"] > note["seq"] and second["data"]["host"] == "bet.example"
    report = client.choose_nudge(second["id"], "miscategorised", send_report=True)
    assert (report["outcome"], report["report_queued"]) == ("miscategorised", True)
    sent = [e.data for e in agent.outbox.peek(100) if e.type == "nudge_miscategorised"]
    assert sent == [{"host": "bet.example", "category": "gambling"}]

    with pytest.raises(LocalApiError) as unknown:
        client.choose_nudge("no-such-nudge", "got_it")
    assert (unknown.value.status, unknown.value.code) == (404, "not_found")
    with pytest.raises(LocalApiError) as bad:
        client.choose_nudge(second["id"], "block-it")
    assert bad.value.status == 400


def test_headless_nudge_goes_to_the_log_and_waits_for_a_tray(running, caplog):
    db, agent, sensor, client, _, _ = running
    caplog.set_level(logging.INFO, logger="agent.sensors.browsing")
    visit(db, "www.casino.com")
    wait_for(lambda: sensor.shown == 1)
    [record] = [r for r in caplog.records if r.name == "agent.sensors.browsing"]
    assert record.levelno == logging.WARNING and "www.casino.com" in record.getMessage()
    [note] = client.notifications(after=0)  # a tray started later still sees it
    assert client.ack(note["id"])["acked"] is True  # seen, without a choice
    assert client.notifications(after=0) == [] and agent.notifications.pending_acks() == []
    assert client.choose_nudge(note["id"], "dismiss")["outcome"] == "dismissed"


def test_a_stopped_sensor_says_so(running):
    db, agent, sensor, client, _, _ = running
    visit(db, "www.casino.com")
    [note] = wait_for(lambda: client.notifications(after=0))
    sensor.stop()
    with pytest.raises(LocalApiError) as stopped:
        client.choose_nudge(note["id"], "got_it")
    assert (stopped.value.status, stopped.value.code) == (503, "unavailable")


def counts(events) -> list[tuple]:
    """Every (category, country, outcome, count) of the nudge_outcomes events given."""
    return sorted((c["category"], c["country"], c["outcome"], c["count"]) for e in events
                  if e["type"] == "nudge_outcomes" for c in e["data"]["counts"])


def test_nothing_of_a_local_notification_leaves_or_is_kept(running):
    db, agent, sensor, client, server, home = running
    for host in ("www.casino.com", "bet.example", "news.example"):
        visit(db, host)
    notes = wait_for(lambda: len(client.notifications(after=0)) == 2
                     and client.notifications(after=0))
    casino, bet = sorted(notes, key=lambda n: n["data"]["host"], reverse=True)
    client.ack(casino["id"])
    client.choose_nudge(casino["id"], "dismiss")
    client.choose_nudge(bet["id"], "miscategorised")  # chosen, but not sent
    # the two outcomes may land in one batch or two, depending on the sensor's tick
    wait_for(lambda: len(counts(e.as_wire() for e in agent.outbox.peek(100))) == 2)
    agent.syncer.checkin()

    assert [path for _, path, _ in server.requests] == ["/api/v1/checkin"]  # no acks
    [(_, _, body)] = server.requests
    assert {e["type"] for e in body["events"]} == {"nudge_outcomes"}
    assert counts(body["events"]) == [("gambling", "AE", "dismissed", 1),
                                      ("gambling", "AE", "miscategorised", 1)]
    wire = json.dumps(body)
    assert not HOSTNAME.search(wire) and not URLISH.search(wire)
    for word in ("casino", "bet", "news", "private", "secret", "nudge_miscategorised"):
        assert word not in wire
    ledger = json.dumps([e.as_dict() for e in agent.ledger.entries(limit=100)])
    assert "casino" not in ledger and "bet.example" not in ledger
    for path in home.glob("agent.db*"):  # the state database, its WAL included
        assert b"casino" not in path.read_bytes() and b"bet.example" not in path.read_bytes()
