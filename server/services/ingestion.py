"""Sign-in ingestion: parse -> map identity -> geolocate -> judge -> store -> notify.

    with Ingestor(db, geolocator=geo, now=clock) as ingestor:
        ingestor.feed(parse("sshd", data, year=2026))
    report = ingestor.report.as_dict()  # {"accepted", "duplicates", "unmapped", "rejected"}

Sign-ins are judged in batches of `batch_size` (in time order within a batch) against a
`HistoryCache`, then each batch is stored in one transaction: the sign-ins (idempotent by
source event id), their flags, the learned countries and one "was this you?" notification per
new flagged sign-in of a known employee whose flags the rules say to notify about. A bad record
is only reported; it never stops the others. Re-ingesting the same data changes nothing: rows
that exist already create no flags and no notifications.

Each address is geolocated once per run (`_places` keeps its Place and the row columns it
gives). On PostgreSQL a batch is written by a writer thread while the next one is parsed and
judged, so the database's work overlaps Python's (two cores); SQLite writes in line. While an
Ingestor is open, the process is in batch mode (server.services.batch_writer.BatchMode says
why): the cyclic garbage collector paused and, with a writer thread, a shorter thread switch
interval; `pause_gc=False` (the API server, where other requests share the process) leaves
the process as it is.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from server.ingest.record import Rejection, SignIn
from server.services.batch_writer import BatchMode, BatchWriter
from server.services.clock import Clock, utc_now
from server.services.detectors import DeviceCheckIn, Flag, LocatedSignIn
from server.services.geo import Place
from server.services.history_cache import HistoryCache
from server.services.identity_map import IdentityMapper
from server.services.login_policy import LoginPolicy, current_policy
from server.services.signin_notices import notification_rows
from server.services.signin_records import (
    UNKNOWN_PLACE,
    country_place_row,
    place_columns,
    row_tuple,
)
from server.storage import signin_history, signins
from server.storage.db import Database
from server.storage.signin_insert import Inserted, Key, insert_batch
from server.storage.signins import EVENT_ID, SYSTEM

log = logging.getLogger(__name__)

# Sign-ins judged and stored together. Larger batches write each touched index page once
# per batch instead of once per few rows (WAL on both databases) and pay the per-batch
# queries less often: measured on 1,000,000 sign-ins, 5,000 -> 20,000 took PostgreSQL from
# 30,100 to 36,900 events/s and SQLite from 14,800 to 19,700. A batch of Okta events holds
# about 2 KB each in memory; on SQLite the write lock is held ~0.5 s per batch.
BATCH_SIZE = 20_000
MAX_REJECTIONS_LISTED = 1000
PLACES_KEPT = 200_000  # addresses whose place is remembered during a run
NO_FLAGS: list[Flag] = []


@dataclass
class IngestReport:
    """Counts of one ingestion. accepted: newly stored sign-ins (mapped or not); duplicates:
    already stored, so skipped; unmapped: accepted sign-ins no employee owns; rejected:
    unreadable records with their line (the first 1,000; `rejected_total` counts all)."""

    accepted: int = 0
    duplicates: int = 0
    unmapped: int = 0
    flagged: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)
    rejected_total: int = 0

    def reject(self, line: int, reason: str) -> None:
        self.rejected_total += 1
        if len(self.rejected) < MAX_REJECTIONS_LISTED:
            self.rejected.append({"line": line, "reason": reason})

    def as_dict(self) -> dict[str, Any]:
        """The JSON report of the API and `heedful-server ingest --json`."""
        return {"accepted": self.accepted, "duplicates": self.duplicates,
                "unmapped": self.unmapped, "flagged": self.flagged, "rejected": self.rejected,
                "rejected_total": self.rejected_total}


@dataclass
class Judged:
    """A flagged sign-in: what its flag and notification rows need besides its stored id."""

    signin: SignIn
    employee_id: int | None
    place: Place
    flags: list[Flag]
    notify: bool
    row: tuple[Any, ...]

    @property
    def key(self) -> Key:
        return self.row[SYSTEM], self.row[EVENT_ID]


@dataclass
class Batch:
    """Rows to store (unique keys, time order) and what goes with the flagged ones."""

    rows: list[tuple[Any, ...]]
    flagged: list[Judged]
    known_rows: list[dict[str, Any]]
    repeats: int  # the same event twice in one batch
    unmapped: int  # rows without an employee


class Ingestor:
    """Feeds parsed items through the pipeline (module docstring). Use as a context manager,
    or call `close()`: the last partial batch is written then."""

    def __init__(self, db: Database, *, geolocator: Any, now: Clock = utc_now,
                 batch_size: int = BATCH_SIZE, policy: LoginPolicy | None = None,
                 overlap: bool | None = None, pause_gc: bool = True) -> None:
        self.db, self.geolocator, self.now = db, geolocator, now
        self.batch_size = batch_size
        if policy is None:
            with db.transaction() as session:
                policy = current_policy(session)
        self.policy = policy
        self.report = IngestReport()
        self.identities = IdentityMapper()
        self.history = HistoryCache(policy.detectors)
        self._pending: list[tuple[SignIn, int | None]] = []
        self._places: dict[str | None, tuple[Place, tuple[Any, ...]]] = {}
        self._expect_new = True  # writer side: the last batch stored no duplicate
        if overlap is None:
            overlap = db.dialect == "postgresql"
        self._writer = BatchWriter(self._store) if overlap else None
        self._batch_mode = BatchMode(pause_gc=pause_gc,
                                     writer_thread=pause_gc and self._writer is not None)

    def feed(self, items: Iterable[SignIn | Rejection], *,
             employee_id: int | None = None) -> None:
        """Take parsed items; `employee_id` assigns them all to one employee (laptop
        sign-ins, whose device says whose they are) instead of mapping identities."""
        pending, size = self._pending, self.batch_size
        for item in items:
            if isinstance(item, Rejection):
                self.report.reject(item.line, item.reason)
                continue
            pending.append((item, employee_id))
            if len(pending) >= size:
                self._send()
                pending = self._pending

    def _send(self) -> None:
        """Judge what is pending and store it (PostgreSQL: hand it to the writer thread)."""
        if not self._pending:
            return
        pending, self._pending = self._pending, []
        batch = self._prepare(pending)
        if self._writer is not None:
            self._writer.submit(batch)
        else:
            self._store(batch)

    def flush(self) -> None:
        """Judge and store everything fed so far, and wait until it is committed (so a
        caller may save a connector cursor afterwards)."""
        self._send()
        if self._writer is not None:
            self._writer.wait()

    def close(self) -> IngestReport:
        """Write the rest and stop the writer; returns the report."""
        try:
            self.flush()
        finally:
            self._stop()
        return self.report

    def _stop(self) -> None:
        if self._writer is not None:
            self._writer.stop()
        self._batch_mode.end()

    def __enter__(self) -> Ingestor:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self._stop()

    def locate(self, ip: str | None) -> Place:
        """The place of `ip` ("unknown" without an address or a geolocation database)."""
        return self._place(ip)[0]

    def _place(self, ip: str | None) -> tuple[Place, tuple[Any, ...]]:
        """(Place, its row columns) of an address, looked up once per run."""
        found = self._places.get(ip)
        if found is None:
            if ip is None:
                place = UNKNOWN_PLACE
            elif self.geolocator is None:
                place = Place(kind="unknown", ip=ip)
            else:
                place = self.geolocator.locate(ip)
            if len(self._places) >= PLACES_KEPT:
                self._places.clear()
            found = self._places[ip] = (place, place_columns(place))
        return found

    def _prepare(self, pending: list[tuple[SignIn, int | None]]) -> Batch:
        pending.sort(key=_time_of)
        seen: set[tuple[str, str]] = set()
        unique = []
        for pair in pending:
            signin = pair[0]
            key = (signin.source_system, signin.source_event_id[:200])
            if key not in seen:
                seen.add(key)
                unique.append(pair)
        checkins = self._load(unique)
        received = self.now()
        rows: list[tuple[Any, ...]] = []
        flagged: list[Judged] = []
        known_rows: list[dict[str, Any]] = []
        unmapped = 0
        places, place_of, judge = self._places, self._place, self.history.judge
        for signin, employee_id in unique:
            ip = signin.source_ip
            place, columns = places.get(ip) or place_of(ip)
            if employee_id is None:
                unmapped += 1
                rows.append(row_tuple(signin, None, columns, 0, None, received))
                continue
            flags, learned = judge(employee_id, LocatedSignIn(
                f"{signin.source_system}:{signin.source_event_id}", signin.occurred_at,
                signin.outcome, place, signin.identity, ip, signin.source_system,
                signin.application), checkins.get(employee_id, ()))
            if learned:
                known_rows.append(country_place_row(employee_id, place, None, received))
            if not flags:
                rows.append(row_tuple(signin, employee_id, columns, 0, None, received))
                continue
            notify = self.policy.notifies([f.kind for f in flags])
            row = row_tuple(signin, employee_id, columns, len(flags),
                            str(uuid.uuid4()) if notify else None, received)
            rows.append(row)
            flagged.append(Judged(signin, employee_id, place, flags, notify, row))
        return Batch(rows, flagged, known_rows, len(pending) - len(unique), unmapped)

    def _load(self, unique: list[tuple[SignIn, int | None]]
              ) -> dict[int, tuple[DeviceCheckIn, ...]]:
        """Map identities (replacing None by the employee id in `unique`), load the history
        of the batch's employees not cached yet, and their laptops' check-ins."""
        if not unique:
            return {}
        with self.db.transaction() as session:
            conn = session.connection()
            self.identities.resolve(conn, {s.identity for s, forced in unique if forced is None})
            owner = self.identities.get
            employees: set[int] = set()
            for index, (signin, forced) in enumerate(unique):
                employee_id = forced if forced is not None else owner(signin.identity)
                if employee_id is not None:
                    unique[index] = (signin, employee_id)
                    employees.add(employee_id)
            if not employees:
                return {}
            start, end = unique[0][0].occurred_at, unique[-1][0].occurred_at  # time order
            missing, restarted = self.history.admit(employees)
            if restarted and self._writer is not None:
                self._writer.wait()  # what it forgot must be in the database to be read back
            self.history.load(conn, missing, start, end)
            return self.history.checkins(conn, employees, start, end)

    def _store(self, batch: Batch) -> None:
        """Write one batch in one transaction and count it (the writer thread on
        PostgreSQL)."""
        with self.db.transaction() as session:
            conn = session.connection()
            inserted = insert_batch(conn, batch.rows, want_ids=[j.key for j in batch.flagged],
                                    expect_new=self._expect_new)
            fresh = [(j, inserted.ids[j.key], j.row) for j in batch.flagged
                     if j.key in inserted.ids]
            signins.insert_flags(conn, [
                {"signin_id": ident, "kind": f.kind, "reason": f.reason, "details": f.details}
                for j, ident, _ in fresh for f in j.flags])
            signins.insert_notifications(conn, notification_rows(fresh, self.now()))
            signin_history.add_known_places(conn, batch.known_rows)
        self._count(batch, inserted, len(fresh))

    def _count(self, batch: Batch, inserted: Inserted, flagged: int) -> None:
        report = self.report
        if inserted.new is None:  # every row was new
            accepted, unmapped = len(batch.rows), batch.unmapped
        else:
            new = inserted.new
            accepted = unmapped = 0
            for row in batch.rows:
                if (row[SYSTEM], row[EVENT_ID]) in new:
                    accepted += 1
                    unmapped += row[0] is None
        self._expect_new = accepted == len(batch.rows)
        report.accepted += accepted
        report.duplicates += len(batch.rows) - accepted + batch.repeats
        report.unmapped += unmapped
        report.flagged += flagged


def _time_of(pair: tuple[SignIn, int | None]) -> datetime:
    return pair[0].occurred_at
