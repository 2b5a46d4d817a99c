"""Nudges: country conditions, cooldown, daily cap, rotation, outcomes, counts and purge."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from agent.browsing.nudge_store import NudgeStore
from agent.browsing.nudger import NUDGE_OUTCOMES, Nudger
from agent.browsing.visits import Visit
from rules.model import Bundle, Category, NudgeRule

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC).timestamp()
MIN = 60.0


class Clock:
    """The clock seam (seconds since the epoch)."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now

    def advance(self, minutes: float) -> None:
        self.now += minutes * MIN


def make_bundle(**rule) -> Bundle:
    rule = {"name": "gambling-abroad", "categories": ("gambling",), "countries": "outside_home",
            "messages": ("A: {category}. {reason}", "B: careful with {site}",
                         "C: {category} in {country}"),
            "cooldown_minutes": 30, "daily_cap": 3, "heed_window_minutes": 10, **rule}
    return Bundle(version=1, categories={
        "gambling": Category(title="Online gambling", domains=("casino.com", "bet.example"),
                             reasons={"AE": "Online gambling is illegal in the country you "
                                            "are in."}),
        "news": Category(title="News", domains=("news.example",))},
        nudges=(NudgeRule(**rule),))


@pytest.fixture
def setup(tmp_path):
    clock = Clock()
    store = NudgeStore(tmp_path / "nudges.db")
    delivered = []
    ids = iter(f"n{i}" for i in range(1000))

    def make(**rule) -> Nudger:
        return Nudger(store, bundle=make_bundle(**rule), home_country="GB",
                      deliver=delivered.append, clock=clock, new_id=lambda: next(ids))

    yield make, clock, store, delivered
    store.close()


def visit(host: str, clock: Clock, seconds_ago: float = 1.0) -> Visit:
    return Visit(0, datetime.fromtimestamp(clock.now - seconds_ago, UTC), host)


def test_outside_home_needs_both_countries_known_and_different(setup):
    make, clock, _, delivered = setup
    nudger = make()
    assert nudger.observe([visit("www.casino.com", clock)], country="GB") == []
    assert nudger.observe([visit("www.casino.com", clock)], country=None) == []
    [nudge] = nudger.observe([visit("www.casino.com", clock)], country="AE")
    assert nudge.category == "gambling" and nudge.title == "Online gambling"
    assert nudge.message == "A: Online gambling. Online gambling is illegal in the country " \
                            "you are in."
    assert "United Arab Emirates" in nudge.why and "outside United Kingdom" in nudge.why
    assert [c for c, _ in nudge.choices] == ["got_it", "why", "miscategorised"]
    assert delivered == [nudge]


def test_country_list_and_any(setup):
    make, clock, _, _ = setup
    listed = make(countries=("AE", "QA"))
    assert listed.observe([visit("bet.example", clock)], country="FR") == []
    assert len(listed.observe([visit("bet.example", clock)], country="QA")) == 1
    anywhere = make(countries="any", categories=("news",))
    assert len(anywhere.observe([visit("news.example", clock)], country=None)) == 1


def test_unlisted_hosts_and_lookalikes_never_nudge(setup):
    make, clock, _, _ = setup
    nudger = make(countries="any")
    hosts = ["notcasino.com", "casino.com.evil.example", "example.org"]
    assert nudger.observe([visit(h, clock) for h in hosts], country="AE") == []


def test_cooldown_is_per_site(setup):
    make, clock, _, _ = setup
    nudger = make()
    assert len(nudger.observe([visit("www.casino.com", clock)], country="AE")) == 1
    clock.advance(5)
    assert nudger.observe([visit("casino.com", clock)], country="AE") == []  # same site
    assert len(nudger.observe([visit("bet.example", clock)], country="AE")) == 1  # another
    clock.advance(26)
    assert len(nudger.observe([visit("www.casino.com", clock)], country="AE")) == 1


def test_daily_cap_over_a_rolling_24_hours(setup):
    make, clock, _, _ = setup
    nudger = make(cooldown_minutes=0, daily_cap=2)
    for _ in range(2):
        assert len(nudger.observe([visit("casino.com", clock)], country="AE")) == 1
        clock.advance(1)
    assert nudger.observe([visit("bet.example", clock)], country="AE") == []
    clock.advance(23 * 60)
    assert nudger.observe([visit("bet.example", clock)], country="AE") == []
    clock.advance(60)
    assert len(nudger.observe([visit("bet.example", clock)], country="AE")) == 1


def test_message_variants_rotate(setup):
    make, clock, _, _ = setup
    nudger = make(cooldown_minutes=0, daily_cap=10)
    seen = []
    for _ in range(4):
        [nudge] = nudger.observe([visit("casino.com", clock)], country="AE")
        seen.append(nudge.message[0])
        clock.advance(1)
    assert seen == ["A", "B", "C", "A"]


def test_old_visits_do_not_nudge(setup):
    make, clock, _, _ = setup
    nudger = make()
    assert nudger.observe([visit("casino.com", clock, seconds_ago=3600)], country="AE") == []


def test_heeded_when_no_return_within_the_window(setup):
    make, clock, store, _ = setup
    nudger = make()
    [nudge] = nudger.observe([visit("casino.com", clock)], country="AE")
    clock.advance(5)
    nudger.observe([visit("www.casino.com", clock, seconds_ago=400)], country="AE")  # before
    clock.advance(6)
    assert nudger.expire() == 1
    assert store.get(nudge.id).outcome == "heeded"


def test_proceeded_on_return_to_the_site_or_a_subdomain(setup):
    make, clock, store, _ = setup
    nudger = make()
    [nudge] = nudger.observe([visit("casino.com", clock)], country="AE")
    clock.advance(3)
    nudger.observe([visit("play.casino.com", clock)], country="AE")
    assert store.get(nudge.id).outcome == "proceeded"
    clock.advance(20)
    assert nudger.expire() == 0


def test_dismissed_and_miscategorised_when_chosen_first(setup):
    make, clock, store, _ = setup
    nudger = make(cooldown_minutes=0)
    [first] = nudger.observe([visit("casino.com", clock)], country="AE")
    [second] = nudger.observe([visit("bet.example", clock)], country="AE")
    assert nudger.choose(first.id, "dismiss") == []
    assert nudger.choose(second.id, "miscategorised") == []  # not sent unless asked
    assert nudger.choose(first.id, "got_it") == []
    clock.advance(1)
    nudger.observe([visit("casino.com", clock), visit("bet.example", clock)], country="AE")
    assert store.get(first.id).outcome == "dismissed"
    assert store.get(second.id).outcome == "miscategorised"
    with pytest.raises(ValueError, match="unknown choice"):
        nudger.choose(first.id, "block it")


def test_outcome_counts_are_sent_once_and_history_is_purged(setup):
    make, clock, store, _ = setup
    nudger = make(cooldown_minutes=0, daily_cap=10)
    for host in ("casino.com", "bet.example", "casino.com"):
        nudger.observe([visit(host, clock)], country="AE")
    clock.advance(1)
    nudger.observe([visit("casino.com", clock)], country="GB")  # back home, back on casino
    clock.advance(11)
    event, batch = nudger.outgoing()
    again, same_batch = nudger.outgoing()  # a crash before `sent`: the very same event
    assert (again.id, same_batch) == (event.id, batch)
    assert event.type == NUDGE_OUTCOMES
    assert event.data == {"counts": [
        {"category": "gambling", "country": "AE", "outcome": "heeded", "count": 1},
        {"category": "gambling", "country": "AE", "outcome": "proceeded", "count": 2}]}
    nudger.sent(batch)
    assert nudger.outgoing() is None
    assert store.count() == 3  # kept for the cooldown/cap/heed windows
    clock.advance(24 * 60)
    nudger.sent(batch)
    assert store.count() == 0


def test_unsent_outcomes_are_not_purged(setup):
    make, clock, store, _ = setup
    nudger = make()
    nudger.observe([visit("casino.com", clock)], country="AE")
    clock.advance(3 * 24 * 60)
    nudger.expire()
    assert store.purge(clock()) == 0 and store.count() == 1


def test_a_failing_tray_still_counts_the_nudge(tmp_path):
    store = NudgeStore(tmp_path / "n.db")

    def broken(_nudge):
        raise ConnectionError("tray not running")

    clock = Clock()
    nudger = Nudger(store, bundle=make_bundle(), home_country="GB", deliver=broken, clock=clock)
    assert len(nudger.observe([visit("casino.com", clock)], country="AE")) == 1
    assert store.count() == 1
    store.close()


def test_purge_runs_even_when_there_is_nothing_new_to_send(setup, tmp_path):
    make, clock, store, _ = setup
    nudger = make()
    nudger.observe([visit("casino.com", clock)], country="AE")
    clock.advance(11)
    event, batch = nudger.outgoing()
    nudger.sent(batch)
    clock.advance(2 * 24 * 60)
    assert nudger.outgoing() is None
    assert store.count() == 0
    raw = (tmp_path / "nudges.db").read_bytes() + (tmp_path / "nudges.db-wal").read_bytes()
    assert b"casino.com" not in raw  # secure_delete: the purged host is not left on disk
