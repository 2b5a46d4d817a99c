"""The sensor framework (supervision, signals, options) and the core sensors."""

from __future__ import annotations

import threading
from pathlib import Path
from types import SimpleNamespace

from agent.events import Event, Signal
from agent.footprint import Footprint
from agent.outbox import Outbox
from agent.platform.base import Capability, SleepDetector
from agent.platform.signins import LaptopSignin, SigninBatch, from_epoch
from agent.sensors import Option, Sensor
from agent.sensors.host import SensorHost
from agent.sensors.presence import PresenceSensor
from agent.sensors.signins import LaptopSigninsSensor
from agent.settings import Settings
from agent.store import Store
from tests.waiting import wait_until


class Recorder(Sensor):
    """Records what the framework does to it."""

    name = "recorder"
    options = (Option("threshold", int, 5, "from the bundle", from_bundle=lambda b: b.t),
               Option("plain", str, "x", "not policy"))

    def __init__(self) -> None:
        self.configured: list[tuple[dict, set]] = []
        self.signals: list[Signal] = []
        self.starts = 0

    def configure(self, options, updated):
        self.configured.append((dict(options), set(updated)))

    def start(self, ctx):
        self.starts += 1
        self.ctx = ctx

    def on_signal(self, signal):
        self.signals.append(signal)


class Crasher(Sensor):
    """Crashes on each of its first `crashes` ticks, then emits an event per tick."""

    name = "crasher"
    tick_seconds = 0.01

    def __init__(self, crashes: int) -> None:
        self.crashes, self.starts, self.stops = crashes, 0, 0

    def start(self, ctx):
        self.ctx, self.starts = ctx, self.starts + 1

    def stop(self):
        self.stops += 1

    def tick(self):
        if self.crashes:
            self.crashes -= 1
            raise RuntimeError("disk on fire")
        self.ctx.emit(Event("crasher.ok", {"start": self.starts}))
        return 3600.0


def make_host(tmp_path: Path, sensors, platform=None, **kw) -> SensorHost:
    store = Store(tmp_path)
    return SensorHost(sensors, store=store, outbox=Outbox(store), platform=platform,
                      settings=Settings({}, env={}), backoff_start=0.01, **kw)


def test_options_come_from_the_bundle_and_only_changes_are_reconfigured(tmp_path: Path):
    recorder, other = Recorder(), Recorder()
    other.name = "other"
    host = make_host(tmp_path, [recorder, other])
    host.start(SimpleNamespace(t=7, version=1))
    assert wait_until(lambda: recorder.starts == 1)
    assert recorder.configured[0] == ({"threshold": 7, "plain": "x"}, {"threshold", "plain"})
    host.apply_bundle(SimpleNamespace(t=9, version=2))
    assert wait_until(lambda: len(recorder.configured) == 2 and recorder.signals)
    assert recorder.configured[1] == ({"threshold": 9, "plain": "x"}, {"threshold"})
    assert recorder.signals[-1] == Signal("rules-applied", {"version": 2})
    recorder.ctx.publish("locked")
    assert wait_until(lambda: any(s.name == "locked" for s in other.signals))
    assert not any(s.name == "locked" for s in recorder.signals)  # not echoed to its source
    host.stop()


def test_a_crashing_sensor_is_restarted_with_backoff_while_others_carry_on(tmp_path: Path):
    crasher, recorder = Crasher(crashes=3), Recorder()
    host = make_host(tmp_path, [crasher, recorder])
    host.start(SimpleNamespace(t=1, version=1))
    assert wait_until(lambda: host.outbox.depth() == 1)
    (event,) = host.outbox.peek(5)
    assert event.type == "crasher.ok" and event.data["start"] == 4  # three restarts
    assert crasher.stops == 3
    status = {s["name"]: s for s in host.status()}
    assert status["crasher"]["crashes"] == 3 and "disk on fire" in status["crasher"]["last_error"]
    assert status["recorder"]["state"] == "running" and recorder.starts == 1
    host.stop()
    assert {s["state"] for s in host.status()} == {"stopped"}


def test_a_crash_in_a_spawned_thread_restarts_the_sensor(tmp_path: Path):
    class Spawner(Sensor):
        name = "spawner"

        def __init__(self):
            self.starts = 0

        def start(self, ctx):
            self.starts += 1
            if self.starts == 1:
                ctx.spawn(lambda: 1 / 0, "worker")

    spawner = Spawner()
    host = make_host(tmp_path, [spawner])
    host.start(None)
    assert wait_until(lambda: spawner.starts == 2)
    assert "ZeroDivisionError" in host.status()[0]["last_error"]
    host.stop()


class FakeOS:
    """The platform facade at its boundary: scripted idle/lock, controllable clocks."""

    def __init__(self) -> None:
        self.idle: float | None = 0.0
        self.locked: bool | None = False
        self.wall = self.mono = 1000.0

    def idle_seconds(self):
        return self.idle

    def session_locked(self):
        return self.locked

    def SleepDetector(self, wall=None):  # noqa: N802 (mirrors the facade's class name)
        return SleepDetector(wall=lambda: self.wall, mono=lambda: self.mono)


def run_presence(tmp_path: Path, fake: FakeOS, threshold=300.0):
    store = Store(tmp_path)
    host = SensorHost([], store=store, outbox=Outbox(store), platform=fake,
                      settings=Settings({}, env={}), clock=lambda: fake.wall)
    seen: list[Signal] = []
    host.listeners.append(seen.append)
    from agent.sensors import SensorContext

    sensor = PresenceSensor()
    sensor.configure({"idle_threshold_seconds": threshold, "idle_poll_seconds": 2,
                      "max_poll_seconds": 10, "unknown_poll_seconds": 30}, set())
    sensor.start(SensorContext(name="presence", host=host, platform=fake, settings=None,
                               clock=lambda: fake.wall))
    return sensor, host, seen


def test_presence_turns_idle_lock_and_clock_gaps_into_signals(tmp_path: Path):
    fake = FakeOS()
    sensor, host, seen = run_presence(tmp_path, fake)
    assert sensor.tick() == 10  # active, far from the threshold: the longest poll
    assert seen == [] and host.live["idle_seconds"] == 0.0 and host.live["locked"] is False
    fake.idle, fake.locked = 295.0, True
    assert sensor.tick() == 5.0  # wake up right when the threshold could be crossed
    fake.idle = 301.0
    assert sensor.tick() == 2  # once idle, poll fast to notice the return
    fake.wall += 3600  # an hour on the wall clock, none on the monotonic one: slept
    fake.idle, fake.locked = 1.0, False
    sensor.tick()
    names = [s.name for s in seen]
    assert names == ["locked", "idle-crossed", "woke", "unlocked", "active"]
    assert seen[2].data["slept_seconds"] >= 3500 and host.live["asleep_since"] is not None


def test_presence_never_pretends_when_the_platform_cannot_tell(tmp_path: Path):
    fake = FakeOS()
    fake.idle, fake.locked = None, None
    sensor, host, seen = run_presence(tmp_path, fake)
    assert sensor.tick() == 30
    assert seen == [] and host.live["idle_seconds"] is None and host.live["locked"] is None


class FakeReader:
    def __init__(self) -> None:
        self.checkpoints: list[dict] = []

    def read(self, checkpoint, *, now, backfill):
        self.checkpoints.append(checkpoint)
        n = checkpoint.get("n", 0)
        records = [LaptopSignin("alice", from_epoch(1_700_000_000 + n), "failure",
                                "failed_unlock", "journal", "wrong password"),
                   LaptopSignin("alice", from_epoch(1_700_000_000), "success", "lock",
                                "journal")]
        return SigninBatch(records, {"n": n + 1}, [Capability("signins_journal", True, "x")])


def test_signin_sensor_queues_keyed_events_then_moves_its_checkpoint(tmp_path: Path):
    reader = FakeReader()
    sensor = LaptopSigninsSensor(reader=reader)
    host = make_host(tmp_path, [sensor])
    host.start(None)
    assert wait_until(lambda: host.outbox.depth() == 1)
    (event,) = host.outbox.peek(5)  # the "lock" record is parsed but is not a sign-in
    assert event.type == "laptop_signin" and event.data["kind"] == "failed_unlock"
    assert event.data["source"] == "this laptop"
    assert wait_until(lambda: host.store.get_checkpoint("laptop-signins:reader") == {"n": 1})
    host.stop()
    assert host.live["signin_sources"][0]["name"] == "signins_journal"


def test_footprint_watchdog_backs_off_and_recovers():
    class Proc:
        cpu = 0.0
        rss = 40 * 2**20

        def cpu_times(self):
            return SimpleNamespace(user=self.cpu, system=0.0)

        def memory_info(self):
            return SimpleNamespace(rss=self.rss)

    now = [0.0]
    proc = Proc()
    meter = Footprint(proc, cpu_limit=5.0, rss_limit_mb=150, window=2, clock=lambda: now[0])

    def step(cpu_seconds):
        now[0] += 10
        proc.cpu += cpu_seconds
        return meter.sample()

    assert step(0.01) is None and meter.interval_factor == 1.0
    assert step(2.0) is None  # one hot sample (20 %) is not enough
    assert step(2.0) == "scans-paused" and meter.interval_factor == 2.0
    assert step(0.01) is None  # one cool sample is not enough either
    assert step(0.01) == "scans-resumed"
    proc.rss = 200 * 2**20
    assert step(0.0) == "scans-paused"  # memory over the limit acts at once
    figures = meter.checkin_figures()
    assert figures["rss_bytes"] == 200 * 2**20 and figures["cpu_percent"] > 0


def test_real_process_footprint_is_measured():
    meter = Footprint()
    threading.Event().wait(0.05)
    meter.sample()
    status = meter.status()
    assert status["rss_bytes"] > 10 * 2**20 and status["cpu_percent"] >= 0
