"""Seal and unseal files in place, a group at a time, crash-safely; recover after a crash.

Seal a group of plaintexts (files of one folder, as `agent.seal.passes` forms them): journal
`started` for the group -> write the sealed form of each file `P` to hidden temporary `T` in
its folder -> for each: fsync `T`, read `T` back, decrypt it and compare it byte for byte with
`P` read again (`agent.seal.copying`), check `P` did not change -> journal `verified` for the
group -> rename each `T` to `P.heedful` (never replacing) -> fsync each folder once -> check
each `P` and remove it -> journal done for the group (`agent.seal.group`). Unseal mirrors it
and restores the original bytes, modification time and permission bits.

A plaintext is removed only once its sealed copy is complete, fsynced, checked, journalled
`verified` and renamed, and the rename made durable by the folder fsync. The removal is not
fsynced on its own: it becomes durable with the folder's next fsync, and a power cut before
that can only bring the old copy back next to the new one (both complete), never lose one. Any
failure (ENOSPC, EACCES, a tampered file, a crash) is resolved file by file by
`recovery.resolve`: at every instant each file exists as plaintext or as a complete sealed
file. All writes go through a `FileOps` (the fault-injection seam).
"""

from __future__ import annotations

import hashlib
import logging
import os
import sqlite3
import stat
import threading
import time
from collections.abc import Callable, Generator, Sequence
from dataclasses import replace
from pathlib import Path

from agent.platform import files as platform_files
from agent.seal import copying, names, recovery
from agent.seal.errors import SealError, SourceChangedError, VerificationError
from agent.seal.fileops import FileOps
from agent.seal.format import (
    DEFAULT_CHUNK_SIZE,
    Buffers,
    ChunkSealer,
    KeyLookup,
    SealHeader,
    key_id,
    sealed_size,
)
from agent.seal.group import GroupSteps, Outcomes, Work, check_unchanged
from agent.seal.journal import STARTED, Identity, Journal, Op, verified
from agent.seal.outcomes import (  # noqa: F401 - re-exported: what callers compare outcomes to
    BUSY,
    CHANGED,
    FAILED,
    GONE,
    SEALED,
    SKIPPED,
    UNSEALED,
    Outcome,
    error_kind,
    failed,
    message,
)

log = logging.getLogger(__name__)
BusyProbe = Callable[[Path], "str | None"]


class SealEngine(GroupSteps):
    """Seals and unseals files, a group at a time; `recover()` finishes what a crash left."""

    def __init__(self, journal: Journal, seal_key: bytes, *, open_keys: KeyLookup | None = None,
                 ops: FileOps | None = None, busy_probe: BusyProbe | None = None,
                 clock: Callable[[], float] = time.time, settle_seconds: float = 10.0,
                 partial_settle_seconds: float = 600.0,
                 chunk_size: int = DEFAULT_CHUNK_SIZE) -> None:
        self.journal, self.seal_key = journal, seal_key
        self.open_keys = open_keys if open_keys is not None else {key_id(seal_key): seal_key}
        self.ops = ops or FileOps()
        self.busy_probe = busy_probe or platform_files.file_in_use
        self.clock, self.chunk_size = clock, chunk_size
        self.settle_seconds, self.partial_settle_seconds = settle_seconds, partial_settle_seconds
        self.unresolved = 0  # operations left in the journal after a failed resolve
        self._local = threading.local()  # each worker thread reuses its own block buffers

    # -- readiness ---------------------------------------------------------------------------
    def busy_reason(self, path: Path, st: os.stat_result, last_change: float = 0.0) -> str | None:
        """Why `path` should wait (still changing, a partial download, open elsewhere), or None."""
        now = self.clock()
        partial = names.is_partial_name(path.name) or names.has_partial_sibling(path)
        settle = self.partial_settle_seconds if partial else self.settle_seconds
        changed = last_change
        if st.st_mtime <= now + 60:  # a far-future mtime must not hold a file back forever
            changed = max(changed, st.st_mtime)
        if now - changed < settle:
            what = "partial file" if partial else "changed"
            return f"settling: {what} {max(0.0, now - changed):.0f}s ago, waits {settle:.0f}s"
        return self.busy_probe(path)

    # -- seal --------------------------------------------------------------------------------
    def seal_file(self, path: Path, *, session: str | None = None, last_change: float = 0.0,
                  check_busy: bool = True) -> Outcome:
        """Seal one plaintext file in place; never raises for a per-file problem."""
        return self.seal_files([(Path(path), last_change)], session=session,
                               check_busy=check_busy)[0]

    def seal_files(self, files: Sequence[tuple[Path, float]], *, session: str | None = None,
                   check_busy: bool = True) -> list[Outcome]:
        """Seal a group of plaintext files, given as (path, last change), in place; returns one
        outcome per file, in order, and never raises for a per-file problem.

        The group shares its journal commits and each folder's fsync, so it should hold files
        of one folder, and few enough to end soon: a pass stops only between groups.
        """
        outcomes: Outcomes = [None] * len(files)
        wanted = []
        for index, (path, last_change) in enumerate(files):
            found = self._seal_wanted(Path(path), last_change, check_busy, session)
            if isinstance(found, Outcome):
                outcomes[index] = found
            else:
                wanted.append(Work(index, *found))
        begun = self._begin("seal", wanted, outcomes)
        self._put_in_place("seal", self._make_all(begun, self._sealing, outcomes), outcomes)
        return _all(outcomes)

    def _seal_wanted(self, path: Path, last_change: float, check_busy: bool,
                     session: str | None) -> Outcome | tuple[Op, os.stat_result]:
        """The operation to journal for `path` and its stat, or why it is not sealed now."""
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return Outcome(GONE, path)
        if not stat.S_ISREG(st.st_mode) or names.is_sealed_name(path.name) \
                or names.is_work_name(path.name):
            return Outcome(SKIPPED, path, reason="not a plaintext regular file")
        busy = self.busy_reason(path, st, last_change) if check_busy else None
        if busy:
            return Outcome(BUSY, path, reason=busy)
        try:
            dst = names.sealed_target(path)
        except OSError as exc:
            return failed(path, exc)
        return Op(0, "seal", STARTED, path, dst, names.seal_temp_for(path), path,
                  Identity.of(st), session=session), st

    def _sealing(self, work: Work) -> Generator[None, None, Work]:
        """Write the sealed copy; once resumed, fsync and check it (see `group.Making`)."""
        op, st = work.op, work.st
        assert st is not None
        sealer = ChunkSealer(self.seal_key, size=st.st_size, mtime_ns=st.st_mtime_ns,
                             mode=stat.S_IMODE(st.st_mode), chunk_size=self.chunk_size)
        with self.ops.open_read(op.src) as src, self.ops.create(op.tmp) as out:
            if Identity.of(os.fstat(src.fileno())) != op.src_identity:
                raise SourceChangedError("the file changed just before sealing")
            copying.write_sealed(src, out, sealer, self._buffers(sealer.header))
            yield  # the group's other files are written meanwhile
            out.fsync()
            tmp_ino = os.fstat(out.fd).st_ino
            self.ops.barrier("seal.written")
            try:
                copying.check_sealed(src, out, sealer, self.open_keys,
                                     self._buffers(sealer.header))
            except VerificationError:
                check_unchanged(op)  # a plaintext edited meanwhile: retried, no failure
                raise
        check_unchanged(op)
        return replace(work, op=verified(op, plain_size=st.st_size, tmp_ino=tmp_ino,
                                         sealed_size=sealed_size(st.st_size, self.chunk_size)))

    # -- unseal ------------------------------------------------------------------------------
    def unseal_file(self, sealed: Path, *, original: Path | None = None) -> Outcome:
        """Restore one sealed file to its plaintext (original name, mtime and mode)."""
        return self.unseal_files([(Path(sealed), original)])[0]

    def unseal_files(self, files: Sequence[tuple[Path, Path | None]]) -> list[Outcome]:
        """Restore a group of sealed files, given as (path, original path or None), the way
        `seal_files` seals them; one outcome per file, in order."""
        outcomes: Outcomes = [None] * len(files)
        wanted = []
        for index, (sealed, original) in enumerate(files):
            found = self._unseal_wanted(Path(sealed), original)
            if isinstance(found, Outcome):
                outcomes[index] = found
            else:
                wanted.append(Work(index, found))
        begun = self._begin("unseal", wanted, outcomes)
        self._put_in_place("unseal", self._make_all(begun, self._unsealing, outcomes), outcomes)
        return _all(outcomes)

    def _unseal_wanted(self, sealed: Path, original: Path | None) -> Outcome | Op:
        try:
            st = os.lstat(sealed)
            original = original or self.journal.sealed_original(sealed) \
                or names.original_name(sealed)
        except (FileNotFoundError, SealError) as exc:
            status = GONE if isinstance(exc, FileNotFoundError) else SKIPPED
            return Outcome(status, sealed, reason=message(exc))
        except (OSError, sqlite3.Error) as exc:
            return failed(sealed, exc)
        if not stat.S_ISREG(st.st_mode):
            return Outcome(SKIPPED, sealed, reason="not a regular file")
        try:
            dst = names.plain_target(original)
        except OSError as exc:
            return failed(sealed, exc)
        return Op(0, "unseal", STARTED, sealed, dst, names.unseal_temp_for(sealed, dst.parent),
                  original, Identity.of(st))

    def _unsealing(self, work: Work) -> Generator[None, None, Work]:
        """Write the plaintext with its mtime and mode; once resumed, fsync and check it."""
        op = work.op
        with self.ops.open_read(op.src) as src, self.ops.create(op.tmp) as out:
            opener = copying.write_plain(src, out, self.open_keys, self._buffers)
            header = opener.header
            self.ops.set_mtime(op.tmp, header.mtime_ns)
            self.ops.chmod(op.tmp, header.mode)
            yield  # the group's other files are written meanwhile
            out.fsync()  # data and the restored metadata in one go
            self.ops.barrier("unseal.written")
            copying.check_plain(src, out, opener, self._buffers(header))
            tmp_ino = os.fstat(out.fd).st_ino
        return replace(work, mtime_ns=header.mtime_ns, op=verified(
            op, plain_size=header.size, tmp_ino=tmp_ino,
            sealed_size=sealed_size(header.size, header.chunk_size)))

    def _buffers(self, header: SealHeader) -> Buffers:
        """This thread's block buffers, reused from file to file (allocating and first touching
        a few MiB per file would cost more than the comparison they serve). A group's files
        use them one after the other, never two at once."""
        cached = getattr(self._local, "buffers", None)
        if cached is not None and cached.fits(header):
            return cached
        if header.chunk_size != self.chunk_size:  # another agent's choice: sized, not kept
            return Buffers.for_header(header, compare=True)
        self._local.buffers = Buffers.for_chunk_size(self.chunk_size, compare=True)
        return self._local.buffers

    # -- recovery ----------------------------------------------------------------------------
    def recover(self) -> list[tuple[Op, str]]:
        """Settle every operation a crash left open (call at start-up, before sealing)."""
        settled = []
        for op in self.journal.open_ops():
            try:
                settled.append((op, recovery.resolve(op, self.journal, self.ops)))
            except OSError as exc:
                log.warning("recovery of %s %s failed, retried later: %s", op.kind, op.src, exc)
                settled.append((op, "failed"))
        self.unresolved = len(self.journal.open_ops())
        return settled


def _all(outcomes: Outcomes) -> list[Outcome]:
    """Every file of a group has its outcome once the group is done."""
    done = [out for out in outcomes if out is not None]
    assert len(done) == len(outcomes), "a file of the group has no outcome"
    return done


def hash_file(ops: FileOps, path: Path, block: int = 1 << 20) -> bytes:
    """SHA-256 of a file, read in bounded blocks."""
    digest = hashlib.sha256()
    with ops.open_read(path) as handle:
        while chunk := handle.read(block):
            digest.update(chunk)
    return digest.digest()
