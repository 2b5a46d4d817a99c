"""Windows: idle time (GetLastInputInfo), lock state (WTS session flags), sign-ins, folders.

`WinApi` is the ctypes boundary (constructed only on Windows); `WindowsPlatform` holds the
logic and takes any object of the same shape, so the logic is tested on every OS.

The tick-count wrap: `LASTINPUTINFO.dwTime` is the 32-bit tick of the last input and wraps
after 49.7 days, while `GetTickCount64` does not. Elapsed time is therefore computed modulo
2**32 between the low 32 bits of GetTickCount64 and dwTime, which is right across a wrap.
"""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Mapping
from pathlib import Path

from agent.platform import winevents
from agent.platform.base import (
    BrowserRoot,
    Capability,
    PlatformBase,
    Runner,
    first_line,
    run_command,
)
from agent.platform.signins import SigninBatch

WTS_CURRENT_SERVER_HANDLE = 0
WTS_CURRENT_SESSION = 0xFFFFFFFF
WTS_SESSION_INFO_EX = 25
WTS_SESSIONSTATE_LOCK, WTS_SESSIONSTATE_UNLOCK = 0, 1
WINDOWS_7_BUILDS = (7600, 7601)  # these report LOCK and UNLOCK the wrong way round
EVENT_IDS = (4624, 4625, 4800, 4801)
TZ_REGISTRY_KEY = r"SYSTEM\CurrentControlSet\Control\TimeZoneInformation"


class WinApi:
    """The real Win32 calls, each returning plain integers (or None on failure)."""

    def __init__(self) -> None:
        from ctypes import wintypes

        class LastInputInfo(ctypes.Structure):
            _fields_ = [("cbSize", wintypes.UINT), ("dwTime", wintypes.DWORD)]

        self._info_type = LastInputInfo
        self.user32 = ctypes.WinDLL("user32")  # type: ignore[attr-defined]
        self.kernel32 = ctypes.WinDLL("kernel32")  # type: ignore[attr-defined]
        self.wtsapi32 = ctypes.WinDLL("wtsapi32")  # type: ignore[attr-defined]
        self.kernel32.GetTickCount64.restype = ctypes.c_uint64

    def last_input_tick(self) -> int | None:
        info = self._info_type()
        info.cbSize = ctypes.sizeof(info)
        return int(info.dwTime) if self.user32.GetLastInputInfo(ctypes.byref(info)) else None

    def tick_count64(self) -> int:
        return int(self.kernel32.GetTickCount64())

    def session_flags(self) -> int | None:
        """`WTSINFOEX_LEVEL1_W.SessionFlags` of the current session (offset 16 in WTSINFOEXW)."""
        buffer, size = ctypes.c_void_p(), ctypes.c_uint32()
        ok = self.wtsapi32.WTSQuerySessionInformationW(
            WTS_CURRENT_SERVER_HANDLE, WTS_CURRENT_SESSION, WTS_SESSION_INFO_EX,
            ctypes.byref(buffer), ctypes.byref(size))
        if not ok or not buffer.value or size.value < 20:
            return None
        try:
            return ctypes.c_int32.from_address(buffer.value + 16).value
        finally:
            self.wtsapi32.WTSFreeMemory(buffer)

    def windows_build(self) -> int:
        return int(sys.getwindowsversion().build)  # type: ignore[attr-defined]

    def time_zone_key_name(self) -> str | None:
        """The Windows time zone id in force, e.g. "W. Europe Standard Time"."""
        import winreg  # type: ignore[import-not-found]

        try:
            with winreg.OpenKey(winreg.HKEY_LOCAL_MACHINE, TZ_REGISTRY_KEY) as key:
                return str(winreg.QueryValueEx(key, "TimeZoneKeyName")[0]) or None
        except OSError:
            return None

    def iana_zone_for(self, windows_zone: str) -> str | None:
        """The IANA zone ICU (icu.dll, Windows 10 1903+) maps a Windows zone id to."""
        try:
            icu = ctypes.WinDLL("icu")  # type: ignore[attr-defined]
        except OSError:
            return None
        out, status = ctypes.create_unicode_buffer(64), ctypes.c_int(0)
        length = icu.ucal_getTimeZoneIDForWindowsID(
            windows_zone, len(windows_zone), None, out, len(out), ctypes.byref(status))
        return out.value[:length] if status.value <= 0 and length > 0 else None


def idle_ms(last_input_tick: int, tick_count64: int) -> int:
    """Milliseconds since the last input, correct across the 32-bit wrap of dwTime."""
    return ((tick_count64 & 0xFFFFFFFF) - last_input_tick) % 2**32


class WindowsPlatform(PlatformBase):
    """The Windows implementation behind the facade."""

    def __init__(self, *, api: object | None = None, runner: Runner = run_command,
                 env: Mapping[str, str] = os.environ, home: Path | None = None) -> None:
        self.api = api if api is not None else WinApi()
        self.runner, self.env, self.home = runner, env, home or Path.home()
        self._caps: dict[str, Capability] = {}

    def local_time_zone(self) -> str | None:
        """IANA name of the local time zone (Windows keeps its own ids; ICU maps them)."""
        windows_zone = self.api.time_zone_key_name()
        return self.api.iana_zone_for(windows_zone) if windows_zone else None

    def idle_seconds(self) -> float | None:
        """Seconds since the last keyboard/mouse input in this session."""
        last = self.api.last_input_tick()
        if last is None:
            self._caps["idle"] = Capability("idle", False, "GetLastInputInfo", False,
                                            "GetLastInputInfo failed")
            return None
        self._caps["idle"] = Capability("idle", True, "GetLastInputInfo")
        return idle_ms(last, self.api.tick_count64()) / 1000

    def session_locked(self) -> bool | None:
        """Whether this session's desktop is locked (WTS session flags)."""
        flags = self.api.session_flags()
        if flags not in (WTS_SESSIONSTATE_LOCK, WTS_SESSIONSTATE_UNLOCK):
            self._caps["lock"] = Capability("lock", False, "WTSQuerySessionInformation", False,
                                            f"session state unknown (flags={flags})")
            return None
        locked = flags == WTS_SESSIONSTATE_LOCK
        if self.api.windows_build() in WINDOWS_7_BUILDS:
            locked = not locked
        self._caps["lock"] = Capability("lock", True, "WTSQuerySessionInformation")
        return locked

    def browser_profile_roots(self) -> list[BrowserRoot]:
        """Chromium-family `User Data` folders under LOCALAPPDATA, Firefox under APPDATA."""
        local = Path(self.env.get("LOCALAPPDATA") or self.home / "AppData" / "Local")
        roaming = Path(self.env.get("APPDATA") or self.home / "AppData" / "Roaming")
        return [BrowserRoot("chrome", "chromium", local / "Google/Chrome/User Data"),
                BrowserRoot("chromium", "chromium", local / "Chromium/User Data"),
                BrowserRoot("edge", "chromium", local / "Microsoft/Edge/User Data"),
                BrowserRoot("brave", "chromium", local / "BraveSoftware/Brave-Browser/User Data"),
                BrowserRoot("vivaldi", "chromium", local / "Vivaldi/User Data"),
                BrowserRoot("firefox", "firefox", roaming / "Mozilla/Firefox")]

    def known_folders(self) -> dict[str, Path]:
        """Documents, Downloads, Desktop via the shell's known-folder API (platformdirs)."""
        import platformdirs

        return {"Documents": Path(platformdirs.user_documents_dir()),
                "Downloads": Path(platformdirs.user_downloads_dir()),
                "Desktop": Path(platformdirs.user_desktop_dir())}


class WindowsSigninReader:
    """Reads Security events 4624/4625/4800/4801 through `wevtutil` (the subprocess seam)."""

    def __init__(self, *, runner: Runner = run_command, batch: int = 500) -> None:
        self.runner, self.batch = runner, batch

    def query(self, after_record: int, backfill: float) -> str:
        """The XPath query: newer than the checkpoint, or within the backfill window."""
        ids = " or ".join(f"EventID={i}" for i in EVENT_IDS)
        newer = (f"EventRecordID > {after_record}" if after_record else
                 f"TimeCreated[timediff(@SystemTime) <= {int(backfill * 1000)}]")
        return f"*[System[({ids}) and {newer}]]"

    def read(self, checkpoint: dict, *, now: float, backfill: float) -> SigninBatch:
        """New sign-in records since the checkpoint's EventRecordID."""
        after = int(checkpoint.get("record_id", 0))
        argv = ["wevtutil", "qe", "Security", f"/q:{self.query(after, backfill)}",
                "/f:xml", f"/c:{self.batch}", "/rd:false"]
        try:
            result = self.runner(argv)
        except (FileNotFoundError, PermissionError) as exc:
            return SigninBatch([], checkpoint, [Capability(
                "signins_security_log", False, "wevtutil", False, f"wevtutil: {exc}")])
        if result.returncode != 0:
            reason = first_line(result.stderr) or f"exit status {result.returncode}"
            if "denied" in reason.lower():
                reason += " (the Security log needs the Event Log Readers group)"
            return SigninBatch([], checkpoint, [Capability(
                "signins_security_log", False, "wevtutil", False, reason)])
        parsed = winevents.parse_xml(result.stdout.decode("utf-8", "replace"))
        last = max([after] + [rid for rid, _ in parsed])
        records = [rec for _, rec in parsed if rec is not None]
        return SigninBatch(winevents.collapse_unlocks(records), {"record_id": last},
                           [Capability("signins_security_log", True, "wevtutil")])


if __name__ == "__main__":  # probe this module alone: python -m agent.platform.windows
    _probe = WindowsPlatform()
    print(f"idle seconds: {_probe.idle_seconds()}, locked: {_probe.session_locked()}")
    for _cap in _probe.capabilities():
        print(f"  {_cap.name}: available={_cap.available} source={_cap.source} {_cap.reason}")
