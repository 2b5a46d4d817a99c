"""A private `dbus-daemon` and a stand-in systemd-logind on it, for the before-sleep tests.

The bus is the real daemon (Debian's `dbus-daemon`), so the agent's jeepney connection, the
match rule, the signal routing and the file-descriptor passing are all real. Only logind is
played by `FakeLogind`: it owns `org.freedesktop.login1`, answers `Manager.Inhibit` with the
write end of a pipe (keeping the read end, which reaches end-of-file exactly when every copy
of the lock is closed), answers `InhibitDelayMaxUSec`, and emits `PrepareForSleep` like
logind does: before suspending it waits until the delay locks are released.
"""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import socket
import subprocess
import threading
from pathlib import Path

from jeepney import (
    DBusAddress,
    HeaderFields,
    MessageType,
    new_error,
    new_method_return,
    new_signal,
)
from jeepney.bus_messages import message_bus
from jeepney.io.blocking import Proxy, open_dbus_connection

LOGIND, PATH = "org.freedesktop.login1", "/org/freedesktop/login1"
MANAGER = "org.freedesktop.login1.Manager"
CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""


def dbus_daemon() -> str | None:
    """Path of `dbus-daemon`, or None (tools/system-deps.sh installs it)."""
    return shutil.which("dbus-daemon")


class PrivateBus:
    """A `dbus-daemon` of our own on a socket in `folder`; `address` is its D-Bus address."""

    def __init__(self, folder: Path) -> None:
        config = folder / "bus.conf"
        config.write_text(CONFIG.format(socket=folder / "bus.socket"))
        self.process = subprocess.Popen(
            [dbus_daemon() or "dbus-daemon", f"--config-file={config}", "--nofork",
             "--nopidfile", "--print-address=1"], stdout=subprocess.PIPE, text=True)
        self.address = self.process.stdout.readline().strip()
        if not self.address:
            self.close()
            raise RuntimeError("dbus-daemon did not start")

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(10)
        if self.process.stdout:
            self.process.stdout.close()


class FakeLogind:
    """logind's sleep protocol on `address`: Inhibit, InhibitDelayMaxUSec, PrepareForSleep."""

    def __init__(self, address: str, *, delay_max_usec: int = 3_000_000) -> None:
        self.delay_max_usec = delay_max_usec
        self.conn = open_dbus_connection(address, enable_fds=True)
        reply = Proxy(message_bus, self.conn, timeout=10).RequestName(LOGIND, 4)
        assert reply == (1,), reply  # primary owner
        self.inhibits: list[tuple] = []  # the arguments of each Inhibit call
        self.locks: list[int] = []  # our read end of each lock's pipe
        self._send_lock = threading.Lock()
        self._inhibited = threading.Condition()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    # -- what the test drives ---------------------------------------------------------------
    def suspend(self, timeout: float = 30.0) -> bool:
        """PrepareForSleep(true), then wait as logind does until every delay lock is
        released (True) or `timeout` passes (False: logind would suspend anyway)."""
        self._emit(True)
        open_locks = [fd for fd in self.locks if self.lock_open(fd)]
        for fd in open_locks:
            ready, _, _ = select.select([fd], [], [], timeout)
            if not ready:
                return False
        return not any(self.lock_open(fd) for fd in open_locks)

    def resume(self) -> None:
        """PrepareForSleep(false): the laptop is back."""
        self._emit(False)

    def wait_for_inhibits(self, count: int, timeout: float = 30.0) -> bool:
        """Block until `count` Inhibit calls have been answered."""
        with self._inhibited:
            return self._inhibited.wait_for(lambda: len(self.inhibits) >= count, timeout)

    @staticmethod
    def lock_open(fd: int) -> bool:
        """Whether the agent still holds the lock whose pipe read end is `fd`."""
        ready, _, _ = select.select([fd], [], [], 0)
        return not ready  # readable means end-of-file: every write end is closed

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.conn.sock.shutdown(socket.SHUT_RDWR)
        self._thread.join(10)
        self.conn.close()
        for fd in self.locks:
            os.close(fd)

    # -- the service ------------------------------------------------------------------------
    def _emit(self, going_to_sleep: bool) -> None:
        signal = new_signal(DBusAddress(PATH, interface=MANAGER), "PrepareForSleep", "b",
                            (going_to_sleep,))
        with self._send_lock:
            self.conn.send(signal)

    def _serve(self) -> None:
        while True:
            try:
                message = self.conn.receive()
            except (OSError, ValueError):
                return
            if message.header.message_type is MessageType.method_call:
                self._answer(message)

    def _answer(self, message) -> None:
        fields = message.header.fields
        member, interface = fields.get(HeaderFields.member), fields.get(HeaderFields.interface)
        if (interface, member) == (MANAGER, "Inhibit"):
            read_end, write_end = os.pipe()
            with self._send_lock:
                self.conn.send(new_method_return(message, "h", (write_end,)))
            os.close(write_end)  # the agent now holds the only copy
            with self._inhibited:
                self.locks.append(read_end)
                self.inhibits.append(tuple(message.body))
                self._inhibited.notify_all()
        elif member == "Get" and tuple(message.body) == (MANAGER, "InhibitDelayMaxUSec"):
            with self._send_lock:
                self.conn.send(new_method_return(message, "v", (("t", self.delay_max_usec),)))
        else:
            with self._send_lock:
                self.conn.send(new_error(message, "org.freedesktop.DBus.Error.UnknownMethod",
                                         "s", (f"{interface}.{member} is not faked",)))
