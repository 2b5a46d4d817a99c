"""Seal and unseal passes over many files, for the seal service.

A pass splits its files into groups of one folder (`policy.group_files` files and about
`policy.group_bytes` bytes at most; `worker.groups`), each sealed with one folder fsync and a
journal commit per step (`SealEngine.seal_files`), and runs up to `policy.parallel_files`
groups at once (reads, writes and fsync release the GIL, so two cores overlap). It accounts
each outcome in the pending journal and reports `seal_started`/`seal_finished` or
`unseal_finished`, plus `seal_error` per failed file. It stops only between groups.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager

from agent.seal import engine as eng
from agent.seal.events import SealFinished, SealStarted, UnsealFinished
from agent.seal.pending import BUSY, FAILED, PendingFile, PendingJournal
from agent.seal.policy import SealPolicy
from agent.seal.reporting import Reporter
from agent.seal.worker import groups, run_bounded

AWAY_REASONS = ("idle", "lock")


class Passes:
    """The passes; `SealService` provides the attributes declared here."""

    engine: eng.SealEngine
    pending: PendingJournal
    policy: SealPolicy
    reporter: Reporter
    clock: Callable[[], float]
    away: bool
    _running: str

    def exclusive(self, timeout: float | None = None) -> AbstractContextManager[None]:
        raise NotImplementedError

    def seal_pass(self, reason: str, session: str, *, deadline: float | None = None,
                  lock_timeout: float | None = None, announce: bool = True) -> SealFinished:
        """Seal every due pending file; stops early if the employee returns or at `deadline`.

        `announce=False` (retries while away) reports the pass only if it sealed or failed
        something, so a file that stays busy does not fill the outbox.
        """
        with self.exclusive(lock_timeout):
            self._running = "seal"
            try:
                return self._seal_files(reason, session, deadline, announce)
            finally:
                self._running = ""

    def _seal_files(self, reason: str, session: str, deadline: float | None,
                    announce: bool) -> SealFinished:
        start, totals = self.clock(), self.pending.totals()
        started = SealStarted(start, reason, session, totals.files, totals.bytes)
        if announce:
            self.reporter.report(started)
        counts = {"sealed": 0, "bytes": 0, "busy": 0, "failed": 0}

        def stop() -> bool:  # the employee is back, or the sleep budget is spent
            return (reason in AWAY_REASONS and not self.away) or \
                (deadline is not None and self.clock() >= deadline)

        def seal(group: list[PendingFile]) -> list[eng.Outcome]:
            return self.engine.seal_files([(e.path, e.last_change) for e in group],
                                          session=session)

        def account(outcomes: list[eng.Outcome]) -> None:
            for out in outcomes:
                self._account(out, counts)

        interrupted = run_bounded(
            groups(self.pending.due(start), folder=lambda e: e.path.parent,
                   size=lambda e: e.size, max_files=self.policy.group_files,
                   max_bytes=self.policy.group_bytes),
            seal, workers=self.policy.parallel_files, stop=stop, done=account)
        end, left = self.clock(), self.pending.totals()
        if not interrupted:  # "last seal": the last pass that tried every due file
            self.engine.journal.db.set_meta("last_seal_at", repr(end))
            self.engine.journal.db.set_meta("last_seal_reason", reason)
        finished = SealFinished(
            end, reason, session, counts["sealed"], counts["bytes"], counts["busy"],
            counts["failed"], left.files, left.bytes, round(end - start, 3), interrupted,
            self.reporter.pending_paths(self.pending))
        if announce or counts["sealed"] or counts["failed"]:
            if not announce:
                self.reporter.report(started)
            self.reporter.report(finished)
        return finished

    def _account(self, out: eng.Outcome, counts: dict[str, int]) -> None:
        now = self.clock()
        if out.status == eng.SEALED:
            counts["sealed"] += 1
            counts["bytes"] += out.plain_bytes
        elif out.status in (eng.BUSY, eng.CHANGED):
            counts["busy"] += 1
            self.pending.mark(out.path, BUSY, out.reason, now + self.policy.busy_retry_seconds)
        elif out.status in (eng.GONE, eng.SKIPPED):
            self.pending.forget([out.path])
        elif out.status == eng.FAILED:
            counts["failed"] += 1
            self.pending.mark(out.path, FAILED, out.error_kind,
                              now + self.policy.failure_retry_seconds)
            self.reporter.error(now, "seal", out)

    def unseal_pass(self, reason: str, session: str | None) -> UnsealFinished:
        """Unseal the files sealed in `session` (every registered sealed file when None)."""
        with self.exclusive():
            self._running = "unseal"
            try:
                return self._unseal_files(reason, session)
            finally:
                self._running = ""

    def _unseal_files(self, reason: str, session: str | None) -> UnsealFinished:
        start, counts, journal = self.clock(), {"done": 0, "bytes": 0, "failed": 0}, \
            self.engine.journal

        def account(outcomes: list[eng.Outcome]) -> None:
            for out in outcomes:
                if out.status == eng.UNSEALED:
                    counts["done"] += 1
                    counts["bytes"] += out.plain_bytes
                elif out.status == eng.GONE:
                    journal.forget_sealed(out.path)
                else:
                    counts["failed"] += 1
                    self.reporter.error(self.clock(), "unseal", out)

        run_bounded(groups(journal.sealed_files(session), folder=lambda f: f.path.parent,
                           size=lambda f: f.sealed_size, max_files=self.policy.group_files,
                           max_bytes=self.policy.group_bytes),
                    lambda group: self.engine.unseal_files([(f.path, f.original)
                                                            for f in group]),
                    workers=self.policy.parallel_files, stop=lambda: False, done=account)
        done, size, failed = counts["done"], counts["bytes"], counts["failed"]
        end = self.clock()
        journal.db.set_meta("last_unseal_at", repr(end))
        finished = UnsealFinished(end, reason, session or "all", done, size, failed,
                                  round(end - start, 3))
        self.reporter.report(finished)
        return finished
