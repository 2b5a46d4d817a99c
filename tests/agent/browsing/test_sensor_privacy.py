"""The whole path in the real sensor host: history file -> nudge -> outbox, and what leaves.

Every event the browsing sensor queues is scanned for anything URL-like: schemes, host names,
the labels of the visited hosts, titles. Only a miscategorisation report the employee chose to
send may carry a host, and then only {host, category}.
"""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime

import pytest

from agent import enrolment
from agent.outbox import Outbox
from agent.paths import resolve_home
from agent.platform.base import BrowserRoot
from agent.sensors.browsing import BrowsingSensor
from agent.sensors.host import SensorHost
from agent.settings import Settings
from agent.store import Store
from rules.model import Bundle, Category, NudgeRule
from tests.waiting import wait_for

VISITED = ["www.casino.com", "bet.example", "news.example", "play.casino.com"]
HOSTNAME = re.compile(r"(?i)\b(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z][a-z0-9-]+\b")
URLISH = re.compile(r"(?i)[a-z][a-z0-9+.-]*://|www\.|/[a-z0-9_-]+/")


class Platform:
    """The platform seam: only the browser profile roots matter here."""

    def __init__(self, root) -> None:
        self.root = root

    def browser_profile_roots(self):
        return [BrowserRoot("firefox", "firefox", self.root)]


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


BUNDLE = Bundle(version=3, categories={
    "gambling": Category(title="Online gambling", domains=("casino.com", "bet.example"),
                         reasons={"AE": "Online gambling is illegal in the country you are in."}),
    "news": Category(title="News", domains=("news.example",))},
    nudges=(NudgeRule(categories=("gambling",), countries="outside_home",
                      messages=("{category}: {reason}",), cooldown_minutes=0,
                      heed_window_minutes=10),))


@pytest.fixture
def running(firefox_db, tmp_path):
    db = firefox_db()
    home = resolve_home(tmp_path / "agent")
    store = Store(home)
    enrolment.save(store, enrolment.Enrolment("https://heedful.test", "d", "s",
                                              employee={"home_country": "GB"}))
    outbox, clock, shown = Outbox(store), Clock(), []
    sensor = BrowsingSensor(debounce=0.05, settle=0.0, tick_seconds=0.1, deliver=shown.append)
    host = SensorHost([sensor], store=store, outbox=outbox,
                      platform=Platform(db.path.parent.parent), settings=Settings(), clock=clock)
    host.location = {"country_code": "AE"}
    host.start(BUNDLE)
    wait_for(lambda: sensor.watcher is not None and sensor.watcher.profiles)
    wait_for(lambda: store.get_checkpoint(f"browsing:browsing:firefox:{db.path.parent}"))
    yield db, sensor, outbox, clock, shown, home
    host.stop()
    store.close()


def test_nothing_url_like_ever_leaves_and_reports_only_when_sent(running):
    db, sensor, outbox, clock, shown, home = running
    for host in VISITED[:3]:
        db.visit(f"https://{host}/private/path?q=secret", datetime.now(UTC))
    wait_for(lambda: len(shown) == 2)
    assert {n.host for n in shown} == {"www.casino.com", "bet.example"}
    casino, bet = sorted(shown, key=lambda n: n.host, reverse=True)
    sensor.choose(bet.id, "miscategorised")  # chosen, but not sent
    clock.now += 11 * 60  # the heed window passes without a return to casino.com
    outcomes = wait_for(lambda: [e for e in outbox.peek(100) if e.type == "nudge_outcomes"])
    assert outcomes[0].data == {"counts": [
        {"category": "gambling", "country": "AE", "outcome": "heeded", "count": 1},
        {"category": "gambling", "country": "AE", "outcome": "miscategorised", "count": 1}]}

    everything = json.dumps([e.as_wire() for e in outbox.peek(100)])
    assert not HOSTNAME.search(everything) and not URLISH.search(everything)
    for word in ("casino", "bet", "news", "private", "secret", "title"):
        assert word not in everything
    assert "nudge_miscategorised" not in everything

    sensor.choose(casino.id, "miscategorised", send_report=True)  # explicitly sent
    reports = [e for e in outbox.peek(100) if e.type == "nudge_miscategorised"]
    assert [r.data for r in reports] == [{"host": "www.casino.com", "category": "gambling"}]
    assert (home / "nudges.db").stat().st_mode & 0o777 == 0o600


def test_status_and_rules_update(running):
    db, sensor, outbox, clock, shown, home = running
    assert sensor.status()["profiles"] == 1
    db.visit("https://news.example/", datetime.now(UTC))
    time.sleep(0.5)
    assert shown == [] and outbox.peek(10) == []
