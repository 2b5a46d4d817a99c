"""The seal coordinator: when to seal and unseal, and what to report.

- Away: input idle time reaches the rules' threshold, or the session locks (if `seal_on_lock`).
  Every due pending file is sealed under a new session id; while away, files that become due
  later (a download finishing, a busy file released) are sealed on later ticks.
- Return: input after unlock (idle time drops, not locked). The files sealed in that away
  period are unsealed unless the policy keeps them sealed until the employee unseals them.
- Before sleep: a seal pass bounded by the time the OS allows (best effort; reason "sleep").
- `seal_now` / `unseal_now`: on request (manual sessions are not unsealed on return).

`observe()` is cheap and never blocks on file work: passes run on one worker thread after
`start()` (or inline when it was not started, which is what the CLI and tests use). Events are
collected for the uplink (`drain_events`) and optionally pushed to `emit`.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from agent.platform.files import ProcessLock
from agent.seal import engine as eng
from agent.seal.errors import SealBusyError
from agent.seal.events import SealEvent, SealFinished, UnsealFinished
from agent.seal.folders import ProtectedFolder, excluding
from agent.seal.passes import Passes
from agent.seal.pending import Notes, PendingJournal, apply_notes
from agent.seal.policy import SealPolicy
from agent.seal.recovery import sweep_orphans
from agent.seal.reporting import Reporter
from agent.seal.status import SealStatus, build_status
from agent.seal.watcher import FolderWatcher, ScanResult, scan
from agent.seal.worker import Spawn, Worker

log = logging.getLogger(__name__)
AWAY_SESSION = "away_session"


class SealService(Passes):
    """Decides and runs seal/unseal passes; reports status and events."""

    def __init__(self, engine: eng.SealEngine, pending: PendingJournal,
                 folders: list[ProtectedFolder], *, policy: SealPolicy | None = None,
                 key_status: dict[str, object] | None = None,
                 clock: Callable[[], float] = time.time,
                 emit: Callable[[SealEvent], None] | None = None,
                 process_lock: ProcessLock | None = None, lock_timeout: float = 600.0,
                 exclude: tuple[Path, ...] = ()) -> None:
        self.engine, self.pending, self.exclude = engine, pending, exclude
        self.reporter = Reporter(emit)
        self._configure(folders, policy or SealPolicy())
        self.key_status = key_status or {}
        self.clock = clock
        self.notes = Notes()
        self.away, self.away_reason, self.session = False, "", ""
        self._last_idle: float | None = None
        self._was_locked = False
        self._pass_lock = threading.Lock()
        self.worker = Worker()
        self._watcher: FolderWatcher | None = None
        self._running = ""  # "seal" / "unseal" while a pass runs
        self.process_lock, self.lock_timeout = process_lock, lock_timeout

    @contextmanager
    def exclusive(self, timeout: float | None = None) -> Iterator[None]:
        """One pass at a time in this process, and across processes sharing the state folder
        (the running agent and a `seal-now` from the command line)."""
        wait = self.lock_timeout if timeout is None else timeout
        if not self._pass_lock.acquire(timeout=wait):
            raise SealBusyError("a seal or unseal pass is already running")
        try:
            if self.process_lock is not None and not self.process_lock.acquire(timeout=wait):
                raise SealBusyError(f"another process is sealing or unsealing "
                                    f"(lock {self.process_lock.path}); try again shortly")
            try:
                yield
            finally:
                if self.process_lock is not None:
                    self.process_lock.release()
        finally:
            self._pass_lock.release()

    # -- start-up and folders ----------------------------------------------------------------
    def start_up(self, *, watch: bool = True) -> ScanResult:
        """Recover interrupted operations, start watching, scan what changed while stopped."""
        if watch:  # before the scan, so nothing created during the scan is missed
            self._watcher = FolderWatcher(self.notes)
            self._watcher.refresh(f.path for f in self.folders)
        with self.exclusive():
            self.engine.recover()
            result = scan(self.folders, self.pending, self.engine.journal)
            for folder in {p.parent for p in result.work_files}:  # only if the journal was lost
                left = sweep_orphans(folder, self.engine.journal, self.engine.ops)
                if left:
                    log.warning("%d temporary files have no source; left in place", len(left))
        left_away = self.engine.journal.db.get_meta(AWAY_SESSION)
        if left_away:  # the agent stopped while away; starting again means someone logged in
            self._mark_away("")
            if self.policy.unseal_on_return:
                self.unseal_pass("restart", left_away)
        return result

    def _mark_away(self, session: str) -> None:
        """Remember the open away period across restarts ("" when back)."""
        self.engine.journal.db.set_meta(AWAY_SESSION, session)

    def _configure(self, folders: list[ProtectedFolder], policy: SealPolicy) -> None:
        self.folders, self.policy = excluding(folders, *self.exclude), policy
        self.reporter.folders, self.reporter.report_paths = self.folders, policy.report_paths

    def set_folders(self, folders: list[ProtectedFolder],
                    policy: SealPolicy | None = None) -> ScanResult:
        """Apply new rules: watch the new folder list and reconcile the pending journal."""
        self._configure(folders, policy or self.policy)
        if self._watcher is not None:
            self._watcher.refresh(f.path for f in self.folders)
        return scan(self.folders, self.pending, self.engine.journal)

    def refresh_watches(self) -> None:
        """Start watching protected folders that appeared since (and scan them)."""
        if self._watcher is not None:
            added = self._watcher.refresh(f.path for f in self.folders)
            if added:
                scan([f for f in self.folders if f.path in added], self.pending,
                     self.engine.journal, complete=False)

    def apply_notes(self) -> int:
        """Write what the watcher saw into the pending journal."""
        return apply_notes(self.pending, self.folders, self.notes)

    # -- the worker --------------------------------------------------------------------------
    def start(self, spawn: Spawn | None = None) -> None:
        """Run passes on a background thread from now on (`spawn` makes the thread)."""
        if spawn is None:
            self.worker.start()
        else:
            self.worker.start(spawn)

    def stop(self) -> None:
        """Stop the worker (after the pass in progress) and the watcher."""
        self.worker.stop()
        if self._watcher is not None:
            self._watcher.stop()

    def wait(self, timeout: float = 60.0) -> bool:
        """Block until queued passes are done; False on timeout."""
        return self.worker.wait(timeout)

    # -- decisions ---------------------------------------------------------------------------
    def observe(self, idle_seconds: float | None, locked: bool | None) -> str | None:
        """Feed one reading of the idle and lock sensors; returns the action it started."""
        locked = bool(locked)
        if not self.away:
            action = None
            if idle_seconds is not None and idle_seconds >= self.policy.idle_threshold_seconds:
                action = self.went_away("idle")
            elif locked:
                action = self.went_away("lock")
        elif self._returned(idle_seconds, locked):
            action = self.came_back()
        else:
            action = self.tick()
        self._last_idle, self._was_locked = idle_seconds, locked
        return action

    def _returned(self, idle: float | None, locked: bool) -> bool:
        if locked:
            return False
        if idle is None:
            return self.away_reason == "lock"
        dropped = self._last_idle is None or idle < self._last_idle or self._was_locked
        return dropped and idle < self.policy.idle_threshold_seconds

    def went_away(self, reason: str) -> str | None:
        """The employee left (`reason` "idle" or "lock"): seal under a new session."""
        self.apply_notes()
        if self.away or (reason == "lock" and not self.policy.seal_on_lock):
            return None
        self.away, self.away_reason = True, reason
        self.session = session = f"{reason}-{uuid.uuid4().hex[:12]}"
        self._mark_away(session)
        self.worker.submit(lambda: self.seal_pass(reason, session))
        return "seal:" + reason

    def came_back(self) -> str | None:
        """Input after unlock: unseal this away period's files (unless policy keeps them)."""
        if not self.away:
            return None
        self.away, session = False, self.session
        self._mark_away("")
        if not self.policy.unseal_on_return:
            return "return:kept_sealed"
        self.worker.submit(lambda: self.unseal_pass("return", session))
        return "unseal:return"

    def tick(self) -> str | None:
        """Periodic: record what the watcher saw; while away, seal files that became due."""
        self.apply_notes()
        if self.away and not self._running and self.pending.due(self.clock()):
            session, reason = self.session, self.away_reason
            self.worker.submit(lambda: self.seal_pass(reason, session, announce=False))
            return "seal:" + reason
        return None

    def before_sleep(self, budget: float | None = None) -> SealFinished | None:
        """Seal what can be sealed within `budget` seconds (the OS's before-sleep allowance,
        from agent/platform/sleep.py; `policy.sleep_budget_seconds` when not given). Runs on
        the caller's thread, which the OS waits for before sleeping.

        Returns None when the policy says no, or when a pass already running keeps the lock
        for the whole budget (that pass is sealing anyway).
        """
        if not self.policy.seal_before_sleep:
            return None
        budget = self.policy.sleep_budget_seconds if budget is None else budget
        deadline = self.clock() + budget
        self.apply_notes()  # what the watcher saw since the last tick is pending too
        if not self.away:
            self.away, self.away_reason = True, "sleep"
            self.session = f"sleep-{uuid.uuid4().hex[:12]}"
            self._mark_away(self.session)
        try:
            return self.seal_pass("sleep", self.session, deadline=deadline, lock_timeout=budget)
        except SealBusyError:
            return None

    def seal_now(self) -> SealFinished:
        """Seal every due pending file now (the employee asked; not unsealed on return)."""
        self.apply_notes()
        return self.seal_pass("manual", f"manual-{uuid.uuid4().hex[:12]}")

    def unseal_now(self) -> UnsealFinished:
        """Unseal every sealed file this agent knows (the employee asked)."""
        return self.unseal_pass("manual", None)

    # -- reporting ---------------------------------------------------------------------------
    def drain_events(self) -> list[SealEvent]:
        """Events since the last call, oldest first (for the uplink's outbox)."""
        return self.reporter.drain()

    def status(self) -> SealStatus:
        """Counts, times, key store and folders, for `seal-status` and the tray."""
        state = self._running + "ing" if self._running else ("away" if self.away else "active")
        return build_status(self.engine.journal, self.pending, self.folders, self.policy,
                            key_status=self.key_status, state=state,
                            away_reason=self.away_reason if self.away else "",
                            unresolved=self.engine.unresolved)

    def checkin_state(self) -> dict[str, object]:
        """What the check-in carries: counts always, relative paths only if the rules allow."""
        state = self.status().as_dict(local=False)
        if self.policy.report_paths:
            state["pending_paths"] = list(self.reporter.pending_paths(self.pending))
        return state
