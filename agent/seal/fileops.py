"""The write seam: every file-system change made while sealing goes through one `FileOps`.

The engine never calls `os` to change a file directly. Tests and the crash driver pass a
subclass that fails (ENOSPC, EACCES) or kills the process at a chosen step; `barrier` marks
the points between two durable steps so such a subclass can count them too.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

from agent.platform import files as platform_files

_O_BINARY = getattr(os, "O_BINARY", 0)
_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


class Writer:
    """A new file being written through a `FileOps`; `write` accepts any bytes-like object."""

    def __init__(self, ops: FileOps, fd: int, path: Path) -> None:
        self.ops, self.fd, self.path = ops, fd, path
        self.closed, self.size = False, 0

    def write(self, data: bytes | memoryview) -> int:
        """Write all of `data` (retrying short writes), then let the disk start on it: the
        fsync that follows later waits less, and the writes of several files overlap."""
        view, done = memoryview(data), 0
        while done < len(view):
            done += self.ops.write(self.fd, view[done:])
        self.ops.start_writeback(self.fd, self.size, done)
        self.size += done
        return done

    def fsync(self) -> None:
        """Flush the file's data and metadata to disk."""
        self.ops.fsync(self.fd)

    def close(self) -> None:
        """Close the descriptor (idempotent)."""
        if not self.closed:
            self.closed = True
            os.close(self.fd)

    def __enter__(self) -> Writer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class FileOps:
    """The real file system. Subclass and override a method to inject a fault there."""

    def open_read(self, path: Path) -> io.FileIO:
        """Open an existing file for unbuffered binary reading (never follows a symlink)."""
        return io.FileIO(os.open(path, os.O_RDONLY | _O_BINARY | _O_NOFOLLOW), "rb")

    def create(self, path: Path, mode: int = 0o600) -> Writer:
        """Create a new file exclusively (FileExistsError if it exists), owner-only.

        Opened read-write so what was written can be read back through the same descriptor.
        """
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | _O_BINARY | _O_NOFOLLOW, mode)
        return Writer(self, fd, Path(path))

    def write(self, fd: int, data: memoryview) -> int:
        """One write(2); returns the bytes written."""
        return os.write(fd, data)

    def fsync(self, fd: int) -> None:
        """fsync(2) a file descriptor."""
        os.fsync(fd)

    def start_writeback(self, fd: int, offset: int, length: int) -> None:
        """Start writing a just-written range to disk, without waiting (a hint, not a step:
        nothing is durable until `fsync`)."""
        platform_files.start_writeback(fd, offset, length)

    def rename(self, src: Path, dst: Path) -> None:
        """Atomic rename that never replaces an existing `dst`."""
        platform_files.rename_noreplace(src, dst)

    def unlink(self, path: Path) -> None:
        """Remove a file."""
        os.unlink(path)

    def fsync_dir(self, path: Path) -> None:
        """Make renames and unlinks in folder `path` durable."""
        platform_files.fsync_directory(path)

    def chmod(self, path: Path, mode: int) -> None:
        """Set permission bits."""
        os.chmod(path, mode)

    def set_mtime(self, path: Path, mtime_ns: int) -> None:
        """Set the modification time (and the access time to the same instant)."""
        os.utime(path, ns=(mtime_ns, mtime_ns))

    def barrier(self, label: str) -> None:
        """A point between two durable steps; a no-op here, a kill point in fault tests."""
