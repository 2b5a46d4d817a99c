"""Reads what is new in one profile's history, exactly once across restarts.

`read_new(profile)` takes a consistent snapshot, reads rows after the profile's checkpoint
(the last visit id handled), applies the shared visit rules and returns a `ReadResult`. The
caller stores `result.checkpoint` with `commit()` once it has handled the visits, so a crash in
between reads them again rather than losing them.

* First read of a profile: the checkpoint starts at the newest visit, so installing the agent
  does not replay months of history (`backfill` overrides that, e.g. for tests and the CLI).
* If the database's newest id is below the checkpoint (history cleared, or Firefox reusing
  row ids after the newest rows were deleted) the checkpoint is lowered to it, so new visits
  are not mistaken for old ones.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from agent.browsing import chromium, firefox
from agent.browsing.profiles import Profile
from agent.browsing.snapshot import open_snapshot
from agent.browsing.visits import SETTLE_SECONDS, RawVisit, ReadResult, Visit, finish

CHECKPOINT_PREFIX = "browsing:"
FAMILIES = {"chromium": chromium, "firefox": firefox}


class CheckpointStore(Protocol):
    """Where per-profile checkpoints live (`agent.store.Store` provides exactly this)."""

    def get_checkpoint(self, name: str, default: Any = None) -> Any: ...

    def put_checkpoint(self, name: str, value: Any) -> None: ...


def _family(name: str):
    try:
        return FAMILIES[name]
    except KeyError:
        raise ValueError(f"unknown browser family {name!r}; known: chromium, firefox") from None


def read_rows(conn: sqlite3.Connection, family: str, after_id: int,
              since: datetime | None = None) -> list[RawVisit]:
    """Classified rows of an open history database (copy) newer than `after_id`."""
    return _family(family).read_rows(conn, after_id, since)


def read_database(db: Path, family: str, *, since: datetime | None = None,
                  now: datetime | None = None, settle: float = 0.0,
                  temp_root: Path | None = None) -> list[Visit]:
    """Every visit in a history database (via a snapshot), optionally from `since` on."""
    with open_snapshot(db, temp_root=temp_root) as conn:
        rows = read_rows(conn, family, 0, since)
    return list(finish(rows, checkpoint=0, now=now or datetime.now(UTC), settle=settle).visits)


class HistoryReader:
    """Incremental reads of profiles, with checkpoints in a `CheckpointStore`.

    A checkpoint is `{"id": last visit id handled, "time": its stored time}`. The time guards
    against reused ids: if the row at that id is gone or has another time, history was
    cleared (Firefox gives the ids of deleted newest rows to new visits), and reading resumes
    at the first visit dated after the stored time instead.
    """

    def __init__(self, checkpoints: CheckpointStore, *, settle: float = SETTLE_SECONDS,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 backfill: bool = False, temp_root: Path | None = None) -> None:
        self.checkpoints, self.settle, self.clock = checkpoints, settle, clock
        self.backfill, self.temp_root = backfill, temp_root

    def _stored(self, profile: Profile) -> dict[str, int] | None:
        value = self.checkpoints.get_checkpoint(CHECKPOINT_PREFIX + profile.key)
        if isinstance(value, int):
            return {"id": value, "time": None}
        return value if isinstance(value, dict) and "id" in value else None

    def checkpoint_of(self, profile: Profile) -> int | None:
        """The last visit id handled for a profile (None before its first read)."""
        stored = self._stored(profile)
        return int(stored["id"]) if stored else None

    def _resume_point(self, conn: sqlite3.Connection, module, stored) -> int:
        if stored is None:
            return 0 if self.backfill else module.max_visit_id(conn)
        last, raw_time = int(stored["id"]), stored.get("time")
        if raw_time is None or module.time_of(conn, last) == raw_time:
            return min(last, module.max_visit_id(conn))
        return module.last_id_before(conn, raw_time)

    def read_new(self, profile: Profile) -> ReadResult:
        """Visits after the profile's checkpoint; raises SnapshotError when unreadable now."""
        module = _family(profile.family)
        stored = self._stored(profile)
        with open_snapshot(profile.database, temp_root=self.temp_root) as conn:
            after = self._resume_point(conn, module, stored)
            rows = module.read_rows(conn, after)
            result = finish(rows, checkpoint=after, now=self.clock(), settle=self.settle)
            result = replace(result, checkpoint_time=module.time_of(conn, result.checkpoint))
            start = {"id": after, "time": module.time_of(conn, after)}
        if stored is None or start["id"] != stored["id"]:
            self._save(profile, start)  # remember the starting point, or the corrected one
        return result

    def commit(self, profile: Profile, result: ReadResult) -> None:
        """Persist the checkpoint of a read once its visits were handled."""
        self._save(profile, {"id": result.checkpoint, "time": result.checkpoint_time})

    def _save(self, profile: Profile, value: dict[str, int | None]) -> None:
        self.checkpoints.put_checkpoint(CHECKPOINT_PREFIX + profile.key, value)
