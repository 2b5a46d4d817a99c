"""File-system operations whose correct form differs per OS, for crash-safe sealing.

- `fsync_directory`: makes a rename or unlink in a folder durable (POSIX); NTFS journals its
  metadata, so on Windows it is a no-op.
- `rename_noreplace`: atomic rename that fails with FileExistsError instead of replacing
  (Linux renameat2(RENAME_NOREPLACE), macOS renamex_np(RENAME_EXCL), Windows MoveFileEx's
  default); where the call is unavailable it checks first (a tiny race, documented).
- `file_in_use`: is another process holding the file? Linux: a write lease (F_SETLEASE) can only
  be taken when no other descriptor is open, so it answers "open anywhere" in O(1); POSIX also
  checks flock/lockf locks; Windows opens with no sharing (a sharing violation means open).
- `ProcessLock`: one sealing process per state folder (the agent, or a CLI command).
- `start_writeback`: a hint to start writing a file's new data to disk now (Linux
  sync_file_range), so the writes of a group of files overlap before each is fsynced.

Each probe answers None when the file looks free and a short reason when it is busy.
"""

from __future__ import annotations

import ctypes
import errno
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

_LINUX, _MACOS = sys.platform.startswith("linux"), sys.platform == "darwin"
_WINDOWS = os.name == "nt"
_AT_FDCWD, _RENAME_NOREPLACE, _RENAME_EXCL = -100, 1, 0x4


def fsync_directory(path: str | os.PathLike[str]) -> None:
    """Flush a folder's entries (renames, unlinks) to disk."""
    if _WINDOWS:
        return
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _libc() -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None


_LIBC = None if _WINDOWS else _libc()
_SYNC_FILE_RANGE_WRITE = 2


def _sync_file_range() -> Callable[..., int] | None:
    function = getattr(_LIBC, "sync_file_range", None) if _LINUX else None
    if function is not None:
        function.argtypes = (ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint)
        function.restype = ctypes.c_int
    return function


_SYNC_RANGE = _sync_file_range()


def start_writeback(fd: int, offset: int, length: int) -> None:
    """Start writing `length` bytes of `fd` from `offset` to disk without waiting for them.

    Only a hint (Linux `sync_file_range(SYNC_FILE_RANGE_WRITE)`, elsewhere nothing): the disk
    gets the writes of many files at once instead of one fsync at a time. Durability still comes
    only from fsync, so a failure here is ignored.
    """
    if _SYNC_RANGE is not None:
        _SYNC_RANGE(fd, offset, length, _SYNC_FILE_RANGE_WRITE)


def rename_noreplace(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
    """Rename `src` to `dst` atomically; FileExistsError if `dst` exists."""
    if _WINDOWS:
        os.rename(src, dst)  # MoveFileExW without MOVEFILE_REPLACE_EXISTING refuses to replace
        return
    s, d = os.fsencode(src), os.fsencode(dst)
    if _LINUX and _LIBC is not None and hasattr(_LIBC, "renameat2"):
        if _LIBC.renameat2(_AT_FDCWD, s, _AT_FDCWD, d, _RENAME_NOREPLACE) == 0:
            return
        err = ctypes.get_errno()
        if err not in (errno.EINVAL, errno.ENOSYS):  # EINVAL: the file system lacks the flag
            raise OSError(err, os.strerror(err), os.fsdecode(src), None, os.fsdecode(dst))
    elif _MACOS and _LIBC is not None and hasattr(_LIBC, "renamex_np"):
        if _LIBC.renamex_np(s, d, _RENAME_EXCL) == 0:
            return
        err = ctypes.get_errno()
        if err not in (errno.EINVAL, errno.ENOTSUP):
            raise OSError(err, os.strerror(err), os.fsdecode(src), None, os.fsdecode(dst))
    if os.path.lexists(dst):
        raise FileExistsError(errno.EEXIST, "destination exists", os.fsdecode(dst))
    os.rename(src, dst)


def file_in_use(path: str | os.PathLike[str]) -> str | None:
    """A short reason if another process has `path` open or locked, else None."""
    if _WINDOWS:
        return _windows_in_use(os.fspath(path))
    try:
        flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0)
        fd = os.open(path, flags)
    except OSError as exc:
        return None if exc.errno == errno.ENOENT else f"cannot open: {exc.strerror}"
    try:
        return _lease_probe(fd) or _lock_probe(fd)
    finally:
        os.close(fd)


def _lease_probe(fd: int) -> str | None:
    import fcntl

    if not _LINUX or not hasattr(fcntl, "F_SETLEASE"):
        return None
    try:
        fcntl.fcntl(fd, fcntl.F_SETLEASE, fcntl.F_WRLCK)
    except OSError as exc:
        # EAGAIN: someone else has it open. EACCES/EINVAL: not ours or no lease support.
        return "open in another process" if exc.errno == errno.EAGAIN else None
    fcntl.fcntl(fd, fcntl.F_SETLEASE, fcntl.F_UNLCK)
    return None


def _lock_probe(fd: int) -> str | None:
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return "locked by another process (flock)"
    except OSError:
        return None
    fcntl.flock(fd, fcntl.LOCK_UN)
    try:
        fcntl.lockf(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)  # a read lock fits a read-only fd
    except BlockingIOError:
        return "locked by another process (record lock)"
    except OSError:
        return None
    fcntl.lockf(fd, fcntl.LOCK_UN)
    return None


def _windows_in_use(path: str) -> str | None:  # pragma: no cover - exercised on Windows only
    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)  # type: ignore[attr-defined]
    generic_read, open_existing, sharing_violation = 0x80000000, 3, 32
    handle = kernel32.CreateFileW(path, generic_read, 0, None, open_existing, 0, None)
    if handle == ctypes.c_void_p(-1).value:
        err = ctypes.get_last_error()  # type: ignore[attr-defined]
        return "open in another process" if err == sharing_violation else None
    kernel32.CloseHandle(handle)
    return None


class ProcessLock:
    """An exclusive, non-blocking lock on a file: one sealing process per state folder."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._fd: int | None = None

    def acquire(self, timeout: float = 0.0) -> bool:
        """Take the lock, waiting up to `timeout` seconds; False if another process keeps it.

        The OS frees the lock when the holder dies, so a crash never leaves it stuck.
        """
        deadline = time.monotonic() + timeout
        while not self._try_acquire():
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)
        return True

    def _try_acquire(self) -> bool:
        if self._fd is not None:
            return True
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if _WINDOWS:  # pragma: no cover
                import msvcrt

                msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)  # type: ignore[attr-defined]
            else:
                import fcntl

                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def release(self) -> None:
        """Drop the lock (closing the descriptor releases it)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
