"""macOS: before sleep from IORegisterForSystemPower (IOKit), on a CFRunLoop thread.

`IORegisterForSystemPower(refcon, &port, callback, &notifier)` connects to the root power
domain; its notification port's run-loop source delivers
`callback(refcon, service, messageType, messageArgument)` on the thread running that loop.
`kIOMessageSystemWillSleep` must be answered with `IOAllowPowerChange(root, argument)` - the
system waits up to 30 s for it - so the hooks run first and the answer follows.
`kIOMessageCanSystemSleep` (idle sleep asks) is allowed at once; `kIOMessageSystemHasPoweredOn`
is the resume. The message values are `iokit_common_msg(x) = 0xE0000000 | x` (IOMessage.h).

`IOKitApi` is the ctypes boundary; the two libraries are injectable (`MacPlatform(iokit=...,
corefoundation=...)`), so tests hand it objects shaped like IOKit and CoreFoundation and the
C callback is called through ctypes.
"""

from __future__ import annotations

import ctypes
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from agent.platform.base import Capability
from agent.platform.sleep import ABOUT_TO_SLEEP, SleepHooks, SleepWatch

log = logging.getLogger(__name__)

CAN_SYSTEM_SLEEP = 0xE0000270  # kIOMessageCanSystemSleep
SYSTEM_WILL_SLEEP = 0xE0000280  # kIOMessageSystemWillSleep
SYSTEM_HAS_POWERED_ON = 0xE0000300  # kIOMessageSystemHasPoweredOn
WILL_SLEEP_ALLOWANCE = 30.0  # seconds the system waits for IOAllowPowerChange
SOURCE = "IORegisterForSystemPower"
IOKIT = "/System/Library/Frameworks/IOKit.framework/IOKit"
CORE_FOUNDATION = "/System/Library/Frameworks/CoreFoundation.framework/CoreFoundation"
UTF8 = 0x08000100  # kCFStringEncodingUTF8
# kCFRunLoopDefaultMode is CFSTR("kCFRunLoopDefaultMode"); modes compare by value, so an
# equal string made with CFStringCreateWithCString names the same mode.
DEFAULT_MODE = b"kCFRunLoopDefaultMode"

# void (*IOServiceInterestCallback)(void *refcon, io_service_t service, uint32_t messageType,
#                                   void *messageArgument)
InterestCallback = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_uint32, ctypes.c_uint32,
                                    ctypes.c_void_p)


@dataclass
class Registration:
    """What IORegisterForSystemPower handed back, and the callback it must outlive."""

    root: int  # io_connect_t, for IOAllowPowerChange
    port: int  # IONotificationPortRef
    notifier: ctypes.c_uint32  # io_object_t, for IODeregisterForSystemPower
    callback: object


def _declare(function, argtypes: list, restype) -> Callable:
    function.argtypes, function.restype = argtypes, restype
    return function


class IOKitApi:
    """The IOKit and CoreFoundation calls the watch needs; raises OSError if not on a Mac."""

    def __init__(self, iokit: Any = None, cf: Any = None) -> None:
        iokit = iokit if iokit is not None else ctypes.CDLL(IOKIT)
        cf = cf if cf is not None else ctypes.CDLL(CORE_FOUNDATION)
        vp, u32 = ctypes.c_void_p, ctypes.c_uint32
        self.register_for_system_power = _declare(
            iokit.IORegisterForSystemPower,
            [vp, ctypes.POINTER(vp), InterestCallback, ctypes.POINTER(u32)], u32)
        self.allow = _declare(iokit.IOAllowPowerChange, [u32, ctypes.c_long], ctypes.c_int)
        self.deregister_for_system_power = _declare(iokit.IODeregisterForSystemPower,
                                                    [ctypes.POINTER(u32)], ctypes.c_int)
        self.service_close = _declare(iokit.IOServiceClose, [u32], ctypes.c_int)
        self.port_source = _declare(iokit.IONotificationPortGetRunLoopSource, [vp], vp)
        self.port_destroy = _declare(iokit.IONotificationPortDestroy, [vp], None)
        self.current_loop = _declare(cf.CFRunLoopGetCurrent, [], vp)
        self.add_source = _declare(cf.CFRunLoopAddSource, [vp, vp, vp], None)
        self.run_loop = _declare(cf.CFRunLoopRun, [], None)
        self.stop_loop = _declare(cf.CFRunLoopStop, [vp], None)
        self.make_string = _declare(cf.CFStringCreateWithCString,
                                    [vp, ctypes.c_char_p, u32], vp)

    def register(self, on_message: Callable[[int, int], None]) -> Registration:
        """Register `on_message(message_type, argument)`; OSError when IOKit refuses."""
        def callback(_refcon, _service, kind: int, argument: int | None) -> None:
            try:
                on_message(int(kind), int(argument or 0))
            except Exception:  # never raise into IOKit
                log.exception("system power message handler failed")

        c_callback = InterestCallback(callback)
        port, notifier = ctypes.c_void_p(), ctypes.c_uint32()
        root = self.register_for_system_power(None, ctypes.byref(port), c_callback,
                                              ctypes.byref(notifier))
        if not root:
            raise OSError("IORegisterForSystemPower returned MACH_PORT_NULL")
        return Registration(int(root), port.value or 0, notifier, c_callback)

    def allow_power_change(self, registration: Registration, argument: int) -> None:
        """Acknowledge a CanSystemSleep / SystemWillSleep message."""
        self.allow(registration.root, argument)

    def run(self, registration: Registration, ready: Callable[[int], None]) -> None:
        """Attach the notification port to this thread's run loop and run it until
        `stop(loop)`; `ready(loop)` is called just before."""
        loop = self.current_loop()
        self.add_source(loop, self.port_source(registration.port),
                        self.make_string(None, DEFAULT_MODE, UTF8))
        ready(loop)
        self.run_loop()

    def stop(self, loop: int) -> None:
        """End `run` (CFRunLoopStop may be called from any thread)."""
        self.stop_loop(loop)

    def deregister(self, registration: Registration) -> None:
        """Undo `register`."""
        self.deregister_for_system_power(ctypes.byref(registration.notifier))
        self.service_close(registration.root)
        self.port_destroy(registration.port)


class MacSleepWatch(SleepWatch):
    """Runs the power notifications on a thread and turns them into the hooks' calls."""

    def __init__(self, iokit: Any = None, cf: Any = None, *,
                 start_timeout: float = 10.0) -> None:
        self._libraries = iokit, cf  # the real frameworks when None
        self._api: IOKitApi | None = None
        self.hooks: SleepHooks | None = None
        self.start_timeout = start_timeout
        self._registration: Registration | None = None
        self._loop: int | None = None
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        self.capability = Capability(ABOUT_TO_SLEEP, False, SOURCE, False, "not started")

    def _load(self) -> IOKitApi:
        if self._api is None:
            self._api = IOKitApi(*self._libraries)
        return self._api

    def probe(self) -> Capability:
        try:
            self._load()
        except (OSError, AttributeError) as exc:
            return Capability(ABOUT_TO_SLEEP, False, SOURCE, False, f"IOKit not usable: {exc}")
        return Capability(ABOUT_TO_SLEEP, True, SOURCE)

    def start(self, hooks: SleepHooks) -> Capability:
        self.hooks, self.capability = hooks, self.probe()
        if not self.capability.available:
            return self.capability
        self._ready.clear()
        self._thread = threading.Thread(target=self._run, name="heedful-sleep-iokit",
                                        daemon=True)
        self._thread.start()
        if not self._ready.wait(self.start_timeout):
            self.capability = Capability(ABOUT_TO_SLEEP, False, SOURCE, False,
                                         "the power notification thread did not start")
        return self.capability

    def _run(self) -> None:
        api = self._load()
        try:
            self._registration = api.register(self._on_message)
        except OSError as exc:
            self.capability = Capability(ABOUT_TO_SLEEP, False, SOURCE, False, str(exc))
            self._ready.set()
            return
        try:
            api.run(self._registration, self._running)
        finally:
            registration, self._registration = self._registration, None
            api.deregister(registration)

    def _running(self, loop: int) -> None:
        self._loop = loop
        self.capability = Capability(ABOUT_TO_SLEEP, True, SOURCE)
        self._ready.set()

    def stop(self) -> None:
        loop, self._loop = self._loop, None
        if loop is not None and self._api is not None:
            self._api.stop(loop)
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(self.start_timeout)
        self.capability = Capability(ABOUT_TO_SLEEP, False, SOURCE, False, "stopped")

    def _on_message(self, kind: int, argument: int) -> None:
        """On the run-loop thread. WillSleep is acknowledged only after the hooks return."""
        api, registration = self._api, self._registration
        if api is None or registration is None:
            return
        if kind == CAN_SYSTEM_SLEEP:
            api.allow_power_change(registration, argument)
        elif kind == SYSTEM_WILL_SLEEP:
            try:
                if self.hooks is not None:
                    self.hooks.before_sleep(WILL_SLEEP_ALLOWANCE)
            finally:
                api.allow_power_change(registration, argument)
        elif kind == SYSTEM_HAS_POWERED_ON and self.hooks is not None:
            self.hooks.after_wake()


if __name__ == "__main__":  # probe alone: python -m agent.platform.sleep_macos
    print(MacSleepWatch().probe())
