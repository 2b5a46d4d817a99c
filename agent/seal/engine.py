"""Seal and unseal one file in place, crash-safely, and recover after a crash.

Seal `P`: journal `started` -> write the sealed form to hidden temporary `T` in the same folder
-> fsync `T` -> read `T` back, decrypt it and compare it byte for byte with `P` read again
(`agent.seal.copying`) -> check `P` did not change -> journal `verified` -> rename `T` to
`P.heedful` (never replacing) -> fsync the folder -> remove `P` -> journal done. Unseal mirrors
it and restores the original bytes, modification time and permission bits. The removal is not
fsynced on its own: it becomes durable with the folder's next fsync, and a power cut before that
can only bring the old copy back next to the new one (both complete), never lose one. Any
failure (ENOSPC, EACCES, a tampered file, a crash) is resolved by `recovery.resolve`: at every
instant the file exists as plaintext or as a complete sealed file. All writes go through a
`FileOps` (the fault-injection seam).
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import sqlite3
import stat
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
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
from agent.seal.journal import Identity, Journal, Op

log = logging.getLogger(__name__)

SEALED, UNSEALED, BUSY, CHANGED = "sealed", "unsealed", "busy", "changed"
GONE, SKIPPED, FAILED = "gone", "skipped", "failed"
BusyProbe = Callable[[Path], "str | None"]


@dataclass(frozen=True)
class Outcome:
    """What happened to one file. `status` is one of the module constants."""

    status: str
    path: Path
    result_path: Path | None = None
    plain_bytes: int = 0
    sealed_bytes: int = 0
    reason: str = ""
    error_kind: str = ""


def message(exc: BaseException) -> str:
    """What went wrong, in words, without any path (outcomes carry the path separately)."""
    if isinstance(exc, OSError):
        return exc.strerror or exc.__class__.__name__
    return str(exc) or exc.__class__.__name__


def error_kind(exc: BaseException) -> str:
    """A stable short name for a failure, for events and status."""
    if isinstance(exc, SealError):
        return exc.kind
    if isinstance(exc, OSError):
        by_errno = {errno.ENOSPC: "disk_full", errno.EDQUOT: "disk_full",
                    errno.EACCES: "permission", errno.EPERM: "permission",
                    errno.EROFS: "permission", errno.ENAMETOOLONG: "name_too_long",
                    errno.EEXIST: "name_conflict", errno.ENOENT: "gone"}
        return by_errno.get(exc.errno or 0, "io")
    if isinstance(exc, sqlite3.Error):
        return "journal"
    return "internal"


class SealEngine:
    """Seals and unseals single files; `recover()` finishes what a crash interrupted."""

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
        path = Path(path)
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
            tmp = names.seal_temp_for(path)
            self._clear_temp(tmp)
            op = self.journal.begin("seal", src=path, dst=names.sealed_target(path), tmp=tmp,
                                    identity=Identity.of(st), original=path, session=session)
        except (OSError, sqlite3.Error) as exc:
            return Outcome(FAILED, path, reason=message(exc), error_kind=error_kind(exc))
        self.ops.barrier("seal.begun")
        try:
            op = self._seal_steps(op, st)
        except Exception as exc:  # noqa: BLE001 - every failure is resolved the same way
            return self._after_failure(op, exc)
        return Outcome(SEALED, path, op.dst, op.plain_size, op.sealed_size)

    def _seal_steps(self, op: Op, st: os.stat_result) -> Op:
        sealer = ChunkSealer(self.seal_key, size=st.st_size, mtime_ns=st.st_mtime_ns,
                             mode=stat.S_IMODE(st.st_mode), chunk_size=self.chunk_size)
        buffers = self._buffers(sealer.header)
        with self.ops.open_read(op.src) as src, self.ops.create(op.tmp) as out:
            if Identity.of(os.fstat(src.fileno())) != op.src_identity:
                raise SourceChangedError("the file changed just before sealing")
            copying.write_sealed(src, out, sealer, buffers)
            out.fsync()
            tmp_ino = os.fstat(out.fd).st_ino
            self.ops.barrier("seal.written")
            try:
                copying.check_sealed(src, out, sealer, self.open_keys, buffers)
            except VerificationError:
                self._check_unchanged(op)  # a plaintext edited meanwhile: retried, no failure
                raise
        self._check_unchanged(op)
        op = self.journal.mark_verified(op, plain_size=st.st_size,
                                        sealed_size=sealed_size(st.st_size, self.chunk_size),
                                        tmp_ino=tmp_ino)
        self.ops.barrier("seal.verified")
        op = self._place(op, names.sealed_target)
        self.ops.barrier("seal.renamed")
        self.ops.fsync_dir(op.dst.parent)
        self.ops.barrier("seal.placed")
        self._check_unchanged(op)
        self.ops.unlink(op.src)  # durable with the folder's next fsync; see module docstring
        self.ops.barrier("seal.plain_removed")
        self.journal.finish_seal(op)
        self.ops.barrier("seal.finished")
        return op

    @staticmethod
    def _check_unchanged(op: Op) -> None:
        try:
            now = Identity.of(os.lstat(op.src))
        except FileNotFoundError:
            raise SourceChangedError("the file was removed while being sealed") from None
        if now != op.src_identity:
            raise SourceChangedError("the file changed while being sealed; it is retried later")

    # -- unseal ------------------------------------------------------------------------------
    def unseal_file(self, sealed: Path, *, original: Path | None = None) -> Outcome:
        """Restore one sealed file to its plaintext (original name, mtime and mode)."""
        sealed = Path(sealed)
        try:
            st = os.lstat(sealed)
            original = original or self.journal.sealed_original(sealed) \
                or names.original_name(sealed)
        except (FileNotFoundError, SealError) as exc:
            status = GONE if isinstance(exc, FileNotFoundError) else SKIPPED
            return Outcome(status, sealed, reason=message(exc))
        if not stat.S_ISREG(st.st_mode):
            return Outcome(SKIPPED, sealed, reason="not a regular file")
        try:
            dst = names.plain_target(original)
            tmp = names.unseal_temp_for(sealed, dst.parent)
            self._clear_temp(tmp)
            op = self.journal.begin("unseal", src=sealed, dst=dst, tmp=tmp,
                                    identity=Identity.of(st), original=original)
        except (OSError, sqlite3.Error) as exc:
            return Outcome(FAILED, sealed, reason=message(exc), error_kind=error_kind(exc))
        self.ops.barrier("unseal.begun")
        try:
            op = self._unseal_steps(op)
        except Exception as exc:  # noqa: BLE001
            return self._after_failure(op, exc)
        return Outcome(UNSEALED, sealed, op.dst, op.plain_size, op.sealed_size)

    def _unseal_steps(self, op: Op) -> Op:
        with self.ops.open_read(op.src) as src, self.ops.create(op.tmp) as out:
            opener = copying.write_plain(src, out, self.open_keys, self._buffers)
            header = opener.header
            self.ops.set_mtime(op.tmp, header.mtime_ns)
            self.ops.chmod(op.tmp, header.mode)
            out.fsync()  # data and the restored metadata in one go
            self.ops.barrier("unseal.written")
            copying.check_plain(src, out, opener, self._buffers(header))
            tmp_ino = os.fstat(out.fd).st_ino
        op = self.journal.mark_verified(op, plain_size=header.size,
                                        sealed_size=sealed_size(header.size, header.chunk_size),
                                        tmp_ino=tmp_ino)
        self.ops.barrier("unseal.verified")
        op = self._place(op, lambda _: names.plain_target(op.original or op.dst))
        self.ops.barrier("unseal.renamed")
        self.ops.fsync_dir(op.dst.parent)
        self.ops.barrier("unseal.placed")
        self.ops.unlink(op.src)
        self.ops.barrier("unseal.sealed_removed")
        self.journal.finish_unseal(op, mtime_ns=header.mtime_ns)
        self.ops.barrier("unseal.finished")
        return op

    def _buffers(self, header: SealHeader) -> Buffers:
        """This thread's block buffers, reused from file to file (allocating and first touching
        a few MiB per file would cost more than the comparison they serve)."""
        cached = getattr(self._local, "buffers", None)
        if cached is not None and cached.fits(header):
            return cached
        if header.chunk_size != self.chunk_size:  # another agent's choice: sized, not kept
            return Buffers.for_header(header, compare=True)
        self._local.buffers = Buffers.for_chunk_size(self.chunk_size, compare=True)
        return self._local.buffers

    def _place(self, op: Op, free_name: Callable[[Path], Path], tries: int = 5) -> Op:
        """Rename the verified temporary file to its destination; if another file took that
        name meanwhile (e.g. a parallel unseal of a second version), to the next free one."""
        for _ in range(tries):
            try:
                self.ops.rename(op.tmp, op.dst)
                return op
            except FileExistsError:
                op = self.journal.move_dst(op, free_name(op.src))
        raise FileExistsError(errno.EEXIST, "no free name for the file", str(op.dst))

    # -- failures and recovery ---------------------------------------------------------------
    def _clear_temp(self, tmp: Path) -> None:
        """Settle any journalled operation using `tmp`, then drop an unexplained leftover."""
        for op in self.journal.open_ops():
            if op.tmp == tmp:
                recovery.resolve(op, self.journal, self.ops)
        if os.path.lexists(tmp):
            self.ops.unlink(tmp)  # no journal entry: only a lost database leaves one; source exists

    def _after_failure(self, op: Op, exc: Exception) -> Outcome:
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


def hash_file(ops: FileOps, path: Path, block: int = 1 << 20) -> bytes:
    """SHA-256 of a file, read in bounded blocks."""
    digest = hashlib.sha256()
    with ops.open_read(path) as handle:
        while chunk := handle.read(block):
            digest.update(chunk)
    return digest.digest()
