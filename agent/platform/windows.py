"""Windows: idle (GetLastInputInfo), lock (WTS session flags), time zone, sign-ins, folders;
before sleep in sleep_windows.py.

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
TIME_ZONE_ID_INVALID = 0xFFFFFFFF
ICU_ZONE_CAPACITY = 128  # UChars; IANA names are far shorter
TIME_ZONE_SOURCE = "GetDynamicTimeZoneInformation+icu"


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
        """`DYNAMIC_TIME_ZONE_INFORMATION.TimeZoneKeyName` from GetDynamicTimeZoneInformation:
        the Windows time zone id in force for this user, e.g. "W. Europe Standard Time"."""
        from ctypes import wintypes

        class SystemTime(ctypes.Structure):
            _fields_ = [(name, wintypes.WORD) for name in (
                "wYear", "wMonth", "wDayOfWeek", "wDay", "wHour", "wMinute", "wSecond",
                "wMilliseconds")]

        class DynamicTimeZoneInformation(ctypes.Structure):
            _fields_ = [("Bias", wintypes.LONG), ("StandardName", wintypes.WCHAR * 32),
                        ("StandardDate", SystemTime), ("StandardBias", wintypes.LONG),
                        ("DaylightName", wintypes.WCHAR * 32), ("DaylightDate", SystemTime),
                        ("DaylightBias", wintypes.LONG), ("TimeZoneKeyName", wintypes.WCHAR * 128),
                        ("DynamicDaylightTimeDisabled", wintypes.BOOLEAN)]

        info = DynamicTimeZoneInformation()
        get = self.kernel32.GetDynamicTimeZoneInformation
        get.argtypes, get.restype = [ctypes.POINTER(DynamicTimeZoneInformation)], wintypes.DWORD
        if get(ctypes.byref(info)) == TIME_ZONE_ID_INVALID:
            return None
        return info.TimeZoneKeyName or None

    def iana_zone_for(self, windows_zone: str) -> str | None:
        """The IANA zone ICU maps a Windows zone id to (the "001" default: region NULL).

        icu.dll ships with Windows 10 1903+; loading it raises OSError on older Windows.
        `int32_t ucal_getTimeZoneIDForWindowsID(const UChar* winid, int32_t len,
        const char* region, UChar* id, int32_t idCapacity, UErrorCode* status)`; UChar is
        UTF-16, i.e. wchar_t on Windows; U_EXPORT2 is cdecl, hence CDLL."""
        icu = ctypes.CDLL("icu")
        call = icu.ucal_getTimeZoneIDForWindowsID
        call.argtypes = [ctypes.c_wchar_p, ctypes.c_int32, ctypes.c_char_p, ctypes.c_wchar_p,
                         ctypes.c_int32, ctypes.POINTER(ctypes.c_int)]
        call.restype = ctypes.c_int32
        out, status = ctypes.create_unicode_buffer(ICU_ZONE_CAPACITY), ctypes.c_int(0)
        length = call(windows_zone, len(windows_zone), None, out, ICU_ZONE_CAPACITY,
                      ctypes.byref(status))
        # U_FAILURE is status > 0; warnings (< 0) such as "string not terminated" are fine
        return out.value[:length] if status.value <= 0 and 0 < length <= ICU_ZONE_CAPACITY \
            else None


def idle_ms(last_input_tick: int, tick_count64: int) -> int:
    """Milliseconds since the last input, correct across the 32-bit wrap of dwTime."""
    return ((tick_count64 & 0xFFFFFFFF) - last_input_tick) % 2**32


class WindowsPlatform(PlatformBase):
    """The Windows implementation behind the facade."""

    def __init__(self, *, api: object | None = None, runner: Runner = run_command,
                 env: Mapping[str, str] = os.environ, home: Path | None = None,
                 powrprof: object | None = None) -> None:
        self.api = api if api is not None else WinApi()
        self.runner, self.env, self.home = runner, env, home or Path.home()
        self.powrprof = powrprof  # powrprof.dll's stand-in for tests; loaded when None
        self._caps: dict[str, Capability] = {}

    def _sleep_watch(self):
        """Before sleep: PowerRegisterSuspendResumeNotification (sleep_windows.py)."""
        from agent.platform.sleep_windows import WindowsSleepWatch

        return WindowsSleepWatch(self.powrprof)

    def local_time_zone(self) -> str | None:
        """IANA name of the local time zone: Windows keeps its own zone ids (kernel32
        GetDynamicTimeZoneInformation) and ICU (icu.dll, Windows 10 1903+) maps them to IANA.
        None when either step fails; the `time_zone` capability says why."""
        windows_zone = self.api.time_zone_key_name()
        if not windows_zone:
            return self._zone_unknown("GetDynamicTimeZoneInformation gave no TimeZoneKeyName")
        try:
            zone = self.api.iana_zone_for(windows_zone)
        except OSError as exc:
            return self._zone_unknown(f"icu.dll not available (needs Windows 10 1903+): {exc}")
        if not zone:
            return self._zone_unknown(f"ICU has no IANA zone for {windows_zone!r}")
        self._caps["time_zone"] = Capability("time_zone", True, TIME_ZONE_SOURCE)
        return zone

    def capabilities(self) -> list[Capability]:
        """Idle, lock and sleep, plus the time zone once `local_time_zone()` has been asked."""
        extra = [self._caps["time_zone"]] if "time_zone" in self._caps else []
        return [*super().capabilities(), *extra]

    def _zone_unknown(self, why: str) -> None:
        self._caps["time_zone"] = Capability("time_zone", False, TIME_ZONE_SOURCE, False, why)
        return None

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
