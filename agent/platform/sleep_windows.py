"""Windows: before sleep from PowerRegisterSuspendResumeNotification (powrprof.dll, Windows 8+).

With DEVICE_NOTIFY_CALLBACK, Windows calls `ULONG CALLBACK callback(PVOID Context, ULONG Type,
PVOID Setting)` on a thread of its own: PBT_APMSUSPEND (4) when the system is about to
suspend - it allows "approximately two seconds" for the callback to return - and
PBT_APMRESUMEAUTOMATIC (0x12) on every resume, followed by PBT_APMRESUMESUSPEND (7) when the
resume came from the user. The callback returns only once the hooks are done, which is how
the seal happens before the suspend.

`PowerApi` is the ctypes boundary; the DLL is injectable (`WindowsPlatform(powrprof=...)`),
so tests hand it an object shaped like powrprof (the two functions) and call the registered
C callback through ctypes. `WindowsSleepWatch` holds the logic.
"""

from __future__ import annotations

import ctypes
import logging
from collections.abc import Callable
from typing import Any

from agent.platform.base import Capability
from agent.platform.sleep import ABOUT_TO_SLEEP, SleepHooks, SleepWatch

log = logging.getLogger(__name__)

DEVICE_NOTIFY_CALLBACK = 2
PBT_APMSUSPEND, PBT_APMRESUMESUSPEND, PBT_APMRESUMEAUTOMATIC = 0x4, 0x7, 0x12
SUSPEND_ALLOWANCE = 2.0  # seconds Windows gives a PBT_APMSUSPEND handler
ERROR_SUCCESS = 0
SOURCE = "PowerRegisterSuspendResumeNotification"

# CALLBACK is __stdcall: WINFUNCTYPE on Windows. Elsewhere (where the tests run) CFUNCTYPE,
# which is the same convention on 64-bit Windows anyway.
_FUNCTYPE = getattr(ctypes, "WINFUNCTYPE", ctypes.CFUNCTYPE)
DeviceNotifyCallback = _FUNCTYPE(ctypes.c_ulong, ctypes.c_void_p, ctypes.c_ulong,
                                 ctypes.c_void_p)


class DeviceNotifySubscribeParameters(ctypes.Structure):
    """DEVICE_NOTIFY_SUBSCRIBE_PARAMETERS (powrprof.h)."""

    _fields_ = [("Callback", DeviceNotifyCallback), ("Context", ctypes.c_void_p)]


class PowerApi:
    """The two powrprof calls; `powrprof` is the loaded DLL (the real one when None).

    Raises OSError when the DLL cannot be loaded and AttributeError when it lacks the
    functions (before Windows 8)."""

    def __init__(self, powrprof: Any = None) -> None:
        if powrprof is None:
            if not hasattr(ctypes, "WinDLL"):
                raise OSError("powrprof.dll exists only on Windows")
            powrprof = ctypes.WinDLL("powrprof")
        self.register = powrprof.PowerRegisterSuspendResumeNotification
        self.register.argtypes = [ctypes.c_uint32,
                                  ctypes.POINTER(DeviceNotifySubscribeParameters),
                                  ctypes.POINTER(ctypes.c_void_p)]
        self.register.restype = ctypes.c_uint32
        self.unregister = powrprof.PowerUnregisterSuspendResumeNotification
        self.unregister.argtypes, self.unregister.restype = [ctypes.c_void_p], ctypes.c_uint32
        self._alive: dict[int, tuple[object, object]] = {}  # C callbacks must outlive Python's

    def register_suspend_resume(self, on_event: Callable[[int], None]) -> int:
        """Register `on_event(type)`; returns the registration handle. OSError on failure."""
        def callback(_context: int | None, kind: int, _setting: int | None) -> int:
            try:
                on_event(int(kind))
            except Exception:  # never raise into Windows; the suspend goes on regardless
                log.exception("suspend/resume handler failed")
            return ERROR_SUCCESS

        c_callback = DeviceNotifyCallback(callback)
        params = DeviceNotifySubscribeParameters(c_callback, None)
        handle = ctypes.c_void_p()
        status = self.register(DEVICE_NOTIFY_CALLBACK, ctypes.byref(params),
                               ctypes.byref(handle))
        if status != ERROR_SUCCESS:
            raise OSError(status, f"PowerRegisterSuspendResumeNotification failed "
                                  f"(error {status})")
        self._alive[handle.value or 0] = (c_callback, params)
        return handle.value or 0

    def unregister_suspend_resume(self, handle: int) -> None:
        """Stop the notifications registered under `handle`."""
        self.unregister(handle)
        self._alive.pop(handle, None)


class WindowsSleepWatch(SleepWatch):
    """Turns PBT_APMSUSPEND / PBT_APMRESUME* into the hooks' calls."""

    def __init__(self, powrprof: Any = None) -> None:
        self._powrprof, self._api = powrprof, None  # the DLL (real when None), its PowerApi
        self.hooks: SleepHooks | None = None
        self._handle: int | None = None
        self._suspended = False
        self.capability = Capability(ABOUT_TO_SLEEP, False, SOURCE, False, "not started")

    def _load(self) -> PowerApi:
        if self._api is None:
            self._api = PowerApi(self._powrprof)
        return self._api

    def probe(self) -> Capability:
        """Whether powrprof offers the registration (Windows 8 and later)."""
        try:
            self._load()
        except (OSError, AttributeError) as exc:
            return self._unavailable(exc)
        return Capability(ABOUT_TO_SLEEP, True, SOURCE)

    def start(self, hooks: SleepHooks) -> Capability:
        self.hooks = hooks
        try:
            self._handle = self._load().register_suspend_resume(self._on_event)
        except (OSError, AttributeError) as exc:
            self.capability = self._unavailable(exc)
            return self.capability
        self.capability = Capability(ABOUT_TO_SLEEP, True, SOURCE)
        return self.capability

    def stop(self) -> None:
        handle, self._handle = self._handle, None
        if handle is not None and self._api is not None:
            self._api.unregister_suspend_resume(handle)
        self.capability = Capability(ABOUT_TO_SLEEP, False, SOURCE, False, "stopped")

    def _on_event(self, kind: int) -> None:
        """On Windows' thread; returning lets the suspend proceed."""
        if self.hooks is None:
            return
        if kind == PBT_APMSUSPEND:
            self._suspended = True
            self.hooks.before_sleep(SUSPEND_ALLOWANCE)
        elif kind in (PBT_APMRESUMEAUTOMATIC, PBT_APMRESUMESUSPEND) and self._suspended:
            self._suspended = False  # both arrive after a resume by the user: act once
            self.hooks.after_wake()

    @staticmethod
    def _unavailable(exc: BaseException) -> Capability:
        if isinstance(exc, AttributeError):
            why = "powrprof.dll has no PowerRegisterSuspendResumeNotification (Windows 8+)"
        else:
            why = f"{SOURCE} is not usable: {exc}"
        return Capability(ABOUT_TO_SLEEP, False, SOURCE, False, why)


if __name__ == "__main__":  # probe alone: python -m agent.platform.sleep_windows
    print(WindowsSleepWatch().probe())
