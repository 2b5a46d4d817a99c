"""Before sleep on Linux: a real private dbus-daemon, a stand-in logind on it, the real watch.

The last test runs the whole path: the seal sensor in the real sensor host, the real Linux
platform connected to the private bus, real files sealed by the real seal engine while the
stand-in logind waits for the delay lock, exactly as logind does before suspending.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest

from agent.outbox import Outbox
from agent.platform.base import CommandResult
from agent.platform.linux import LinuxPlatform
from agent.platform.sleep import SleepHooks, seal_budget
from agent.platform.sleep_linux import INHIBIT, LogindSleepWatch
from agent.sensors.host import SensorHost
from agent.sensors.seal import SealSensor
from agent.settings import Settings
from agent.store import Store
from rules.model import Bundle
from tests.agent.platform.logind_bus import FakeLogind, PrivateBus, dbus_daemon
from tests.waiting import wait_until

OLD = 1_600_000_000 * 10**9


@pytest.fixture
def bus(tmp_path: Path):
    if dbus_daemon() is None:
        pytest.fail("dbus-daemon missing: run `bash tools/system-deps.sh` (as root)")
    private = PrivateBus(tmp_path)
    yield private.address
    private.close()


@pytest.fixture
def logind(bus: str):
    fake = FakeLogind(bus, delay_max_usec=3_000_000)
    yield fake
    fake.close()


class Recorder(SleepHooks):
    """Hooks that remember each call, and whether logind still saw the lock held then."""

    def __init__(self, logind: FakeLogind) -> None:
        super().__init__()
        self.logind, self.calls = logind, []
        self.add(self.before, self.after)

    def before(self, budget: float) -> None:
        self.calls.append(("before", budget, [FakeLogind.lock_open(fd)
                                              for fd in self.logind.locks]))

    def after(self) -> None:
        self.calls.append(("after",))


def test_no_bus_at_all_says_so_and_calls_nothing(tmp_path: Path) -> None:
    missing = f"unix:path={tmp_path / 'no-bus'}"
    cap = LogindSleepWatch(bus=missing).probe()
    assert not cap.available and "no D-Bus at" in cap.reason and "no-bus" in cap.reason
    linux = LinuxPlatform(runner=lambda argv: CommandResult(1, b""), sleep_bus=missing)
    unsubscribe = linux.on_about_to_sleep(lambda budget: None)
    sleep = [c for c in linux.capabilities() if c.name == "about_to_sleep"][0]
    assert not sleep.available and "no-bus" in sleep.reason
    unsubscribe()


def test_a_bus_without_logind_says_logind_is_not_running(bus: str) -> None:
    watch = LogindSleepWatch(bus=bus)
    assert "systemd-logind is not running" in watch.probe().reason
    cap = watch.start(SleepHooks())
    assert not cap.available and "systemd-logind is not running" in cap.reason
    watch.stop()


def test_delay_lock_is_held_until_the_hooks_return_then_taken_again_on_resume(
        logind: FakeLogind, bus: str) -> None:
    watch = LogindSleepWatch(bus=bus)
    assert watch.probe().available and logind.inhibits == []  # probing takes no lock
    hooks = Recorder(logind)
    cap = watch.start(hooks)
    try:
        assert cap.available and cap.source == "logind-delay-inhibitor"
        assert logind.wait_for_inhibits(1) and logind.inhibits == [INHIBIT]
        assert INHIBIT[-1] == "delay" and FakeLogind.lock_open(logind.locks[0])
        assert watch.delay_max == 3.0

        assert logind.suspend()  # returns once the agent closed its lock
        assert hooks.calls == [("before", seal_budget(3.0), [True])]  # held during the hook
        assert not watch.holding_lock

        logind.resume()
        assert logind.wait_for_inhibits(2)
        assert wait_until(lambda: ("after",) in hooks.calls)
        assert FakeLogind.lock_open(logind.locks[1]) and watch.holding_lock
        assert logind.suspend()  # the second sleep waits for the new lock too
        assert [c[0] for c in hooks.calls] == ["before", "after", "before"]
    finally:
        watch.stop()


def test_stopping_releases_the_lock(logind: FakeLogind, bus: str) -> None:
    watch = LogindSleepWatch(bus=bus)
    watch.start(SleepHooks())
    assert logind.wait_for_inhibits(1)
    watch.stop()
    assert not FakeLogind.lock_open(logind.locks[0])
    assert not watch.capability.available


def test_a_lost_bus_is_reported_and_the_lock_taken_again_when_it_returns(
        tmp_path: Path) -> None:
    first = PrivateBus(tmp_path)
    logind = FakeLogind(first.address)
    watch = LogindSleepWatch(bus=f"unix:path={tmp_path / 'bus.socket'}", reconnect_after=0.05)
    watch.start(SleepHooks())
    second = again = None
    try:
        assert logind.wait_for_inhibits(1)
        logind.close()
        first.close()  # the system bus went away (a dbus restart)
        assert wait_until(lambda: "lost the D-Bus connection" in watch.capability.reason)
        assert not watch.capability.available and not watch.holding_lock
        second = PrivateBus(tmp_path)
        again = FakeLogind(second.address)
        assert again.wait_for_inhibits(1) and wait_until(lambda: watch.capability.available)
        assert again.suspend()
    finally:
        watch.stop()
        for part in (again, second):
            if part is not None:
                part.close()


def test_a_failing_hook_still_lets_the_laptop_sleep(logind: FakeLogind, bus: str) -> None:
    hooks = SleepHooks()
    ran = threading.Event()

    def broken(budget: float) -> None:
        ran.set()
        raise RuntimeError("boom")

    hooks.add(broken)
    watch = LogindSleepWatch(bus=bus)
    watch.start(hooks)
    try:
        assert logind.wait_for_inhibits(1)
        assert logind.suspend() and ran.is_set()
    finally:
        watch.stop()


class Desktop:
    """The idle/lock seam of the Linux platform: Mutter's idle time, logind's LockedHint."""

    def __init__(self) -> None:
        self.idle_ms, self.locked = 600_000, False

    def __call__(self, argv):
        joined = " ".join(argv)
        if "Mutter" in joined:
            return CommandResult(0, f"(uint64 {self.idle_ms},)\n".encode())
        if "LockedHint" in joined:
            return CommandResult(0, json.dumps({"type": "b", "data": self.locked}).encode())
        raise FileNotFoundError(argv[0])


def test_the_seal_sensor_seals_pending_files_before_logind_suspends(
        tmp_path: Path, logind: FakeLogind, bus: str) -> None:
    home, state = tmp_path / "home", tmp_path / "state"
    state.mkdir()
    files = {home / "Sensitive" / "plan.txt": b"the plan",
             home / "Downloads" / "report.pdf": os.urandom(90_000)}
    for path, data in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        os.utime(path, ns=(OLD, OLD))
    desktop = Desktop()
    platform = LinuxPlatform(runner=desktop, xss=object(), env={}, home=home, sleep_bus=bus)
    store = Store(state)
    outbox = Outbox(store)
    sensor = SealSensor(home=state, user_home=home, busy_probe=lambda p: None)
    host = SensorHost([sensor], store=store, outbox=outbox, platform=platform,
                      settings=Settings({}, env={}), backoff_start=0.01)
    host.start(Bundle(version=1))
    try:
        assert wait_until(lambda: (host.live.get("seal") or {}).get("pending_files") == 2)
        assert logind.wait_for_inhibits(1)
        sleep_cap = [c for c in platform.capabilities() if c.name == "about_to_sleep"][0]
        assert sleep_cap.available and sleep_cap.source == "logind-delay-inhibitor"

        assert logind.suspend()  # logind waited for the lock: sealing happened before it
        assert all(Path(f"{p}.heedful").exists() and not p.exists() for p in files)
        events = [e for e in outbox.peek(50) if e.type.startswith("seal_")]
        finished = [e.data for e in events if e.type == "seal_finished"]
        assert finished and finished[-1]["reason"] == "sleep"
        assert finished[-1]["sealed_files"] == 2 and finished[-1]["remaining_files"] == 0

        logind.resume()
        assert logind.wait_for_inhibits(2)  # a new delay lock for the next sleep
        assert FakeLogind.lock_open(logind.locks[1])
        desktop.idle_ms = 0  # the employee types after the wake, session unlocked
        assert wait_until(lambda: all(p.exists() and p.read_bytes() == d
                                      for p, d in files.items()))
    finally:
        host.stop()
        store.close()
    assert not FakeLogind.lock_open(logind.locks[1])  # the stopped agent holds no lock
