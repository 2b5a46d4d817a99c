"""The steps the files of a group share while being sealed or unsealed (for `SealEngine`).

A group is a few files, normally of one folder (`worker.groups`). The journal records the
whole group as started in one commit; then every file's new copy is written, and only then is
each one fsynced and checked, so the disk receives all the writes at once
(`FileOps.start_writeback`) instead of one fsync's worth at a time. Then, for the whole group:
one commit records every copy verified, each copy is renamed into place, each folder is fsynced
once, each source is removed, and one commit records the group done. For each file the durable
steps come in exactly the order of a file handled alone (docs/seal-format.md, "Crash safety");
only the fsync of its folder and the journal commits are shared.

A failure of one file is settled for that file alone (`recovery.resolve`) while the group
carries on; a failure of a shared step (a commit, a folder fsync) settles each file it covered
the same way.
"""

from __future__ import annotations

import errno
import logging
import os
import sqlite3
from collections.abc import Callable, Generator
from dataclasses import dataclass, replace
from pathlib import Path

from agent.seal import names, recovery
from agent.seal.errors import SourceChangedError
from agent.seal.fileops import FileOps
from agent.seal.journal import Identity, Journal, Op
from agent.seal.outcomes import (
    CHANGED,
    FAILED,
    SEALED,
    UNSEALED,
    Outcome,
    error_kind,
    failed,
    message,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Work:
    """One file of a group: its position in the group, its operation (with its id once
    journalled, then verified in memory), its stat when sealing, the mtime an unseal restores."""

    index: int
    op: Op
    st: os.stat_result | None = None
    mtime_ns: int = 0


Outcomes = list[Outcome | None]
Making = Callable[[Work], Generator[None, None, Work]]
"""Makes one file's new copy: writes it, yields, then fsyncs and checks it; returns the work
with its operation verified."""


def check_unchanged(op: Op) -> None:
    """SourceChangedError unless the plaintext is still the file that was journalled."""
    try:
        now = Identity.of(os.lstat(op.src))
    except FileNotFoundError:
        raise SourceChangedError("the file was removed while being sealed") from None
    if now != op.src_identity:
        raise SourceChangedError("the file changed while being sealed; it is retried later")


def _resume(steps: Generator[None, None, Work]) -> Work:
    """Run a making generator from its yield to its end; returns what it returns."""
    try:
        next(steps)
    except StopIteration as done:
        return done.value
    raise RuntimeError("a making generator yields exactly once")


class GroupSteps:
    """The shared steps; `SealEngine` provides the attributes declared here."""

    journal: Journal
    ops: FileOps
    unresolved: int

    def _begin(self, kind: str, wanted: list[Work], outcomes: Outcomes) -> list[Work]:
        """Settle what earlier attempts left at the temporary names, then journal the group
        as started in one commit; returns the work that began (a failure fills its outcome)."""
        if not wanted:
            return []
        left: dict[Path, list[Op]] = {}
        try:
            for op in self.journal.open_ops():
                left.setdefault(op.tmp, []).append(op)
        except sqlite3.Error as exc:
            return self._fail_all(wanted, outcomes, exc)
        ready = []
        for work in wanted:
            try:
                self._clear_temp(work.op, left.get(work.op.tmp, []))
                ready.append(work)
            except (OSError, sqlite3.Error) as exc:
                outcomes[work.index] = failed(work.op.src, exc)
        try:
            begun = self.journal.begin_all([work.op for work in ready]) if ready else []
        except (OSError, sqlite3.Error) as exc:
            return self._fail_all(ready, outcomes, exc)
        if begun:
            self.ops.barrier(f"{kind}.begun")
        return [replace(work, op=op) for work, op in zip(ready, begun, strict=True)]

    @staticmethod
    def _fail_all(works: list[Work], outcomes: Outcomes, exc: BaseException) -> list[Work]:
        for work in works:
            outcomes[work.index] = failed(work.op.src, exc)
        return []

    def _clear_temp(self, op: Op, left: list[Op]) -> None:
        """Settle `left`, the journalled operations that used this temporary name, then drop an
        unexplained leftover (no journal entry: only a lost database leaves one, and its
        source exists)."""
        for earlier in left:
            recovery.resolve(earlier, self.journal, self.ops)
        if os.path.lexists(op.tmp):
            self.ops.unlink(op.tmp)

    def _make_all(self, works: list[Work], make: Making, outcomes: Outcomes) -> list[Work]:
        """Write every file's new copy, then fsync and check each: returns the verified ones."""
        written = []
        for work in works:
            steps = make(work)
            try:
                next(steps)
                written.append((work, steps))
            except Exception as exc:  # noqa: BLE001 - every failure is resolved the same way
                outcomes[work.index] = self._after_failure(work.op, exc)
        made = []
        for work, steps in written:
            try:
                made.append(_resume(steps))
            except Exception as exc:  # noqa: BLE001
                outcomes[work.index] = self._after_failure(work.op, exc)
        return made

    def _put_in_place(self, kind: str, made: list[Work], outcomes: Outcomes) -> None:
        """Journal the group verified, rename each copy into place, fsync each folder once,
        remove each source, journal the group done."""
        removed = "plain_removed" if kind == "seal" else "sealed_removed"
        made = self._for_group(made, outcomes, lambda group: self.journal.record_verified(
            [work.op for work in group]))
        if not made:
            return
        self.ops.barrier(f"{kind}.verified")
        placed = []
        for work in made:
            placed += self._for_one(work, outcomes, lambda w: replace(w, op=self._place(w.op)))
            self.ops.barrier(f"{kind}.renamed")
        placed = self._for_group(placed, outcomes, self._fsync_folders)
        if placed:
            self.ops.barrier(f"{kind}.placed")
        gone = []
        for work in placed:
            gone += self._for_one(work, outcomes, self._remove_source)
            self.ops.barrier(f"{kind}.{removed}")
        done = self._for_group(gone, outcomes, self._finish)
        if done:
            self.ops.barrier(f"{kind}.finished")
        status = SEALED if kind == "seal" else UNSEALED
        for work in done:
            op = work.op
            outcomes[work.index] = Outcome(status, op.src, op.dst, op.plain_size,
                                           op.sealed_size)

    def _for_one(self, work: Work, outcomes: Outcomes,
                 step: Callable[[Work], Work]) -> list[Work]:
        """[`step(work)`], or [] once a failure was settled into its outcome."""
        try:
            return [step(work)]
        except Exception as exc:  # noqa: BLE001
            outcomes[work.index] = self._after_failure(work.op, exc)
            return []

    def _for_group(self, group: list[Work], outcomes: Outcomes,
                   step: Callable[[list[Work]], object]) -> list[Work]:
        """`group` once `step(group)` succeeded, or [] once a failure was settled for each."""
        if not group:
            return []
        try:
            step(group)
        except Exception as exc:  # noqa: BLE001
            for work in group:
                outcomes[work.index] = self._after_failure(work.op, exc)
            return []
        return group

    def _place(self, op: Op, tries: int = 5) -> Op:
        """Rename the verified temporary file to its destination; if another file took that
        name meanwhile (e.g. a second version of the same original), to the next free one."""
        for _ in range(tries):
            try:
                self.ops.rename(op.tmp, op.dst)
                return op
            except FileExistsError:
                free = names.sealed_target(op.src) if op.kind == "seal" \
                    else names.plain_target(op.original or op.dst)
                op = self.journal.move_dst(op, free)
        raise FileExistsError(errno.EEXIST, "no free name for the file", str(op.dst))

    def _fsync_folders(self, group: list[Work]) -> None:
        """Make the group's renames durable: each folder they happened in, once."""
        for folder in dict.fromkeys(work.op.dst.parent for work in group):
            self.ops.fsync_dir(folder)

    def _remove_source(self, work: Work) -> Work:
        if work.op.kind == "seal":
            check_unchanged(work.op)
        self.ops.unlink(work.op.src)  # durable with the folder's next fsync (see the docs)
        return work

    def _finish(self, group: list[Work]) -> None:
        if group[0].op.kind == "seal":
            self.journal.finish_seals([work.op for work in group])
        else:
            self.journal.finish_unseals([(work.op, work.mtime_ns) for work in group])

    def _after_failure(self, op: Op, exc: Exception) -> Outcome:
        """Settle one file after `exc`: roll it back, or finish it if it got far enough."""
        current = self.journal.get(op.id)
        try:
            done = recovery.resolve(current, self.journal, self.ops) if current else ""
        except Exception as again:  # noqa: BLE001 - left for start-up recovery
            self.unresolved += 1
            log.warning("could not settle %s of %s after %s: %s", op.kind, op.src, exc, again)
            done = ""
        if done in (recovery.SEALED, recovery.UNSEALED) and current is not None:
            # the operation completed despite a late error (e.g. a folder fsync failed)
            return Outcome(done, op.src, current.dst, current.plain_size, current.sealed_size,
                           reason=f"completed after: {message(exc)}", error_kind=error_kind(exc))
        status = CHANGED if isinstance(exc, SourceChangedError) else FAILED
        if status == FAILED:
            log.warning("%s of %s failed: %s", op.kind, op.src, exc)
        return Outcome(status, op.src, reason=message(exc), error_kind=error_kind(exc))
