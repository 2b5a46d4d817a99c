"""Each employee's detector history during one ingestion run, loaded once and kept current.

The first time a batch mentions an employee, `ensure` loads in bulk what `EmployeeHistory`
needs (storage.signin_history): their sign-ins in the failure-burst window before the batch,
the latest earlier placeable successful sign-in however old, the learning-period count and
their known places. From then on the cache is updated in memory as sign-ins are judged, so a
million-event file costs a few queries per batch instead of several per sign-in. Laptop
check-in locations are read per batch (`checkins`), as they change independently.

`judge` runs the detectors, with one shortcut measured to matter at ingestion volume: a
successful sign-in from the same address as the employee's latest successful sign-in, which
raised no flag, with no laptop check-ins around, gets no flag without running the detectors.
That is exactly what they would conclude (same place: no new country, no travel, no
anonymiser that was not flagged a moment ago, no failure, no laptop to be away from); the
shortcut is only taken while DETECTORS is the set it was reasoned for.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Connection

from server.services.detectors import (
    DETECTORS,
    DetectorPolicy,
    DeviceCheckIn,
    EmployeeHistory,
    Flag,
    KnownPlace,
    LocatedSignIn,
    detect_all,
)
from server.services.detectors.impossible_travel import placeable
from server.services.signin_records import checkin_from_row, known_from_row, located_from_row
from server.storage import signin_history as store

KEEP_SUCCESSES = 4  # placeable successes kept beyond the window (impossible travel's "previous")
MAX_RECENT = 64  # a long failure storm must not make each judgement scan thousands
CACHE_LIMIT = 100_000  # employees kept between batches
SHORTCUT_SAFE_FOR = frozenset({"new_country", "impossible_travel", "anonymizer",
                               "failure_burst", "away_from_device"})


@dataclass
class EmployeeState:
    """What is known about one employee: recent sign-ins (time order), known places."""

    recent: list[LocatedSignIn] = field(default_factory=list)
    known: dict[str, KnownPlace] = field(default_factory=dict)
    confirmed_asns: set[int] = field(default_factory=set)
    first_seen: datetime | None = None
    count: int = 0
    # (address, time) of the latest successful sign-in if it raised no flag, else None
    clean_success: tuple[str, datetime] | None = None
    _known_tuple: tuple[KnownPlace, ...] | None = None

    def known_places(self) -> tuple[KnownPlace, ...]:
        if self._known_tuple is None:
            self._known_tuple = tuple(self.known.values())
        return self._known_tuple

    def add_known(self, key: str, place: KnownPlace) -> None:
        self.known[key] = place
        self._known_tuple = None

    def add(self, signin: LocatedSignIn, window: timedelta) -> None:
        """Insert in time order and forget what no detector will look at again."""
        if not self.recent or signin.occurred_at >= self.recent[-1].occurred_at:
            self.recent.append(signin)  # the usual case: logs come in time order
        else:
            times = [s.occurred_at for s in self.recent]
            self.recent.insert(bisect.bisect_right(times, signin.occurred_at), signin)
        if len(self.recent) > 2 * KEEP_SUCCESSES + 8:
            self._prune(window)

    def _prune(self, window: timedelta) -> None:
        cutoff = self.recent[-1].occurred_at - window
        successes = [s for s in self.recent if s.occurred_at < cutoff
                     and s.outcome == "success" and placeable(s.place)][-KEEP_SUCCESSES:]
        fresh = [s for s in self.recent if s.occurred_at >= cutoff][-MAX_RECENT:]
        self.recent = successes + fresh


class HistoryCache:
    """EmployeeState per employee id for one run (see module docstring)."""

    def __init__(self, policy: DetectorPolicy) -> None:
        self.policy = policy
        self.shortcut = set(DETECTORS) == SHORTCUT_SAFE_FOR
        self.window = max(policy.failure_burst_window, timedelta(minutes=1))
        self.states: dict[int, EmployeeState] = {}

    def ensure(self, conn: Connection, spans: dict[int, tuple[datetime, datetime]]) -> None:
        """Load the employees in `spans` (id -> first, last sign-in time of the batch) that
        are not cached yet."""
        missing = [e for e in spans if e not in self.states]
        if not missing:
            return
        if len(self.states) + len(missing) > CACHE_LIMIT:
            self.states.clear()
            missing = list(spans)
        start = min(spans[e][0] for e in missing)
        end = max(spans[e][1] for e in missing)
        states = {e: EmployeeState() for e in missing}
        for row in store.latest_placeable_success(conn, missing, start):
            states[row.employee_id].recent.append(located_from_row(row))
        for row in store.recent_signins(conn, missing, start - self.window, end):
            states[row.employee_id].add(located_from_row(row), self.window)
        cap = self.policy.learning_sign_ins
        for employee_id, (first, count) in store.baselines(conn, missing, cap).items():
            states[employee_id].first_seen, states[employee_id].count = first, count
        for row in store.known_places(conn, missing):
            self._learn_row(states[row.employee_id], row)
        self.states.update(states)

    @staticmethod
    def _learn_row(state: EmployeeState, row: object) -> None:
        mapping = row._mapping  # type: ignore[attr-defined]
        if mapping["kind"] == "network" and mapping["asn"] is not None:
            state.confirmed_asns.add(int(mapping["asn"]))
            return
        place = known_from_row(row)
        if place is not None:
            state.add_known(mapping["place_key"], place)

    def checkins(self, conn: Connection, employee_ids: Iterable[int], start: datetime,
                 end: datetime) -> dict[int, tuple[DeviceCheckIn, ...]]:
        """Laptop check-in locations around [start, end] (the away-from-device window)."""
        reach = self.policy.away_window
        out: dict[int, list[DeviceCheckIn]] = {}
        for row in store.device_locations(conn, employee_ids, start - reach, end + reach):
            out.setdefault(row.employee_id, []).append(checkin_from_row(row))
        return {e: tuple(items) for e, items in out.items()}

    def history(self, employee_id: int, checkins: tuple[DeviceCheckIn, ...] = ()
                ) -> EmployeeHistory:
        """The EmployeeHistory to judge this employee's next sign-in with."""
        state = self.states[employee_id]
        return EmployeeHistory(recent=tuple(state.recent), known_places=state.known_places(),
                               first_seen=state.first_seen, signin_count=state.count,
                               device_checkins=checkins,
                               confirmed_asns=frozenset(state.confirmed_asns))

    def judge(self, employee_id: int, signin: LocatedSignIn,
              checkins: tuple[DeviceCheckIn, ...]) -> tuple[list[Flag], bool]:
        """Flags for `signin`, then remember it (see `observe`). Returns (flags, whether its
        country became a known place that must be stored)."""
        state = self.states[employee_id]
        success = signin.outcome == "success"
        clean = state.clean_success
        if (self.shortcut and success and not checkins and clean is not None
                and signin.source_ip == clean[0] and signin.occurred_at >= clean[1]):
            flags: list[Flag] = []
        else:
            flags = detect_all(signin, self.history(employee_id, checkins), self.policy)
        if success and signin.source_ip:
            state.clean_success = None if flags else (signin.source_ip, signin.occurred_at)
        return flags, self.observe(employee_id, signin, learn=success and not flags)

    def observe(self, employee_id: int, signin: LocatedSignIn, *, learn: bool) -> bool:
        """Remember a judged sign-in; with `learn`, its country becomes a known place.
        Returns True when that country was not known before (it must be stored)."""
        state = self.states[employee_id]
        state.add(signin, self.window)
        state.count += 1
        if state.first_seen is None or signin.occurred_at < state.first_seen:
            state.first_seen = signin.occurred_at
        place = signin.place
        if not learn or place.kind != "public" or not place.country_code:
            return False
        key = f"country:{place.country_code}"
        if key in state.known:
            return False
        state.add_known(key, KnownPlace(country_code=place.country_code,
                                        country_name=place.country_name))
        return True
