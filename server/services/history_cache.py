"""Each employee's detector history during one ingestion run, loaded once and kept current.

The first time a batch mentions an employee, `load` reads in bulk what `EmployeeHistory`
needs (storage.signin_history): their sign-ins in the failure-burst window before the batch,
the latest earlier placeable successful sign-in however old, the learning-period count and
their known places. From then on the cache is updated in memory as sign-ins are judged, so a
million-event file costs a few queries per batch instead of several per sign-in. Laptop
check-in locations are read per batch (`checkins`), as they change independently.

`judge` runs the detectors, with one shortcut measured to matter at ingestion volume: a
successful sign-in from the same location (address aside: two addresses of one office
count as one) as the employee's latest successful sign-in, which raised no flag, not earlier
than it, with no laptop check-ins around, gets no flag without running the detectors. That is
exactly what they would conclude: that sign-in is the latest placeable success (pruning
always keeps it), so there is no travel from it; its country became a known one; its network
raised no anonymiser flag a moment ago; a success is no failure; there is no laptop to be
away from. The shortcut is only taken while DETECTORS is the set it was reasoned for, and a
test checks it against the detectors on random histories.
"""

from __future__ import annotations

import bisect
from collections.abc import Collection, Iterable
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
    confirmed_asns: frozenset[int] = frozenset()
    first_seen: datetime | None = None
    count: int = 0
    # The latest successful sign-in with an address, if it raised no flag (else None), and
    # the time of the latest one either way.
    clean_success: LocatedSignIn | None = None
    latest_success_at: datetime | None = None
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
        recent = self.recent
        if not recent or signin.occurred_at >= recent[-1].occurred_at:
            recent.append(signin)  # the usual case: logs come in time order
        else:
            recent.insert(bisect.bisect_right(recent, signin.occurred_at, key=_time_of), signin)
        if len(recent) > 2 * KEEP_SUCCESSES + 8:
            self._prune(window)

    def remember(self, signin: LocatedSignIn, window: timedelta, learn: bool) -> bool:
        """Add a judged sign-in; with `learn`, its country becomes a known place. Returns
        True when that country was not known before (it must be stored)."""
        self.add(signin, window)
        self.count += 1
        if self.first_seen is None or signin.occurred_at < self.first_seen:
            self.first_seen = signin.occurred_at
        place = signin.place
        if not learn or place.kind != "public" or not place.country_code:
            return False
        key = "country:" + place.country_code
        if key in self.known:
            return False
        self.add_known(key, KnownPlace(country_code=place.country_code,
                                       country_name=place.country_name))
        return True

    def _prune(self, window: timedelta) -> None:
        """Keep the failure-burst window (at most MAX_RECENT of it) and the latest
        KEEP_SUCCESSES placeable successes before what is kept of it."""
        recent = self.recent
        cutoff = recent[-1].occurred_at - window
        split = max(bisect.bisect_left(recent, cutoff, key=_time_of), len(recent) - MAX_RECENT)
        successes = []
        for index in range(split - 1, -1, -1):  # newest first, until enough are found
            older = recent[index]
            if older.outcome == "success" and placeable(older.place):
                successes.append(older)
                if len(successes) == KEEP_SUCCESSES:
                    break
        successes.reverse()
        self.recent = successes + recent[split:]


def _time_of(signin: LocatedSignIn) -> datetime:
    return signin.occurred_at


class HistoryCache:
    """EmployeeState per employee id for one run (see module docstring)."""

    def __init__(self, policy: DetectorPolicy, limit: int = CACHE_LIMIT) -> None:
        self.policy = policy
        self.limit = limit  # employees kept; past it the cache starts again
        self.shortcut = set(DETECTORS) == SHORTCUT_SAFE_FOR
        self.window = max(policy.failure_burst_window, timedelta(minutes=1))
        self.states: dict[int, EmployeeState] = {}

    def admit(self, employees: Collection[int]) -> tuple[list[int], bool]:
        """Those of `employees` that `load` must read, and whether the cache had to start
        again to make room for them (then sign-ins it had judged may not be stored yet: the
        caller must wait for its writes before loading)."""
        missing = [e for e in employees if e not in self.states]
        if not missing or len(self.states) + len(missing) <= self.limit:
            return missing, False
        self.states.clear()
        return list(employees), True

    def load(self, conn: Connection, missing: list[int], start: datetime,
             end: datetime) -> None:
        """Read what judging the `missing` employees' sign-ins between `start` and `end`
        needs (see the module docstring)."""
        if not missing:
            return
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
        for state in states.values():
            state.latest_success_at = max((s.occurred_at for s in state.recent
                                           if s.outcome == "success" and s.source_ip),
                                          default=None)
        self.states.update(states)

    @staticmethod
    def _learn_row(state: EmployeeState, row: object) -> None:
        mapping = row._mapping  # type: ignore[attr-defined]
        if mapping["kind"] == "network" and mapping["asn"] is not None:
            state.confirmed_asns = state.confirmed_asns | {int(mapping["asn"])}
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
        return EmployeeHistory(tuple(state.recent), state.known_places(), state.first_seen,
                               state.count, checkins, state.confirmed_asns)

    def judge(self, employee_id: int, signin: LocatedSignIn,
              checkins: tuple[DeviceCheckIn, ...]) -> tuple[list[Flag], bool]:
        """Flags for `signin`, then remember it (EmployeeState.remember). Returns (flags,
        whether its country became a known place that must be stored)."""
        state = self.states[employee_id]
        success = signin.outcome == "success"
        clean = state.clean_success
        if (success and self.shortcut and clean is not None and not checkins
                and signin.occurred_at >= clean.occurred_at
                and (signin.place is clean.place or signin.place.same_location(clean.place))):
            flags: list[Flag] = []
        else:
            flags = detect_all(signin, self.history(employee_id, checkins), self.policy)
        if success and signin.source_ip:
            latest = state.latest_success_at
            if latest is None or signin.occurred_at >= latest:
                state.latest_success_at = signin.occurred_at
                state.clean_success = None if flags else signin
        return flags, state.remember(signin, self.window, success and not flags)
