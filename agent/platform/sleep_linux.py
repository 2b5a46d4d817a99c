"""Linux: before-sleep from systemd-logind, through a *delay* inhibitor lock (jeepney D-Bus).

logind's protocol: a client holding a delay lock (`Manager.Inhibit("sleep", who, why,
"delay")` returns a file descriptor) gets `PrepareForSleep(true)` and logind waits until the
descriptor is closed, or at most `InhibitDelayMaxUSec` (5 s by default), before suspending.
So the watch keeps one lock; on `PrepareForSleep(true)` it runs the hooks, then closes the
descriptor; on `PrepareForSleep(false)` (resume) it takes a new lock and calls `after_wake`.

`bus` is the D-Bus address (the system bus in production; tests pass a private
`dbus-daemon`). No system bus or no logind (containers, non-systemd distributions): the
capability says why and nothing else changes. A connection lost later is retried every
`reconnect_after` seconds.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
from typing import Any

from agent.platform.base import Capability
from agent.platform.sleep import ABOUT_TO_SLEEP, SleepHooks, SleepWatch

log = logging.getLogger(__name__)

LOGIND, PATH = "org.freedesktop.login1", "/org/freedesktop/login1"
MANAGER = "org.freedesktop.login1.Manager"
SOURCE = "logind-delay-inhibitor"
DEFAULT_DELAY_MAX = 5.0  # logind's default InhibitDelayMaxUSec
INHIBIT = ("sleep", "Heedful", "Seal fresh files before sleep", "delay")
NO_LOGIND = ("org.freedesktop.DBus.Error.ServiceUnknown",
             "org.freedesktop.DBus.Error.NameHasNoOwner")


class Unavailable(Exception):
    """The bus or logind cannot give a delay lock; the message says why, for an operator."""


class NoLogind(Unavailable):
    """Nothing owns org.freedesktop.login1 on this bus."""


class LogindSleepWatch(SleepWatch):
    """Holds a logind delay lock and turns PrepareForSleep into the hooks' calls."""

    def __init__(self, *, bus: str = "SYSTEM", call_timeout: float = 5.0,
                 reconnect_after: float = 60.0) -> None:
        self.bus, self.call_timeout, self.reconnect_after = bus, call_timeout, reconnect_after
        self.capability = Capability(ABOUT_TO_SLEEP, False, SOURCE, False, "not started")
        self.delay_max = DEFAULT_DELAY_MAX
        self.hooks: SleepHooks | None = None
        self._conn: Any = None
        self._fd: int | None = None
        self._fd_lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    # -- the SleepWatch interface -------------------------------------------------------------
    def probe(self) -> Capability:
        """Can logind be reached on this bus (its InhibitDelayMaxUSec read)? No lock taken."""
        try:
            conn = self._connect()
        except Unavailable as exc:
            return self._unavailable(str(exc))
        try:
            self._read_delay_max(conn)
        except Unavailable as exc:
            return self._unavailable(str(exc))
        finally:
            conn.close()
        return Capability(ABOUT_TO_SLEEP, True, SOURCE)

    def start(self, hooks: SleepHooks) -> Capability:
        """Take the first delay lock and listen for PrepareForSleep on a thread."""
        self.hooks = hooks
        self._stopping.clear()
        try:
            self._conn, signals = self._open()
        except Unavailable as exc:
            self.capability = self._unavailable(str(exc))
            return self.capability
        self.capability = Capability(ABOUT_TO_SLEEP, True, SOURCE)
        self._thread = threading.Thread(target=self._run, args=(signals,),
                                        name="heedful-sleep-logind", daemon=True)
        self._thread.start()
        return self.capability

    def stop(self) -> None:
        """Close the bus connection (which ends the thread) and release the lock."""
        self._stopping.set()
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(OSError):  # wakes the thread blocked in recv
                conn.sock.shutdown(socket.SHUT_RDWR)
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(self.call_timeout)
        if conn is not None:
            conn.close()
        self._release()
        self.capability = Capability(ABOUT_TO_SLEEP, False, SOURCE, False, "stopped")

    @property
    def holding_lock(self) -> bool:
        """Whether a delay lock is held right now (sleep will wait for this agent)."""
        return self._fd is not None

    # -- D-Bus ------------------------------------------------------------------------------
    def _connect(self):
        try:
            from jeepney.io.blocking import open_dbus_connection
        except ImportError as exc:
            raise Unavailable(f"jeepney is not installed ({exc})") from exc
        which, where = ("system D-Bus" if self.bus == "SYSTEM" else "D-Bus"), self.bus
        try:
            from jeepney.bus import get_bus

            where = get_bus(self.bus).lstrip("\0")
            return open_dbus_connection(bus=self.bus, enable_fds=True,
                                        auth_timeout=self.call_timeout)
        except FileNotFoundError as exc:
            raise Unavailable(f"no {which} at {where} (not running here, as in most "
                              f"containers)") from exc
        except (OSError, RuntimeError, ValueError, KeyError) as exc:
            raise Unavailable(f"no connection to the {which} at {self.bus} "
                              f"({exc.__class__.__name__}: {exc})") from exc

    def _call(self, conn, method: str, signature: str | None = None, body: tuple = (),
              interface: str = MANAGER):
        from jeepney import DBusAddress, new_method_call
        from jeepney.wrappers import DBusErrorResponse, unwrap_msg

        address = DBusAddress(PATH, LOGIND, interface)
        try:
            reply = conn.send_and_get_reply(new_method_call(address, method, signature, body),
                                            timeout=self.call_timeout)
            return unwrap_msg(reply)
        except DBusErrorResponse as exc:
            if exc.name in NO_LOGIND:
                raise NoLogind(f"systemd-logind is not running on this bus ({exc})") from exc
            raise Unavailable(f"logind {method} failed: {exc}") from exc
        except (OSError, TimeoutError) as exc:
            raise Unavailable(f"logind {method} failed: {exc.__class__.__name__}: {exc}") \
                from exc

    def _read_delay_max(self, conn) -> float:
        """logind's InhibitDelayMaxUSec in seconds (the default when it cannot be read)."""
        try:
            ((_sig, usec),) = self._call(conn, "Get", "ss", (MANAGER, "InhibitDelayMaxUSec"),
                                         interface="org.freedesktop.DBus.Properties")
        except NoLogind:
            raise
        except Unavailable:
            return DEFAULT_DELAY_MAX  # an older logind without the property
        return int(usec) / 1_000_000 if usec else DEFAULT_DELAY_MAX

    def _take_lock(self, conn) -> None:
        (fd,) = self._call(conn, "Inhibit", "ssss", INHIBIT)
        raw = fd.to_raw_fd() if hasattr(fd, "to_raw_fd") else int(fd)
        with self._fd_lock:
            old, self._fd = self._fd, raw
        if old is not None:
            os.close(old)

    def _release(self) -> None:
        """Close the lock's descriptor: logind may suspend now."""
        with self._fd_lock:
            fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)

    def _open(self):
        """Connect, read the delay limit, subscribe to PrepareForSleep, take a lock."""
        from collections import deque

        from jeepney import MatchRule
        from jeepney.bus_messages import message_bus
        from jeepney.io.blocking import Proxy
        from jeepney.wrappers import DBusErrorResponse

        conn = self._connect()
        try:
            self.delay_max = self._read_delay_max(conn)
            rule = MatchRule(type="signal", sender=LOGIND, interface=MANAGER,
                             member="PrepareForSleep", path=PATH)
            try:
                Proxy(message_bus, conn, timeout=self.call_timeout).AddMatch(rule)
            except (DBusErrorResponse, OSError) as exc:
                raise Unavailable(f"the bus refused the PrepareForSleep match: {exc}") from exc
            local = MatchRule(type="signal", interface=MANAGER, member="PrepareForSleep",
                              path=PATH)  # the bus already checked the sender
            signals: deque = deque()
            conn.filter(local, queue=signals)
            self._take_lock(conn)
        except Exception:
            conn.close()
            raise
        return conn, signals

    # -- the thread -------------------------------------------------------------------------
    def _run(self, signals) -> None:
        conn = self._conn
        while conn is not None:
            try:
                self._serve(conn, signals)
            except (OSError, ValueError) as exc:  # connection lost (or shut by stop())
                if not self._stopping.is_set():
                    self._lost(exc)
            if self._stopping.is_set():
                return
            conn.close()
            conn, signals = self._reconnect()

    def _lost(self, exc: Exception) -> None:
        self._release()
        self.capability = Capability(
            ABOUT_TO_SLEEP, False, SOURCE, False,
            f"lost the D-Bus connection ({exc.__class__.__name__}: {exc}); "
            f"retrying every {self.reconnect_after:.0f} s")
        log.warning("logind sleep watch: %s", self.capability.reason)

    def _reconnect(self):
        """Try again every `reconnect_after` seconds until it works or the watch stops."""
        while not self._stopping.wait(self.reconnect_after):
            try:
                conn, signals = self._open()
            except Unavailable as exc:
                log.info("logind sleep watch still unavailable: %s", exc)
                continue
            self._conn = conn
            if self._stopping.is_set():  # stop() ran meanwhile and may not have seen `conn`
                conn.close()
                self._release()
                break
            self.capability = Capability(ABOUT_TO_SLEEP, True, SOURCE)
            return conn, signals
        return None, None

    def _serve(self, conn, signals) -> None:
        from jeepney import HeaderFields

        while not self._stopping.is_set():
            message = conn.recv_until_filtered(signals)
            if message.header.fields.get(HeaderFields.destination):
                continue  # only logind's broadcasts count; anyone may send us a unicast signal
            (going_to_sleep,) = message.body
            if going_to_sleep:
                self._before_sleep()
            else:
                self._after_wake(conn)

    def _before_sleep(self) -> None:
        try:
            if self.hooks is not None:
                self.hooks.before_sleep(self.delay_max)
        finally:
            self._release()

    def _after_wake(self, conn) -> None:
        try:
            self._take_lock(conn)
            self.capability = Capability(ABOUT_TO_SLEEP, True, SOURCE)
        except Unavailable as exc:  # sealing still happens on idle/lock; try again next wake
            self.capability = Capability(
                ABOUT_TO_SLEEP, True, SOURCE, True,
                f"no new delay lock after resume ({exc}); the next sleep will not wait")
            log.warning("logind sleep watch: %s", self.capability.reason)
        if self.hooks is not None:
            self.hooks.after_wake()

    def _unavailable(self, reason: str) -> Capability:
        return Capability(ABOUT_TO_SLEEP, False, SOURCE, False, reason)


if __name__ == "__main__":  # probe alone: python -m agent.platform.sleep_linux
    print(LogindSleepWatch().probe())
