"""Linux idle/lock: faked at the subprocess (gdbus/busctl) and libXss boundaries, plus the
real code paths on this headless machine."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from agent.platform.base import CommandResult
from agent.platform.linux import LinuxPlatform, parse_user_dirs
from agent.platform.x11 import XScreenSaver


class Bus:
    """Scripted subprocess boundary: argv[0] + a marker -> CommandResult; records calls."""

    def __init__(self, replies: dict[str, CommandResult | Exception]) -> None:
        self.replies, self.calls = replies, []

    def __call__(self, argv):
        self.calls.append(list(argv))
        joined = " ".join(argv)
        for marker, reply in self.replies.items():
            if marker in joined:
                if isinstance(reply, Exception):
                    raise reply
                return reply
        raise FileNotFoundError(argv[0])


class Xss:
    def __init__(self, ms: int | None, reason: str = "") -> None:
        self.ms, self.reason = ms, reason

    def idle_ms(self):
        return self.ms


NO_BUS = CommandResult(1, b"", b"Failed to connect to bus: No such file or directory\n")
NO_X = Xss(None, "no X display (DISPLAY is not set)")


def logind_reply(**props) -> CommandResult:
    types = {bool: "b", int: "t"}
    lines = [json.dumps({"type": types[type(v)], "data": v}) for v in props.values()]
    return CommandResult(0, ("\n".join(lines) + "\n").encode())


def test_mutter_is_preferred_and_reports_milliseconds_as_seconds():
    bus = Bus({"Mutter": CommandResult(0, b"(uint64 12345,)\n")})
    linux = LinuxPlatform(runner=bus, xss=Xss(999))
    assert linux.idle_seconds() == pytest.approx(12.345)
    assert linux.capabilities()[0].source == "gnome-mutter"


def test_xscreensaver_is_used_when_mutter_is_absent():
    linux = LinuxPlatform(runner=Bus({"Mutter": NO_BUS}), xss=Xss(4000))
    assert linux.idle_seconds() == 4.0
    cap = linux.capabilities()[0]
    assert (cap.name, cap.available, cap.source) == ("idle", True, "x11-xscreensaver")


def test_logind_idle_hint_is_coarse_and_says_so():
    now = 1_700_000_100.0
    bus = Bus({"Mutter": NO_BUS, "IdleHint": logind_reply(IdleHint=True,
                                                          IdleSinceHint=1_700_000_000_000_000)})
    linux = LinuxPlatform(runner=bus, xss=NO_X, clock=lambda: now)
    assert linux.idle_seconds() == pytest.approx(100.0)
    cap = linux.capabilities()[0]
    assert cap.source == "logind-idlehint" and cap.degraded and "coarse" in cap.reason


def test_nothing_available_gives_none_with_every_reason_never_zero(tmp_path):
    bus = Bus({"gdbus": NO_BUS, "busctl": NO_BUS})
    linux = LinuxPlatform(runner=bus, xss=NO_X, sleep_bus=f"unix:path={tmp_path / 'no-bus'}")
    assert linux.idle_seconds() is None
    assert linux.session_locked() is None
    idle, lock, sleep = linux.capabilities()
    assert not idle.available and not lock.available and not sleep.available
    assert "DISPLAY" in idle.reason and "Failed to connect to bus" in idle.reason
    assert "logind" in lock.reason and "gnome-screensaver" in lock.reason
    assert sleep.name == "about_to_sleep" and "no D-Bus at" in sleep.reason


def test_a_failed_mechanism_is_not_retried_until_retry_after():
    now = [1000.0]
    bus = Bus({"gdbus": NO_BUS, "busctl": NO_BUS})
    linux = LinuxPlatform(runner=bus, xss=NO_X, clock=lambda: now[0], retry_after=300)
    linux.idle_seconds()
    spawned = len(bus.calls)
    linux.idle_seconds()
    assert len(bus.calls) == spawned  # cached failure: no new subprocesses
    now[0] += 301
    linux.idle_seconds()
    assert len(bus.calls) == 2 * spawned


def test_lock_from_logind_locked_hint_then_gnome_screensaver():
    locked = LinuxPlatform(runner=Bus({"LockedHint": logind_reply(LockedHint=True)}), xss=NO_X)
    assert locked.session_locked() is True
    bus = Bus({"busctl": NO_BUS, "ScreenSaver": CommandResult(0, b"(false,)\n")})
    fallback = LinuxPlatform(runner=bus, xss=NO_X)
    assert fallback.session_locked() is False
    assert fallback.capabilities()[1].source == "gnome-screensaver"


def test_missing_tool_is_reported_as_not_available():
    linux = LinuxPlatform(runner=Bus({}), xss=NO_X)
    assert linux.session_locked() is None
    assert "busctl is not available" in linux.capabilities()[1].reason


@pytest.mark.skipif(os.environ.get("DBUS_SESSION_BUS_ADDRESS") or os.environ.get("DISPLAY"),
                    reason="this machine has a desktop session")
def test_real_linux_paths_on_a_headless_machine_are_unavailable_not_zero():
    linux = LinuxPlatform()  # real busctl/gdbus subprocesses, real libXss
    assert linux.idle_seconds() is None
    assert linux.session_locked() is None
    idle = linux.capabilities()[0]
    assert not idle.available and idle.reason


def test_real_xscreensaver_without_display_and_with_an_absent_display():
    unset = XScreenSaver(display="")
    assert unset.idle_ms() is None
    assert "DISPLAY" in unset.reason
    absent = XScreenSaver(display=":97")
    assert absent.idle_ms() is None
    assert ("cannot open X display" in absent.reason
            or "not installed" in absent.reason)  # real libXss loaded, or really missing


@pytest.mark.skipif(shutil.which("busctl") is None, reason="busctl not installed")
def test_real_busctl_without_a_system_bus_is_a_reason():
    linux = LinuxPlatform(xss=NO_X, env={"DBUS_SESSION_BUS_ADDRESS": ""})
    if linux.session_locked() is not None:
        pytest.skip("this machine has logind")
    assert "busctl" in linux.capabilities()[1].reason


def test_user_dirs_parsing(tmp_path: Path):
    text = ('# written by xdg-user-dirs-update\nXDG_DESKTOP_DIR="$HOME/Bureau"\n'
            'XDG_DOWNLOAD_DIR="/data/dl"\nXDG_MUSIC_DIR="$HOME/Music"\n')
    found = parse_user_dirs(text, tmp_path)
    assert found == {"Documents": tmp_path / "Documents", "Downloads": Path("/data/dl"),
                     "Desktop": tmp_path / "Bureau"}


def test_browser_roots_cover_native_snap_and_flatpak(tmp_path: Path):
    roots = LinuxPlatform(runner=Bus({}), xss=NO_X, home=tmp_path,
                          env={}).browser_profile_roots()
    packaging = {(r.browser, r.packaging) for r in roots}
    assert {("chrome", "native"), ("firefox", "snap"), ("chromium", "flatpak")} <= packaging
    assert all(str(r.path).startswith(str(tmp_path)) for r in roots)
    assert {r.family for r in roots} == {"chromium", "firefox"}
