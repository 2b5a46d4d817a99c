"""macOS: idle time and lock state from the I/O Registry (`ioreg`), sign-ins from `log show`.

Idle: `ioreg -c IOHIDSystem` prints `"HIDIdleTime" = <nanoseconds>` (IOKit's count since
the last HID event). Lock: the Root entry's `IOConsoleUsers` array carries, per console user,
the CGSession dictionary keys including `CGSSessionScreenIsLocked` (the same data as
`CGSessionCopyCurrentDictionary`). Both come through the subprocess seam (`runner`). Before
sleep: IOKit's system power notifications (sleep_macos.py).
"""

from __future__ import annotations

import getpass
import os
import plistlib
import re
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from agent.platform import maclog
from agent.platform.base import (
    BrowserRoot,
    Capability,
    PlatformBase,
    Runner,
    first_line,
    run_command,
)
from agent.platform.signins import SigninBatch

HID_IDLE = re.compile(rb'"HIDIdleTime" = (\d+)')


def parse_hid_idle(output: bytes) -> float | None:
    """Seconds from `ioreg -c IOHIDSystem` output, or None if the key is missing."""
    match = HID_IDLE.search(output)
    return int(match[1]) / 1_000_000_000 if match else None


def _find_console_users(node: object) -> list | None:
    if isinstance(node, dict):
        if "IOConsoleUsers" in node:
            return node["IOConsoleUsers"]
        children = node.values()
    elif isinstance(node, list):
        children = node
    else:
        return None
    for child in children:
        found = _find_console_users(child)
        if found is not None:
            return found
    return None


def parse_console_lock(plist: bytes, uid: int) -> bool | None:
    """From `ioreg -n Root -d1 -a`: is `uid`'s console session's screen locked (None: no
    console session for that user)."""
    users = _find_console_users(plistlib.loads(plist)) or []
    for user in users:
        if user.get("kCGSSessionUserIDKey") == uid:
            return bool(user.get("CGSSessionScreenIsLocked", False))
    return None


class MacPlatform(PlatformBase):
    """The macOS implementation behind the facade."""

    def __init__(self, *, runner: Runner = run_command, uid: int | None = None,
                 home: Path | None = None, iokit: object | None = None,
                 corefoundation: object | None = None) -> None:
        self.runner = runner
        self.uid = uid if uid is not None else os.getuid()
        self.home = home or Path.home()
        self.frameworks = iokit, corefoundation  # stand-ins for tests; loaded when None
        self._caps: dict[str, Capability] = {}

    def _sleep_watch(self):
        """Before sleep: IORegisterForSystemPower on a CFRunLoop thread (sleep_macos.py)."""
        from agent.platform.sleep_macos import MacSleepWatch

        return MacSleepWatch(*self.frameworks)

    def _run(self, cap: str, argv: list[str]) -> bytes | None:
        try:
            result = self.runner(argv)
        except (FileNotFoundError, PermissionError) as exc:
            self._caps[cap] = Capability(cap, False, argv[0], False, f"{argv[0]}: {exc}")
            return None
        if result.returncode != 0:
            self._caps[cap] = Capability(cap, False, argv[0], False,
                                         first_line(result.stderr) or "ioreg failed")
            return None
        return result.stdout

    def idle_seconds(self) -> float | None:
        """Seconds since the last HID input (IOHIDSystem's HIDIdleTime)."""
        out = self._run("idle", ["ioreg", "-c", "IOHIDSystem", "-d", "4"])
        seconds = parse_hid_idle(out) if out is not None else None
        if out is not None:
            ok = seconds is not None
            self._caps["idle"] = Capability("idle", ok, "ioreg-HIDIdleTime", False,
                                            "" if ok else "HIDIdleTime missing from ioreg")
        return seconds

    def session_locked(self) -> bool | None:
        """Whether this user's console screen is locked (CGSSessionScreenIsLocked)."""
        out = self._run("lock", ["ioreg", "-n", "Root", "-d1", "-a"])
        if out is None:
            return None
        try:
            locked = parse_console_lock(out, self.uid)
        except (plistlib.InvalidFileException, ValueError, AttributeError) as exc:
            self._caps["lock"] = Capability("lock", False, "ioreg", False, f"bad plist: {exc}")
            return None
        self._caps["lock"] = Capability(
            "lock", locked is not None, "ioreg-IOConsoleUsers", False,
            "" if locked is not None else "this user has no console session")
        return locked

    def browser_profile_roots(self) -> list[BrowserRoot]:
        """Profile roots under ~/Library/Application Support."""
        support = self.home / "Library" / "Application Support"
        return [BrowserRoot("chrome", "chromium", support / "Google/Chrome"),
                BrowserRoot("chromium", "chromium", support / "Chromium"),
                BrowserRoot("edge", "chromium", support / "Microsoft Edge"),
                BrowserRoot("brave", "chromium", support / "BraveSoftware/Brave-Browser"),
                BrowserRoot("vivaldi", "chromium", support / "Vivaldi"),
                BrowserRoot("firefox", "firefox", support / "Firefox")]

    def known_folders(self) -> dict[str, Path]:
        """The standard folders in the home folder."""
        return {name: self.home / name for name in ("Documents", "Downloads", "Desktop")}


class MacSigninReader:
    """Reads the unified log with `log show --style ndjson` since the last checkpoint."""

    def __init__(self, *, runner: Runner = run_command, user: str | None = None,
                 localtime: Callable[[float], datetime] | None = None) -> None:
        self.runner = runner
        self.user = user or getpass.getuser()
        self.localtime = localtime or (lambda t: datetime.fromtimestamp(t).astimezone())

    def read(self, checkpoint: dict, *, now: float, backfill: float) -> SigninBatch:
        """New records since the checkpoint's time (records at that instant are re-read and
        de-duplicated downstream by their idempotency keys)."""
        since = float(checkpoint.get("since", now - backfill))
        start = self.localtime(since).strftime("%Y-%m-%d %H:%M:%S%z")
        argv = ["log", "show", "--style", "ndjson", "--start", start,
                "--predicate", maclog.PREDICATE]
        try:
            result = self.runner(argv)
        except (FileNotFoundError, PermissionError) as exc:
            return SigninBatch([], checkpoint, [Capability(
                "signins_unified_log", False, "log", False, f"log show: {exc}")])
        if result.returncode != 0:
            return SigninBatch([], checkpoint, [Capability(
                "signins_unified_log", False, "log", False,
                first_line(result.stderr) or "log show failed")])
        records = maclog.parse_lines(result.stdout.splitlines(), self.user)
        newest = max([since] + [r.time.timestamp() for r in records])
        return SigninBatch(records, {"since": newest},
                           [Capability("signins_unified_log", True, "log show")])


if __name__ == "__main__":  # probe this module alone: python -m agent.platform.macos
    _probe = MacPlatform()
    print(f"idle seconds: {_probe.idle_seconds()}, locked: {_probe.session_locked()}")
    for _cap in _probe.capabilities():
        print(f"  {_cap.name}: available={_cap.available} source={_cap.source} {_cap.reason}")
