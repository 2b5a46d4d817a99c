"""The X11 XScreenSaver boundary (libXss via ctypes): milliseconds since the last input.

This is the thinnest possible wrapper so that `linux.py`'s logic can be tested with a fake
object of the same shape (`idle_ms()` and `reason`).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os


class XScreenSaverInfo(ctypes.Structure):
    """`XScreenSaverInfo` from X11/extensions/scrnsaver.h."""

    _fields_ = [("window", ctypes.c_ulong), ("state", ctypes.c_int), ("kind", ctypes.c_int),
                ("til_or_since", ctypes.c_ulong), ("idle", ctypes.c_ulong),
                ("eventMask", ctypes.c_ulong)]


class XScreenSaver:
    """Opens the X display once and asks the XScreenSaver extension for the idle time."""

    def __init__(self, display: str | None = None) -> None:
        self.display_name = display if display is not None else os.environ.get("DISPLAY", "")
        self.reason = ""
        self._x11 = self._xss = None
        self._display = None
        self._info = None

    def _open(self) -> bool:
        if self._display:
            return True
        if not self.display_name:
            self.reason = "no X display (DISPLAY is not set)"
            return False
        x11_path, xss_path = ctypes.util.find_library("X11"), ctypes.util.find_library("Xss")
        if not x11_path or not xss_path:
            self.reason = "libX11 or libXss is not installed"
            return False
        self._x11, self._xss = ctypes.cdll.LoadLibrary(x11_path), ctypes.cdll.LoadLibrary(xss_path)
        self._x11.XOpenDisplay.restype = ctypes.c_void_p
        self._x11.XOpenDisplay.argtypes = [ctypes.c_char_p]
        self._x11.XDefaultRootWindow.restype = ctypes.c_ulong
        self._x11.XDefaultRootWindow.argtypes = [ctypes.c_void_p]
        self._xss.XScreenSaverAllocInfo.restype = ctypes.POINTER(XScreenSaverInfo)
        self._xss.XScreenSaverQueryInfo.argtypes = [ctypes.c_void_p, ctypes.c_ulong,
                                                    ctypes.POINTER(XScreenSaverInfo)]
        display = self._x11.XOpenDisplay(self.display_name.encode())
        if not display:
            self.reason = f"cannot open X display {self.display_name!r}"
            return False
        self._display, self._info = display, self._xss.XScreenSaverAllocInfo()
        return True

    def idle_ms(self) -> int | None:
        """Milliseconds since the last keyboard/mouse input, or None (see `reason`)."""
        if not self._open():
            return None
        root = self._x11.XDefaultRootWindow(self._display)
        if not self._xss.XScreenSaverQueryInfo(self._display, root, self._info):
            self.reason = "the X server lacks the MIT-SCREEN-SAVER extension"
            return None
        self.reason = ""
        return int(self._info.contents.idle)
