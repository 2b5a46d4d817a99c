"""The detector history kept during an ingestion run: its repeat-sign-in shortcut must give
exactly the flags the detectors give, and its pruning must keep what they look at."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from server.services.detectors import DetectorPolicy, DeviceCheckIn, LocatedSignIn
from server.services.geo import Place
from server.services.history_cache import KEEP_SUCCESSES, EmployeeState, HistoryCache

START = datetime(2024, 4, 1, tzinfo=UTC)
PLACES = [
    Place("public", "81.2.69.142", "GB", "United Kingdom", "London", 51.5, -0.12, 20.0),
    Place("public", "203.178.128.1", "JP", "Japan", "Tokyo", 35.68, 139.75, 20.0),
    Place("public", "89.160.20.112", "SE", "Sweden", "Stockholm", 59.33, 18.05, 200.0),
    Place("public", "8.8.8.8", "US", "United States", None, 37.75, -97.82, 1000.0),
    Place("public", "185.220.101.1", "DE", "Germany", None, 51.3, 9.5, 100.0, asn=205100,
          network_org="Tor exits", is_anonymizer=True),
    Place("public", "34.1.1.1", "US", "United States", None, 39.0, -77.5, 50.0, asn=15169,
          network_org="Cloud", is_hosting=True),
    Place("internal", "10.0.0.5"),
    Place("unknown", "192.0.2.300"),
    Place("public", "2.2.2.2", "FR", "France"),  # a country without coordinates
]


def _run(seed: int, shortcut: bool) -> list[list[str]]:
    rng = random.Random(seed)
    cache = HistoryCache(DetectorPolicy())
    cache.shortcut = shortcut
    cache.states[1] = EmployeeState(first_seen=START - timedelta(days=30), count=20)
    out, at = [], START
    for n in range(400):
        at += timedelta(minutes=rng.choice([1, 2, 5, 30, 240, 1440]))
        place = rng.choice(PLACES[:2]) if rng.random() < 0.6 else rng.choice(PLACES)
        outcome = "failure" if rng.random() < 0.15 else "success"
        checkins = ()
        if rng.random() < 0.1:
            checkins = (DeviceCheckIn(at - timedelta(minutes=5), rng.choice(PLACES), "d1"),)
        signin = LocatedSignIn(f"s{n}", at, outcome, place, "e1042", place.ip, "okta")
        flags, _ = cache.judge(1, signin, checkins)
        out.append([f.reason for f in flags])
    return out


def test_the_repeat_shortcut_changes_no_verdict() -> None:
    for seed in range(12):
        with_shortcut, without = _run(seed, True), _run(seed, False)
        assert with_shortcut == without, seed
        assert any(with_shortcut)  # the sequences do raise flags


def test_pruning_keeps_the_failure_window_and_recent_successes() -> None:
    state = EmployeeState()
    window = timedelta(minutes=10)
    london = PLACES[0]
    for n in range(50):
        at = START + timedelta(minutes=n)
        outcome = "success" if n % 10 == 0 else "failure"
        state.add(LocatedSignIn(f"s{n}", at, outcome, london), window)
    newest = state.recent[-1].occurred_at
    kept = {s.id for s in state.recent}
    assert {f"s{n}" for n in range(40, 50)} <= kept  # everything in the window
    assert {"s0", "s10", "s20", "s30"} <= kept  # the latest placeable successes before it
    assert newest == START + timedelta(minutes=49)
    assert len(state.recent) <= 2 * KEEP_SUCCESSES + 8  # old failures are forgotten
    late = LocatedSignIn("late", START + timedelta(minutes=5), "success", london)
    state.add(late, window)  # out of order: inserted in time order
    times = [s.occurred_at for s in state.recent]
    assert times == sorted(times)
