"""Before sleep on Windows and macOS, with the OS faked at the DLL boundary.

The fakes stand in for powrprof.dll and for IOKit/CoreFoundation: plain functions with the
same names that record their arguments. Everything above them is real, including the ctypes
structures and the C callbacks, which the fakes call through ctypes as the OS would. The
last test runs the real seal sensor and engine on real files behind each fake.
"""

from __future__ import annotations

import ctypes
import os
import queue
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest

from agent.outbox import Outbox
from agent.platform.macos import MacPlatform
from agent.platform.sleep import SleepHooks, seal_budget
from agent.platform.sleep_macos import (
    CAN_SYSTEM_SLEEP,
    DEFAULT_MODE,
    SYSTEM_HAS_POWERED_ON,
    SYSTEM_WILL_SLEEP,
    MacSleepWatch,
)
from agent.platform.sleep_windows import (
    DEVICE_NOTIFY_CALLBACK,
    PBT_APMRESUMEAUTOMATIC,
    PBT_APMRESUMESUSPEND,
    PBT_APMSUSPEND,
    WindowsSleepWatch,
)
from agent.platform.windows import WindowsPlatform
from agent.sensors.host import SensorHost
from agent.sensors.seal import SealSensor
from agent.settings import Settings
from agent.store import Store
from rules.model import Bundle, SealSettings
from tests.waiting import wait_until

OLD = 1_600_000_000 * 10**9


class FakePowrprof:
    """Shaped like powrprof.dll: the two functions, recording what they were given."""

    def __init__(self, status: int = 0, handle: int = 0x5EED) -> None:
        self.registrations: list[tuple[int, object]] = []
        self.unregistered: list[int] = []

        def register(flags, recipient, handle_out):
            self.registrations.append((flags, recipient._obj))  # byref(params) -> params
            handle_out._obj.value = handle
            return status

        def unregister(registration):
            self.unregistered.append(registration)
            return 0

        self.PowerRegisterSuspendResumeNotification = register
        self.PowerUnregisterSuspendResumeNotification = unregister

    def notify(self, kind: int) -> int:
        """What Windows does: call the registered C callback; returns what it returned."""
        _flags, params = self.registrations[-1]
        return params.Callback(params.Context, kind, None)


class Recorder(SleepHooks):
    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple] = []
        self.add(lambda budget: self.calls.append(("before", budget)),
                 lambda: self.calls.append(("after",)))


def test_budget_keeps_a_margin_and_a_cap() -> None:
    assert seal_budget(5.0) == 4.0  # logind's default InhibitDelayMaxUSec
    assert seal_budget(2.0) == 1.5  # Windows
    assert seal_budget(30.0) == 10.0  # macOS waits 30 s; a closing lid is not held that long
    assert seal_budget(0.2) == 0.5


def test_windows_registers_a_callback_and_acknowledges_after_the_hooks() -> None:
    dll = FakePowrprof()
    watch, hooks = WindowsSleepWatch(dll), Recorder()
    cap = watch.start(hooks)
    assert cap.available and cap.source == "PowerRegisterSuspendResumeNotification"
    flags, params = dll.registrations[0]
    assert flags == DEVICE_NOTIFY_CALLBACK and params.Context is None
    assert dll.notify(PBT_APMSUSPEND) == 0  # ERROR_SUCCESS, once the hooks returned
    assert hooks.calls == [("before", 1.5)]
    assert dll.notify(PBT_APMRESUMEAUTOMATIC) == 0
    assert dll.notify(PBT_APMRESUMESUSPEND) == 0  # also sent after a resume by the user
    assert hooks.calls == [("before", 1.5), ("after",)]  # the wake is reported once
    assert dll.notify(0x0A) == 0 and len(hooks.calls) == 2  # power status change: ignored
    watch.stop()
    assert dll.unregistered == [0x5EED]


def test_windows_a_failing_hook_still_returns_success() -> None:
    dll, hooks = FakePowrprof(), SleepHooks()
    hooks.add(lambda budget: 1 / 0)
    WindowsSleepWatch(dll).start(hooks)
    assert dll.notify(PBT_APMSUSPEND) == 0


def test_windows_unavailable_says_why() -> None:
    refused = WindowsSleepWatch(FakePowrprof(status=5)).start(SleepHooks())
    assert not refused.available and "error 5" in refused.reason
    windows_7 = SimpleNamespace(PowerUnregisterSuspendResumeNotification=lambda h: 0)
    older = WindowsSleepWatch(windows_7).start(SleepHooks())
    assert not older.available and "Windows 8" in older.reason
    if not hasattr(ctypes, "WinDLL"):  # the real DLL, where there is none
        cap = WindowsPlatform(api=FakeWinApi(), env={}).capabilities()[2]
        assert cap.name == "about_to_sleep" and not cap.available
        assert "only on Windows" in cap.reason


def test_an_os_surprise_at_registration_leaves_the_agent_running() -> None:
    dll = FakePowrprof()
    dll.PowerRegisterSuspendResumeNotification = lambda *args: 1 / 0
    platform = WindowsPlatform(api=FakeWinApi(), env={}, powrprof=dll)
    unsubscribe = platform.on_about_to_sleep(lambda budget: None)  # does not raise
    cap = platform.capabilities()[2]
    assert not cap.available and "ZeroDivisionError" in cap.reason
    unsubscribe()


class FakeMac:
    """Shaped like IOKit and CoreFoundation: the run loop delivers queued power messages on
    the thread running CFRunLoopRun, through the registered C callback, as macOS does."""

    ROOT, PORT, SOURCE, LOOP, MODE = 0x1234, 0xB0, 0x50, 0x100, 0x600

    def __init__(self, root: int = ROOT) -> None:
        self.messages: queue.Queue = queue.Queue()
        self.acks: queue.Queue = queue.Queue()
        self.calls: list[tuple] = []
        self.callback = None
        self.on_ack = lambda: None  # what the test wants to look at when macOS is answered

        def register(refcon, port_ref, callback, notifier_ref):
            port_ref._obj.value, notifier_ref._obj.value = self.PORT, 7
            self.callback = callback
            self.calls.append(("IORegisterForSystemPower",))
            return root

        def allow(kernel_port, notification_id):
            self.acks.put((kernel_port, notification_id, self.on_ack()))
            return 0

        def run():
            while (message := self.messages.get()) is not None:
                self.callback(None, 0x77, *message)

        def record(name, result=None):
            return lambda *args: self.calls.append((name, *args)) or result

        self.iokit = SimpleNamespace(
            IORegisterForSystemPower=register, IOAllowPowerChange=allow,
            IODeregisterForSystemPower=lambda ref: self.calls.append(
                ("IODeregisterForSystemPower", ref._obj.value)) or 0,
            IOServiceClose=record("IOServiceClose", 0),
            IONotificationPortGetRunLoopSource=lambda port: self.SOURCE,
            IONotificationPortDestroy=record("IONotificationPortDestroy"))
        self.cf = SimpleNamespace(
            CFRunLoopGetCurrent=lambda: self.LOOP, CFRunLoopAddSource=record("CFRunLoopAddSource"),
            CFRunLoopRun=run, CFRunLoopStop=lambda loop: self.messages.put(None),
            CFStringCreateWithCString=lambda alloc, text, encoding: (
                self.calls.append(("CFString", text)) or self.MODE))

    def post(self, kind: int, argument: int) -> None:
        self.messages.put((kind, argument))


def test_macos_acknowledges_will_sleep_only_after_the_hooks() -> None:
    mac, hooks = FakeMac(), Recorder()
    mac.on_ack = lambda: list(hooks.calls)
    watch = MacSleepWatch(mac.iokit, mac.cf)
    cap = watch.start(hooks)
    try:
        assert cap.available and cap.source == "IORegisterForSystemPower"
        assert ("CFRunLoopAddSource", FakeMac.LOOP, FakeMac.SOURCE, FakeMac.MODE) in mac.calls
        assert ("CFString", DEFAULT_MODE) in mac.calls
        mac.post(CAN_SYSTEM_SLEEP, 41)  # idle sleep asks: allowed at once, nothing sealed
        assert mac.acks.get(timeout=30) == (FakeMac.ROOT, 41, [])
        mac.post(SYSTEM_WILL_SLEEP, 42)
        assert mac.acks.get(timeout=30) == (FakeMac.ROOT, 42, [("before", 10.0)])
        done = threading.Event()
        hooks.add(lambda budget: None, done.set)
        mac.post(SYSTEM_HAS_POWERED_ON, 0)
        assert done.wait(30) and hooks.calls[-1] == ("after",)
    finally:
        watch.stop()
    assert ("IODeregisterForSystemPower", 7) in mac.calls
    assert ("IOServiceClose", FakeMac.ROOT) in mac.calls
    assert ("IONotificationPortDestroy", FakeMac.PORT) in mac.calls


def no_tools(argv):
    raise FileNotFoundError(argv[0])


def test_macos_unavailable_says_why() -> None:
    mac = FakeMac(root=0)
    refused = MacSleepWatch(mac.iokit, mac.cf).start(SleepHooks())
    assert not refused.available and "MACH_PORT_NULL" in refused.reason
    if not Path("/System/Library/Frameworks/IOKit.framework").exists():  # not a Mac
        cap = MacPlatform(runner=no_tools, uid=501).capabilities()[2]
        assert cap.name == "about_to_sleep" and not cap.available
        assert "IOKit not usable" in cap.reason


class FakeWinApi:
    """windows.WinApi's shape: idle from tick counts, the session unlocked."""

    def __init__(self) -> None:
        self.last, self.tick = 0, 600_000  # ten minutes without input

    def last_input_tick(self):
        return self.last

    def tick_count64(self):
        return self.tick

    def session_flags(self):
        return 1  # WTS_SESSIONSTATE_UNLOCK

    def windows_build(self):
        return 19045


@pytest.mark.parametrize("os_name", ["windows", "macos"])
def test_the_seal_sensor_seals_before_the_os_is_answered(tmp_path: Path, os_name: str) -> None:
    home, state = tmp_path / "home", tmp_path / "state"
    state.mkdir()
    files = {home / "Sensitive" / "plan.txt": b"the plan",
             home / "Sensitive" / "deep" / "report.pdf": os.urandom(90_000)}
    for path, data in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        os.utime(path, ns=(OLD, OLD))

    def sealed() -> bool:
        return all(Path(f"{p}.heedful").exists() and not p.exists() for p in files)

    if os_name == "windows":
        dll, idle = FakePowrprof(), FakeWinApi()
        platform = WindowsPlatform(api=idle, powrprof=dll, env={}, home=home)

        def sleep() -> bool:  # Windows' thread calls back; its return lets the suspend go on
            return dll.notify(PBT_APMSUSPEND) == 0 and sealed()

        def wake() -> None:
            dll.notify(PBT_APMRESUMEAUTOMATIC)
            idle.last = idle.tick  # then the employee types

    else:
        mac = FakeMac()
        mac.on_ack = sealed
        idle_ns = [600 * 10**9]
        hid = lambda argv: SimpleNamespace(  # noqa: E731 - ioreg's output at its seam
            returncode=0, stderr=b"",
            stdout=(f'"HIDIdleTime" = {idle_ns[0]}'.encode() if "IOHIDSystem" in argv
                    else b'<?xml version="1.0"?><plist version="1.0"><dict/></plist>'))
        platform = MacPlatform(runner=hid, uid=501, home=home, iokit=mac.iokit,
                               corefoundation=mac.cf)

        def sleep() -> bool:  # answered by IOAllowPowerChange, which looks at the files
            mac.post(SYSTEM_WILL_SLEEP, 9)
            return mac.acks.get(timeout=30) == (FakeMac.ROOT, 9, True)

        def wake() -> None:
            mac.post(SYSTEM_HAS_POWERED_ON, 0)
            idle_ns[0] = 0

    store = Store(state)
    outbox = Outbox(store)
    sensor = SealSensor(home=state, user_home=home, busy_probe=lambda p: None)
    host = SensorHost([sensor], store=store, outbox=outbox, platform=platform,
                      settings=Settings({}, env={}), backoff_start=0.01)
    host.start(Bundle(version=1, seal=SealSettings(protected_folders=("~/Sensitive",))))
    try:
        assert wait_until(lambda: (host.live.get("seal") or {}).get("pending_files") == 2)
        sleep_cap = [c for c in platform.capabilities() if c.name == "about_to_sleep"][0]
        assert sleep_cap.available
        assert sleep()  # sealed by the time the OS was answered
        finished = [e.data for e in outbox.peek(50) if e.type == "seal_finished"]
        assert finished[-1]["reason"] == "sleep" and finished[-1]["sealed_files"] == 2
        wake()
        assert wait_until(lambda: all(p.exists() and p.read_bytes() == d
                                      for p, d in files.items()))
    finally:
        host.stop()
        store.close()
    if os_name == "windows":
        assert dll.unregistered == [0x5EED]  # the stopped agent no longer delays sleep
