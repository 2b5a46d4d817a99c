"""What happened to each file a seal or unseal was asked to handle, in words and short names."""

from __future__ import annotations

import errno
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from agent.seal.errors import SealError

SEALED, UNSEALED, BUSY, CHANGED = "sealed", "unsealed", "busy", "changed"
GONE, SKIPPED, FAILED = "gone", "skipped", "failed"


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


def failed(path: Path, exc: BaseException) -> Outcome:
    """A file that was not touched because of `exc`."""
    return Outcome(FAILED, path, reason=message(exc), error_kind=error_kind(exc))
