"""The detector history kept during an ingestion run: its repeat-sign-in shortcut must give
exactly the flags the detectors give, and its pruning must keep what they look at."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from server.services.detectors import DetectorPolicy, DeviceCheckIn, KnownPlace, LocatedSignIn
from server.services.geo import Place
from server.services.history_cache import (
    KEEP_SUCCESSES,
    MAX_RECENT,
    EmployeeState,
    HistoryCache,
)

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
    # Another address of the London office and of the Tor exit: the same location
    Place("public", "81.2.69.160", "GB", "United Kingdom", "London", 51.5, -0.12, 20.0),
    Place("public", "185.220.101.2", "DE", "Germany", None, 51.3, 9.5, 100.0, asn=205100,
          network_org="Tor exits", is_anonymizer=True),
]
HOME = [PLACES[0], PLACES[1], PLACES[-2]]


def _run(seed: int, shortcut: bool) -> list[list[str]]:
    rng = random.Random(seed)
    cache = HistoryCache(DetectorPolicy())
    cache.shortcut = shortcut
    cache.states[1] = EmployeeState(first_seen=START - timedelta(days=30), count=20)
    out, at, storm = [], START, 0
    for n in range(600):
        if storm:  # a failure storm: more failures in the window than the cache keeps
            storm -= 1
            at += timedelta(seconds=5)
        elif rng.random() < 0.01:
            storm = 80
        elif rng.random() < 0.08:  # logs are not always in time order
            at -= timedelta(minutes=rng.choice([1, 3, 60]))
        else:
            at += timedelta(minutes=rng.choice([1, 2, 5, 30, 240, 1440]))
        place = rng.choice(HOME) if rng.random() < 0.6 else rng.choice(PLACES)
        outcome = "failure" if storm or rng.random() < 0.15 else "success"
        checkins = ()
        if rng.random() < 0.1:
            checkins = (DeviceCheckIn(at - timedelta(minutes=5), rng.choice(PLACES), "d1"),)
        signin = LocatedSignIn(f"s{n}", at, outcome, place, "e1042", place.ip, "okta")
        flags, _ = cache.judge(1, signin, checkins)
        out.append([f.reason for f in flags])
    return out


def test_the_repeat_shortcut_changes_no_verdict() -> None:
    for seed in range(20):
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


def test_a_failure_storm_does_not_hide_the_latest_success() -> None:
    """More failures in the window than the cache keeps must not push out the latest
    success: the next sign-in from the same place would be compared with an older one
    (Tokyo, an hour earlier) and wrongly flagged as impossible travel."""
    cache = HistoryCache(DetectorPolicy())
    cache.shortcut = False  # the detectors' own verdict, on the pruned history
    london, tokyo = PLACES[0], PLACES[1]
    cache.states[1] = EmployeeState(first_seen=START - timedelta(days=30), count=20, known={
        "country:GB": KnownPlace("GB"), "country:JP": KnownPlace("JP")})

    def judge(name: str, at: datetime, outcome: str, place: Place) -> list[str]:
        flags, _ = cache.judge(1, LocatedSignIn(name, at, outcome, place, "e1", place.ip), ())
        return [f.kind for f in flags]

    judge("tokyo", START, "success", tokyo)
    assert judge("london", START + timedelta(hours=13), "success", london) == []
    storm = START + timedelta(hours=13, minutes=1)
    for n in range(MAX_RECENT + 10):
        judge(f"f{n}", storm + timedelta(seconds=n), "failure", london)
    assert "london" in {s.id for s in cache.states[1].recent}
    assert judge("again", storm + timedelta(minutes=3), "success", london) == []
