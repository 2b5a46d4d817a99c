"""The platform facade: one small set of functions, implemented once per OS.

The implementation is chosen once, by `sys.platform`, among `windows.py`, `macos.py` and
`linux.py`; the rest of the agent calls only these functions and never branches on the OS.

| function | returns |
|---|---|
| `idle_seconds()` | seconds since the last keyboard/mouse input, or **None** when unknown |
| `session_locked()` | True/False, or **None** when unknown |
| `capabilities()` | `Capability` list: what works, what is degraded or missing, and why |
| `browser_profile_roots()` | `BrowserRoot` candidates (may not exist) for the nudges sensor |
| `known_folders()` | {"Documents": Path, "Downloads": Path, "Desktop": Path} |
| `signin_reader(**paths)` | reader: `.read(checkpoint, now=, backfill=)` -> `SigninBatch` |
| `reduce_priority()` | lowers this process's CPU and I/O priority; returns what was applied |
| `release_memory()` | returns freed heap memory to the OS (glibc malloc_trim) |
| `local_time_zone()` | the OS's IANA zone where TZ and /etc do not tell (Windows), else **None** |
| `on_about_to_sleep(before, after)` | before-sleep/after-wake callbacks; returns the unregisterer |
| `SleepDetector` | wall-clock vs monotonic gap: "the laptop slept N seconds" (always available) |

Unknown is never reported as 0 or False: a headless machine answers None and says why in
`capabilities()`. `python -m agent.platform` prints what this machine offers.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from agent.platform.base import BrowserRoot, Capability, SleepDetector
from agent.platform.signins import LaptopSignin, SigninBatch

__all__ = ["NAME", "BrowserRoot", "Capability", "LaptopSignin", "SigninBatch", "SleepDetector",
           "browser_profile_roots", "capabilities", "idle_seconds", "implementation",
           "known_folders", "local_time_zone", "on_about_to_sleep", "reduce_priority",
           "release_memory", "session_locked", "signin_reader"]

if sys.platform == "win32":
    NAME = "windows"
elif sys.platform == "darwin":
    NAME = "macos"
else:
    NAME = "linux"

_impl: object | None = None


def implementation():
    """The platform object for this OS, built on first use (so importing stays cheap)."""
    global _impl
    if _impl is None:
        if NAME == "windows":
            from agent.platform.windows import WindowsPlatform as impl_class
        elif NAME == "macos":
            from agent.platform.macos import MacPlatform as impl_class
        else:
            from agent.platform.linux import LinuxPlatform as impl_class
        _impl = impl_class()
    return _impl


def idle_seconds() -> float | None:
    """Seconds since the last input in this desktop session, or None when unknown."""
    return implementation().idle_seconds()


def local_time_zone() -> str | None:
    """The OS's own idea of the local IANA zone where TZ and /etc/localtime do not tell."""
    return implementation().local_time_zone()


def session_locked() -> bool | None:
    """Whether this desktop session is locked, or None when unknown."""
    return implementation().session_locked()


def on_about_to_sleep(before_sleep: Callable[[float], None],
                      after_wake: Callable[[], None] | None = None) -> Callable[[], None]:
    """Call `before_sleep(budget_seconds)` when the OS announces sleep (the OS waits for it
    to return, within its own limit) and `after_wake()` on resume; returns the function that
    unregisters. Where the OS cannot tell, nothing is called and `capabilities()` says why."""
    return implementation().on_about_to_sleep(before_sleep, after_wake)


def capabilities() -> list[Capability]:
    """Each capability with its source, or why it is degraded or missing."""
    sleep = Capability("sleep_wake", True, "clock-gap", False,
                       "detected after waking, from the wall-clock vs monotonic gap")
    return [*implementation().capabilities(), sleep]


def browser_profile_roots() -> list[BrowserRoot]:
    """Candidate browser profile roots on this OS (check `.path.is_dir()` before use)."""
    return implementation().browser_profile_roots()


def known_folders() -> dict[str, Path]:
    """The user's Documents, Downloads and Desktop folders."""
    return implementation().known_folders()


def signin_reader(*, wtmp: str | None = None, btmp: str | None = None):
    """The reader of this laptop's own sign-in logs (wtmp/btmp paths overridable on Linux)."""
    if NAME == "windows":
        from agent.platform.windows import WindowsSigninReader

        return WindowsSigninReader()
    if NAME == "macos":
        from agent.platform.macos import MacSigninReader

        return MacSigninReader()
    from agent.platform.linux_signins import LinuxSigninReader

    kwargs = {k: Path(v) for k, v in (("wtmp", wtmp), ("btmp", btmp)) if v}
    return LinuxSigninReader(**kwargs)


def reduce_priority() -> list[str]:
    """Lower this process's CPU and I/O priority (psutil; setiopolicy_np on macOS) and, on
    glibc, cap malloc arenas; call before starting threads. Returns what was applied."""
    import psutil

    from agent.platform.priority import reduce_priority as lower
    from agent.platform.priority import tune_allocator

    return [*lower(psutil.Process(), NAME), tune_allocator(NAME)]


def release_memory() -> None:
    """Return freed heap memory to the OS where the allocator allows it (glibc)."""
    from agent.platform.priority import release_memory as release

    release(NAME)
