"""Run the agent at reduced CPU and I/O priority, with whatever each OS offers."""

from __future__ import annotations

import ctypes
import ctypes.util


def reduce_priority(process: object, system: str) -> list[str]:
    """Lower `process`'s (a psutil.Process) CPU and I/O priority; returns what was applied.

    Failures are reported, never raised: running at normal priority is better than not
    running.
    """
    import psutil

    applied: list[str] = []
    cpu = psutil.BELOW_NORMAL_PRIORITY_CLASS if system == "windows" else 10  # type: ignore
    try:
        process.nice(cpu)  # type: ignore[attr-defined]
        applied.append(f"cpu nice={cpu}")
    except (psutil.Error, OSError, ValueError) as exc:
        applied.append(f"cpu priority unchanged ({exc.__class__.__name__})")
    applied.append(_io(process, system, psutil))
    return applied


def _io(process: object, system: str, psutil) -> str:
    if system == "linux":
        try:
            process.ionice(psutil.IOPRIO_CLASS_IDLE)  # type: ignore[attr-defined]
            return "io class=idle"
        except (psutil.Error, OSError, ValueError) as exc:
            return f"io priority unchanged ({exc.__class__.__name__})"
    if system == "windows":
        try:
            process.ionice(psutil.IOPRIO_LOW)  # type: ignore[attr-defined]
            return "io priority=low"
        except (psutil.Error, OSError, ValueError) as exc:
            return f"io priority unchanged ({exc.__class__.__name__})"
    return _darwin_io()


def _darwin_io() -> str:
    """macOS: setiopolicy_np(IOPOL_TYPE_DISK, IOPOL_SCOPE_PROCESS, IOPOL_THROTTLE)."""
    path = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(path)
        if libc.setiopolicy_np(0, 0, 3) == 0:
            return "io policy=throttle"
    except (OSError, AttributeError) as exc:
        return f"io priority unchanged ({exc.__class__.__name__})"
    return "io priority unchanged (setiopolicy_np failed)"


M_ARENA_MAX = -8  # glibc mallopt parameter


def _glibc():
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.gnu_get_libc_version  # noqa: B018 (present only in glibc)
        return libc
    except (OSError, AttributeError):
        return None


def tune_allocator(system: str) -> str:
    """glibc gives each thread its own malloc arena, which fragments a long-running threaded
    process's memory; two arenas are plenty for the agent. Call before starting threads."""
    libc = _glibc() if system == "linux" else None
    if libc is None:
        return "allocator unchanged"
    return "malloc arenas=2" if libc.mallopt(M_ARENA_MAX, 2) == 1 else "allocator unchanged"


def release_memory(system: str) -> None:
    """Give freed heap memory back to the OS (glibc `malloc_trim`); a no-op elsewhere."""
    libc = _glibc() if system == "linux" else None
    if libc is not None:
        libc.malloc_trim(0)
