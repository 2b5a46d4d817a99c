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

On PostgreSQL a batch is written by a writer thread while the next one is parsed and judged,
so the database's work overlaps Python's (two cores); SQLite writes in line. While feeding,
Python's cyclic garbage collector is paused (server.services.batch_writer says why), unless
`pause_gc=False` (the API server, where other requests share the process).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from server.ingest.record import Rejection, SignIn
from server.services.batch_writer import BatchWriter, collector_paused
from server.services.clock import Clock, utc_now
from server.services.detectors import Flag, LocatedSignIn
from server.services.geo import Place
from server.services.history_cache import HistoryCache
from server.services.identity_map import IdentityMapper
from server.services.login_policy import LoginPolicy, current_policy
from server.services.signin_notices import notification_rows
from server.services.signin_records import (
    UNKNOWN_PLACE,
    country_place_row,
    row_tuple,
)
from server.storage import signin_history, signins
from server.storage.db import Database

log = logging.getLogger(__name__)

BATCH_SIZE = 5000
MAX_REJECTIONS_LISTED = 1000


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
    """One sign-in ready to store."""

    signin: SignIn
    employee_id: int | None
    place: Place
    flags: list[Flag]
    notify: bool
    row: tuple[Any, ...]


@dataclass
class Batch:
    judged: list[Judged]
    repeats: int  # the same event twice in one batch
    known_rows: list[dict[str, Any]]


class Ingestor:
    """Feeds parsed items through the pipeline (module docstring). Use as a context manager,
    or call `close()`: the last partial batch is written then."""

    def __init__(self, db: Database, *, geolocator: Any, now: Clock = utc_now,
                 batch_size: int = BATCH_SIZE, policy: LoginPolicy | None = None,
                 overlap: bool | None = None, pause_gc: bool = True) -> None:
        self.db, self.geolocator, self.now = db, geolocator, now
        self.pause_gc = pause_gc  # False inside a server shared with other requests
        self.batch_size = batch_size
        if policy is None:
            with db.transaction() as session:
                policy = current_policy(session)
        self.policy = policy
        self.report = IngestReport()
        self.identities = IdentityMapper()
        self.history = HistoryCache(policy.detectors)
        self._pending: list[tuple[SignIn, int | None]] = []
        if overlap is None:
            overlap = db.dialect == "postgresql"
        self._writer = BatchWriter(self._store) if overlap else None

    def feed(self, items: Iterable[SignIn | Rejection], *,
             employee_id: int | None = None) -> None:
        """Take parsed items; `employee_id` assigns them all to one employee (laptop
        sign-ins, whose device says whose they are) instead of mapping identities."""
        with collector_paused(self.pause_gc):
            for item in items:
                if isinstance(item, Rejection):
                    self.report.reject(item.line, item.reason)
                    continue
                self._pending.append((item, employee_id))
                if len(self._pending) >= self.batch_size:
                    self._send()

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
            if self._writer is not None:
                self._writer.stop()
        return self.report

    def __enter__(self) -> Ingestor:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is None:
            self.close()
        elif self._writer is not None:
            self._writer.stop()

    def locate(self, ip: str | None) -> Place:
        """The place of `ip` ("unknown" without an address or a geolocation database)."""
        if self.geolocator is None or ip is None:
            return UNKNOWN_PLACE if ip is None else Place(kind="unknown", ip=ip)
        return self.geolocator.locate(ip)

    def _prepare(self, pending: list[tuple[SignIn, int | None]]) -> Batch:
        pending.sort(key=lambda pair: pair[0].occurred_at)
        seen: set[tuple[str, str]] = set()
        unique = []
        for signin, forced in pending:
            key = (signin.source_system, signin.source_event_id)
            if key not in seen:
                seen.add(key)
                unique.append((signin, forced))
        checkins = self._load(unique)
        received = self.now()
        judged: list[Any] = []
        known_rows: list[Any] = []
        no_flags: list[Any] = []
        locate = self.locate
        for signin, employee_id in unique:
            place = locate(signin.source_ip)
            flags: list[Flag] = no_flags
            if employee_id is not None:
                flags = self._judge(signin, employee_id, place, checkins, known_rows, received)
            notify = bool(flags) and self.policy.notifies([f.kind for f in flags])
            judged.append(Judged(signin, employee_id, place, flags, notify,
                                 row_tuple(signin, employee_id, place, len(flags), None,
                                           received)))
        return Batch(judged, len(pending) - len(unique), known_rows)

    def _load(self, unique: list[tuple[SignIn, int | None]]) -> dict[int, Any]:
        """Map identities, then load the history of every employee in the batch."""
        with self.db.transaction() as session:
            conn = session.connection()
            self.identities.resolve(conn, {s.identity for s, forced in unique if forced is None})
            spans: dict[int, tuple[Any, Any]] = {}
            for index, (signin, forced) in enumerate(unique):
                employee_id = forced if forced is not None else self.identities.get(
                    signin.identity)
                unique[index] = (signin, employee_id)
                if employee_id is not None:
                    first, last = spans.get(employee_id, (signin.occurred_at,
                                                          signin.occurred_at))
                    spans[employee_id] = (min(first, signin.occurred_at),
                                          max(last, signin.occurred_at))
            if not spans:
                return {}
            self.history.ensure(conn, spans)
            start = min(first for first, _ in spans.values())
            end = max(last for _, last in spans.values())
            return self.history.checkins(conn, list(spans), start, end)

    def _judge(self, signin: SignIn, employee_id: int, place: Place, checkins: dict[int, Any],
               known_rows: list[dict[str, Any]], now: Any) -> list[Flag]:
        located = LocatedSignIn(f"{signin.source_system}:{signin.source_event_id}",
                                signin.occurred_at, signin.outcome, place, signin.identity,
                                signin.source_ip, signin.source_system, signin.application)
        flags, learned = self.history.judge(employee_id, located, checkins.get(employee_id, ()))
        if learned:
            known_rows.append(country_place_row(employee_id, place, None, now))
        return flags

    def _store(self, batch: Batch) -> None:
        with self.db.transaction() as session:
            conn = session.connection()
            rows = [self._with_notice_id(j) for j in batch.judged]
            new = signins.insert_batch(conn, rows)
            fresh = [(j, new[(j.signin.source_system, j.signin.source_event_id)], row)
                     for j, row in zip(batch.judged, rows, strict=True)
                     if (j.signin.source_system, j.signin.source_event_id) in new]
            signins.insert_flags(conn, [
                {"signin_id": ident, "kind": f.kind, "reason": f.reason, "details": f.details}
                for j, ident, _ in fresh for f in j.flags])
            signins.insert_notifications(conn, notification_rows(fresh, self.now()))
            signin_history.add_known_places(conn, batch.known_rows)
        report = self.report
        report.accepted += len(fresh)
        report.duplicates += len(batch.judged) - len(fresh) + batch.repeats
        report.unmapped += sum(1 for j, _, _ in fresh if j.employee_id is None)
        report.flagged += sum(1 for j, _, _ in fresh if j.flags)

    @staticmethod
    def _with_notice_id(judged: Judged) -> tuple[Any, ...]:
        """The row, with a fresh notification id when this sign-in will notify."""
        if not judged.notify:
            return judged.row
        return (*judged.row[:-1], str(uuid.uuid4()))
