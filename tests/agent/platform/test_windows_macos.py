"""Windows and macOS logic, with the OS faked only at the ctypes / subprocess boundary."""

from __future__ import annotations

import json
import plistlib
from datetime import UTC, datetime

import pytest

from agent.browsing.tzcountry import country_for_zone
from agent.platform.base import CommandResult
from agent.platform.macos import MacPlatform, MacSigninReader, parse_console_lock, parse_hid_idle
from agent.platform.windows import WindowsPlatform, WindowsSigninReader, idle_ms

WRAP = 2**32


class FakeWinApi:
    """Same shape as windows.WinApi: plain integers, as the ctypes calls return them."""

    def __init__(self, last=None, tick=0, flags=None, build=19045, zone=None,
                 icu=None) -> None:
        self.last, self.tick, self.flags, self.build = last, tick, flags, build
        self.zone, self.icu = zone, icu

    def last_input_tick(self):
        return self.last

    def tick_count64(self):
        return self.tick

    def session_flags(self):
        return self.flags

    def windows_build(self):
        return self.build

    def time_zone_key_name(self):
        return self.zone

    def iana_zone_for(self, windows_zone):
        if self.icu is None:  # what ctypes.CDLL("icu") raises before Windows 10 1903
            raise FileNotFoundError("Could not find module 'icu' (or one of its dependencies)")
        return self.icu.get(windows_zone)


@pytest.mark.parametrize("last, tick64, expected_ms", [
    (1_000, 6_000, 5_000),  # ordinary
    (WRAP - 2_000, WRAP + 3_000, 5_000),  # input just before the 32-bit wrap, now just after
    (500, 3 * WRAP + 1_500, 1_000),  # 150 days of uptime: only the low 32 bits matter
    (7_000, 7_000, 0),
])
def test_idle_ms_is_right_across_the_32_bit_wrap(last, tick64, expected_ms):
    assert idle_ms(last, tick64) == expected_ms


def test_windows_idle_and_lock_from_the_api():
    win = WindowsPlatform(api=FakeWinApi(last=WRAP - 1000, tick=WRAP + 9000, flags=0))
    assert win.idle_seconds() == 10.0
    assert win.session_locked() is True
    assert [c.available for c in win.capabilities()[:2]] == [True, True]


def test_windows_7_reports_lock_flags_inverted():
    assert WindowsPlatform(api=FakeWinApi(flags=0, build=7601)).session_locked() is False
    assert WindowsPlatform(api=FakeWinApi(flags=1, build=7601)).session_locked() is True


def test_windows_unknown_state_is_none_not_false():
    win = WindowsPlatform(api=FakeWinApi(last=None, flags=-1))
    assert win.idle_seconds() is None
    assert win.session_locked() is None
    idle, lock, _ = win.capabilities()
    assert not idle.available and "GetLastInputInfo failed" in idle.reason
    assert not lock.available and "unknown" in lock.reason


EVENT_4625 = """<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System>
<Provider Name='Microsoft-Windows-Security-Auditing'/><EventID>4625</EventID>
<TimeCreated SystemTime='2024-05-02T12:01:02.1234567Z'/><EventRecordID>812</EventRecordID>
</System><EventData><Data Name='TargetUserName'>alice</Data>
<Data Name='TargetDomainName'>CORP</Data><Data Name='LogonType'>7</Data>
<Data Name='SubStatus'>0xc000006a</Data><Data Name='IpAddress'>127.0.0.1</Data></EventData>
</Event>"""


def test_windows_reader_runs_wevtutil_and_keeps_the_record_id():
    calls = []

    def runner(argv):
        calls.append(argv)
        return CommandResult(0, EVENT_4625.encode())

    batch = WindowsSigninReader(runner=runner).read({"record_id": 800}, now=0, backfill=3600)
    assert calls[0][:3] == ["wevtutil", "qe", "Security"]
    assert "EventRecordID > 800" in calls[0][3] and "EventID=4625" in calls[0][3]
    assert batch.checkpoint == {"record_id": 812}
    (record,) = batch.records
    assert (record.identity, record.kind, record.outcome) == ("CORP\\alice", "failed_unlock",
                                                              "failure")


def test_windows_reader_says_why_when_access_is_denied():
    def runner(argv):
        return CommandResult(5, b"", b"Failed to read events. Access is denied.\r\n")

    batch = WindowsSigninReader(runner=runner).read({}, now=0, backfill=86400)
    assert batch.records == [] and batch.checkpoint == {}
    assert "Event Log Readers" in batch.sources[0].reason
    first_query = WindowsSigninReader().query(0, 86400)
    assert "timediff(@SystemTime) <= 86400000" in first_query


IOREG_HID = b"""+-o IOHIDSystem  <class IOHIDSystem, id 0x100000241, registered, matched>
    {
      "HIDScrollCountMinDeltaToStart" = 30
      "HIDIdleTime" = 4234567890
      "HIDParameters" = {"HIDClickTime"=500000000}
    }
"""


def console_plist(uid: int, locked: bool | None) -> bytes:
    user = {"kCGSSessionUserIDKey": uid, "kCGSSessionOnConsoleKey": True,
            "kCGSSessionUserNameKey": "alice"}
    if locked is not None:
        user["CGSSessionScreenIsLocked"] = locked
    return plistlib.dumps({"IOKitBuildVersion": "Darwin 23", "IOConsoleUsers": [user]})


def test_macos_hid_idle_and_console_lock_parsing():
    assert parse_hid_idle(IOREG_HID) == pytest.approx(4.23456789)
    assert parse_hid_idle(b"nothing") is None
    assert parse_console_lock(console_plist(501, True), 501) is True
    assert parse_console_lock(console_plist(501, None), 501) is False  # key absent: unlocked
    assert parse_console_lock(console_plist(502, True), 501) is None


def test_macos_platform_through_the_ioreg_seam():
    def runner(argv):
        return CommandResult(0, IOREG_HID if "IOHIDSystem" in argv else console_plist(501, True))

    mac = MacPlatform(runner=runner, uid=501)
    assert mac.idle_seconds() == pytest.approx(4.23456789)
    assert mac.session_locked() is True
    broken = MacPlatform(runner=lambda argv: CommandResult(1, b"", b"ioreg: boom\n"), uid=501)
    assert broken.idle_seconds() is None and broken.session_locked() is None
    assert "boom" in broken.capabilities()[0].reason


def test_macos_reader_parses_log_show_and_advances_its_checkpoint():
    lines = [b"Filtering the log data using ...",
             json.dumps({"timestamp": "2024-05-02 14:00:00.500000+0200",
                         "processImagePath": "/System/Library/CoreServices/loginwindow.app/"
                                             "Contents/MacOS/loginwindow",
                         "eventMessage": "Failed to authenticate user <alice> (error: 9)."}
                        ).encode()]
    seen = []

    def runner(argv):
        seen.append(argv)
        return CommandResult(0, b"\n".join(lines))

    reader = MacSigninReader(runner=runner, user="alice",
                             localtime=lambda t: datetime.fromtimestamp(t, UTC))
    batch = reader.read({}, now=1714651200.0, backfill=3600)
    assert "--start" in seen[0] and seen[0][seen[0].index("--start") + 1].startswith("2024-05-02")
    (record,) = batch.records
    assert (record.kind, record.outcome, record.identity) == ("failed_unlock", "failure", "alice")
    assert batch.checkpoint["since"] == record.time.timestamp()


WIN_TO_IANA = {"W. Europe Standard Time": "Europe/Berlin"}


def test_windows_time_zone_is_mapped_to_iana_through_icu():
    win = WindowsPlatform(api=FakeWinApi(zone="W. Europe Standard Time", icu=WIN_TO_IANA))
    assert win.local_time_zone() == "Europe/Berlin"
    assert country_for_zone(win.local_time_zone()) == "DE"
    assert win._caps["time_zone"].available
    assert "time_zone" in [cap.name for cap in win.capabilities()]


def test_windows_time_zone_without_icu_is_none_and_says_why():
    win = WindowsPlatform(api=FakeWinApi(zone="W. Europe Standard Time", icu=None))
    assert win.local_time_zone() is None
    cap = win._caps["time_zone"]
    assert not cap.available and "icu.dll" in cap.reason and "1903" in cap.reason


def test_windows_time_zone_unknown_key_or_unmapped_zone_is_none():
    no_key = WindowsPlatform(api=FakeWinApi(zone=None, icu=WIN_TO_IANA))
    assert no_key.local_time_zone() is None
    assert "TimeZoneKeyName" in no_key._caps["time_zone"].reason
    unmapped = WindowsPlatform(api=FakeWinApi(zone="Mars Standard Time", icu=WIN_TO_IANA))
    assert unmapped.local_time_zone() is None
    assert "Mars Standard Time" in unmapped._caps["time_zone"].reason
