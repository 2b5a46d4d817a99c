"""Shapes shared by every OS module: capabilities, browser roots, the subprocess seam, sleep.

Each OS module (`windows.py`, `macos.py`, `linux.py`) returns these types so the rest of the
agent never branches on the operating system.
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Capability:
    """One thing the platform layer can or cannot observe, and why.

    `name` is stable (`idle`, `lock`, `sleep_wake`, `about_to_sleep`, `signins`, ...);
    `available` False means the agent cannot see it at all, `degraded` True means it sees a
    coarser or partial version. `source` names the mechanism in use; `reason` says why it is
    missing or degraded, in words an operator can act on.
    """

    name: str
    available: bool
    source: str = ""
    degraded: bool = False
    reason: str = ""

    def as_dict(self) -> dict[str, object]:
        """JSON-friendly form used by `status --json` and the check-in state."""
        return {"name": self.name, "available": self.available, "source": self.source,
                "degraded": self.degraded, "reason": self.reason}


class PlatformBase:
    """What every OS module has in common: probing its capabilities on first request, and
    the before-sleep registration (`on_about_to_sleep`, see agent/platform/sleep.py).

    Subclasses fill `_caps` as `idle_seconds()` and `session_locked()` find out what works,
    and return their OS's sleep watch from `_sleep_watch()`."""

    _caps: dict[str, Capability]
    _sleep: object | None = None  # the SleepRegistry, made on first use

    def idle_seconds(self) -> float | None:
        raise NotImplementedError

    def session_locked(self) -> bool | None:
        raise NotImplementedError

    def local_time_zone(self) -> str | None:
        """IANA name of the local zone where the OS does not expose it as TZ or
        /etc/localtime (Windows); None elsewhere, where those are read directly."""
        return None

    def capabilities(self) -> list[Capability]:
        """What works here and what does not; idle and lock are probed if not yet probed,
        and `about_to_sleep` is the running sleep watch's state (probed when none runs)."""
        if "idle" not in self._caps:
            self.idle_seconds()
        if "lock" not in self._caps:
            self.session_locked()
        return [self._caps["idle"], self._caps["lock"], self._sleep_registry().capability()]

    def on_about_to_sleep(self, before_sleep: Callable[[float], None],
                          after_wake: Callable[[], None] | None = None) -> Callable[[], None]:
        """Call `before_sleep(budget_seconds)` when the OS announces sleep - the OS waits
        until it returns (at most its own limit) - and `after_wake()` on resume. The first
        registration starts the OS watch; returns the function that unregisters."""
        return self._sleep_registry().subscribe(before_sleep, after_wake)

    def _sleep_watch(self):
        """This OS's `SleepWatch` (agent/platform/sleep.py); none by default."""
        from agent.platform.sleep import Unobserved

        return Unobserved("not observed on this OS: sleep is detected after waking "
                          "(clock gap)")

    def _sleep_registry(self):
        with _REGISTRY_LOCK:  # the seal sensor and a status request may ask at once
            if self._sleep is None:
                from agent.platform.sleep import SleepRegistry

                self._sleep = SleepRegistry(self._sleep_watch())
            return self._sleep


_REGISTRY_LOCK = threading.Lock()


@dataclass(frozen=True)
class BrowserRoot:
    """A folder where a browser keeps its profiles (may not exist on this laptop)."""

    browser: str  # chrome, chromium, edge, brave, vivaldi, firefox
    family: str  # "chromium" or "firefox": which history schema its profiles use
    path: Path
    packaging: str = "native"  # native, snap or flatpak


@dataclass(frozen=True)
class CommandResult:
    """What the subprocess seam returns: exit status and raw output."""

    returncode: int
    stdout: bytes
    stderr: bytes = b""


Runner = Callable[[Sequence[str]], CommandResult]
"""The subprocess seam: run argv, return its result; raise FileNotFoundError if absent."""


def run_command(argv: Sequence[str], timeout: float = 5.0) -> CommandResult:
    """The real runner: a subprocess with a timeout; a hung tool counts as a failure."""
    try:
        done = subprocess.run(list(argv), capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        return CommandResult(returncode=-1, stdout=exc.stdout or b"",
                             stderr=f"timed out after {timeout}s".encode())
    return CommandResult(done.returncode, done.stdout, done.stderr)


def first_line(data: bytes, limit: int = 200) -> str:
    """The first line of a tool's error output, trimmed, for capability reasons."""
    text = data.decode("utf-8", "replace").strip().splitlines()
    return text[0][:limit] if text else ""


class SleepDetector:
    """Detects that the laptop slept, from clocks alone (always available).

    The monotonic clock stops while the machine is suspended on Linux and macOS while the wall
    clock keeps going, so a wall-clock advance much larger than the monotonic one between two
    checks means the laptop slept. On Windows the monotonic clock may keep counting during
    sleep, so a check that arrives far later than it was scheduled also counts. Wall-clock
    jumps (NTP, manual changes) can cause a false "woke"; sensors treat it as a hint.
    """

    def __init__(self, *, threshold: float = 30.0,
                 wall: Callable[[], float] = time.time,
                 mono: Callable[[], float] = time.monotonic) -> None:
        self.threshold = threshold
        self._wall, self._mono = wall, mono
        self._last_wall, self._last_mono = wall(), mono()

    def check(self, expected_interval: float) -> float | None:
        """Call periodically; returns the seconds slept since the last call, or None."""
        wall, mono = self._wall(), self._mono()
        wall_delta, mono_delta = wall - self._last_wall, mono - self._last_mono
        self._last_wall, self._last_mono = wall, mono
        hidden = wall_delta - mono_delta  # time the monotonic clock did not see
        late = mono_delta - expected_interval  # time we were not scheduled (Windows)
        slept = max(hidden, late)
        return slept if slept >= self.threshold else None
