"""The tray's seal route and the bundle's return/reporting policy, all real parts.

A real `Agent` (store, outbox, sensor host) runs the real `SealSensor` on real files in a
temporary home; the tray is a real `LocalClient` over the real loopback local API. Only the
platform facade (known folders) and, where a test needs one, the busy-file probe are stand-ins.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest

from agent.events import Signal
from agent.local_requests import Refused
from agent.localapi import LocalApi
from agent.localclient import LocalApiError, LocalClient
from agent.platform.files import ProcessLock
from agent.runtime import Agent
from agent.seal.setup import SEAL_LOCK
from agent.sensors.seal import SealSensor
from rules.model import Bundle, SealSettings
from tests.waiting import wait_for

OLD = 1_600_000_000 * 10**9  # settled long ago


class Platform:
    """The platform seam: the seal sensor only asks where the known folders are."""

    NAME = "linux"

    def __init__(self, home: Path) -> None:
        self.home = home

    def known_folders(self) -> dict[str, Path]:
        return {"Downloads": self.home / "Downloads", "Documents": self.home / "Documents"}


def make_files(home: Path) -> dict[Path, bytes]:
    files = {home / "Sensitive" / "plan.txt": b"the plan\n",
             home / "Downloads" / "sub" / "report.pdf": os.urandom(90_000)}
    for path, data in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        os.utime(path, ns=(OLD, OLD))
    return files


def sealed(files) -> bool:
    return all(Path(f"{p}.heedful").exists() and not p.exists() for p in files)


def plain(files) -> bool:
    return all(p.exists() and p.read_bytes() == d and not Path(f"{p}.heedful").exists()
               for p, d in files.items())


class Running:
    """One agent with its seal sensor and local API, and the tray's client."""

    def __init__(self, tmp_path: Path, bundle: Bundle, sensors=None, **sensor_options) -> None:
        self.user_home, self.state = tmp_path / "home", tmp_path / "state"
        self.files = make_files(self.user_home)
        sensor_options.setdefault("busy_probe", lambda path: None)
        self.sensor = SealSensor(user_home=self.user_home, settle_seconds=0, **sensor_options)
        self.agent = Agent(self.state, platform=Platform(self.user_home),
                           sensors=[self.sensor] if sensors is None else sensors)
        self.agent.host.backoff_start = 0.05
        self.agent.host.start(bundle)
        self.local = LocalApi(self.agent)
        self.local.start()
        self.client = LocalClient(self.state)

    def events(self) -> dict[str, list[dict]]:
        found: dict[str, list[dict]] = {}
        for event in self.agent.outbox.peek(100):
            found.setdefault(event.type, []).append(event.data)
        return found

    def close(self) -> None:
        self.local.stop()
        self.agent.host.stop()
        self.agent.syncer.close()
        self.agent.store.close()


@pytest.fixture
def running(tmp_path: Path):
    made: list[Running] = []

    def make(bundle: Bundle = Bundle(version=1), **options) -> Running:
        made.append(Running(tmp_path, bundle, **options))
        return made[-1]

    yield make
    for one in made:
        one.close()


def ready(run: Running) -> dict:
    """The seal status once the sensor answered and its start-up scan found both files."""
    def check():
        try:
            status = run.client.seal_status()
        except LocalApiError:
            return None
        return status if status["pending_files"] == 2 else None
    return wait_for(check)


def test_tray_seals_reads_status_and_unseals_through_the_local_api(running) -> None:
    run = running()
    status = ready(run)
    assert (status["state"], status["sealed_files"], status["unseal_on_return"]) == (
        "active", 0, True)
    assert {f["folder"]: f["path"] for f in status["folders"]} == {
        "~/Sensitive": str(run.user_home / "Sensitive"),
        "Downloads": str(run.user_home / "Downloads")}

    done = run.client.seal_now()
    assert (done["reason"], done["sealed_files"], done["remaining_files"]) == ("manual", 2, 0)
    assert done["sealed_bytes"] == sum(map(len, run.files.values()))
    assert sealed(run.files)
    status = run.client.seal_status()
    assert (status["sealed_files"], status["pending_files"]) == (2, 0)
    assert status["last_seal_reason"] == "manual" and status["last_seal_at"].endswith("Z")

    back = run.client.unseal()
    assert (back["reason"], back["unsealed_files"], back["failed_files"]) == ("manual", 2, 0)
    assert plain(run.files)
    assert all(p.stat().st_mtime_ns == OLD for p in run.files)
    assert run.client.seal_status()["sealed_files"] == 0
    events = run.events()
    assert [e["reason"] for e in events["seal_finished"]] == ["manual"]
    assert [e["unsealed_files"] for e in events["unseal_finished"]] == [2]


@pytest.mark.parametrize("unseal_on_return", [False, True])
def test_return_policy_from_the_bundle_and_the_tray_unseal(running, unseal_on_return) -> None:
    bundle = Bundle(version=2, seal=SealSettings(unseal_on_return=unseal_on_return))
    run = running(bundle)
    assert ready(run)["unseal_on_return"] is unseal_on_return
    host, service = run.agent.host, run.sensor.stack.service
    host.publish(Signal("idle-crossed", {"idle_seconds": 301.0, "threshold": 300.0}))
    wait_for(lambda: sealed(run.files) and run.events().get("seal_finished"))
    assert service.wait()  # the worker is idle: from here only the sensor thread publishes
    host.publish(Signal("active", {"idle_seconds": 0.5}))
    # The state is published ("active", or "unsealing" from the unseal pass) only after the
    # signal was handled, so an unseal pass, if the policy asked for one, is already queued;
    # waiting for the worker then settles it.
    wait_for(lambda: (host.live.get("seal") or {}).get("state") in ("active", "unsealing"))
    assert service.wait()
    if unseal_on_return:
        assert plain(run.files)
        assert [e["reason"] for e in run.events()["unseal_finished"]] == ["return"]
        return
    assert sealed(run.files)  # kept sealed on return, as the rules say
    assert "unseal_finished" not in run.events()
    assert run.client.seal_status()["sealed_files"] == 2
    assert run.client.unseal()["unsealed_files"] == 2  # the employee unseals from the tray
    assert plain(run.files)


@pytest.mark.parametrize("report_paths", [True, False])
def test_report_paths_from_the_bundle_decides_what_leaves_the_laptop(running,
                                                                      report_paths) -> None:
    bundle = Bundle(version=2, seal=SealSettings(report_paths=report_paths))
    run = running(bundle, busy_probe=lambda p: "open in a viewer" if p.name == "report.pdf"
                  else None)
    ready(run)
    done = run.client.seal_now()
    assert (done["sealed_files"], done["busy_files"], done["remaining_files"]) == (1, 1, 1)
    # the check-in state was published when the pass reported seal_finished, before the reply
    wire = json.dumps([e.as_wire() for e in run.agent.outbox.peek(100)])
    state = run.agent.host.live["seal"]
    (finished,) = run.events()["seal_finished"]
    expected = [{"folder": "Downloads", "path": "sub/report.pdf"}]
    if report_paths:
        assert done["paths"] == finished["paths"] == state["pending_paths"] == expected
    else:
        assert done["paths"] == finished["paths"] == [] and "pending_paths" not in state
        assert "report.pdf" not in wire
    assert state["pending_files"] == 1 and state["busy_files"] == 1  # counts always go
    assert str(run.user_home) not in wire + json.dumps(state)  # never a local path


def test_requests_get_a_clear_503_when_the_seal_sensor_is_not_running(running) -> None:
    run = running(sensors=[])  # an agent without the seal sensor
    for call in (run.client.seal_now, run.client.unseal, run.client.seal_status):
        with pytest.raises(LocalApiError) as refused:
            call()
        assert (refused.value.status, refused.value.code) == (503, "unavailable")
        assert "the seal sensor is not running" in refused.value.message
    assert plain(run.files)


def test_a_crashed_seal_sensor_answers_503_and_a_stopped_one_too(tmp_path) -> None:
    state_is_a_file = tmp_path / "not-a-folder"
    state_is_a_file.write_text("the state folder cannot be made here")
    run = Running(tmp_path, Bundle(version=1), home=state_is_a_file)  # start() fails
    try:
        wait_for(lambda: [s for s in run.agent.host.status()
                          if s["name"] == "seal" and s["crashes"] >= 1])
        with pytest.raises(LocalApiError) as refused:
            run.client.seal_now()
        assert (refused.value.status, refused.value.code) == (503, "unavailable")
        assert plain(run.files)
    finally:
        run.close()
    run = Running(tmp_path / "second", Bundle(version=1))
    try:
        ready(run)
        run.agent.host.stop()  # the host withdraws the stopped sensor's requests
        with pytest.raises(LocalApiError) as refused:
            run.client.seal_status()
        assert (refused.value.status, refused.value.code) == (503, "unavailable")
        assert "restarting after a crash" in refused.value.message
    finally:
        run.close()


def test_busy_lock_and_a_slow_pass_get_409_and_504_then_seal(running) -> None:
    run = running(lock_timeout=1.0)
    ready(run)
    lock = ProcessLock(run.state / SEAL_LOCK)  # e.g. `heedful-agent seal-now` in a terminal
    assert lock.acquire(timeout=10)  # once the start-up scan let go of it
    try:
        with pytest.raises(Refused) as slow:
            run.sensor.seal_now(timeout=0.1)  # the pass waits for the lock, the tray does not
        assert (slow.value.status, slow.value.code) == (504, "still_running")
        with pytest.raises(LocalApiError) as busy:
            run.client.seal_now()
        assert (busy.value.status, busy.value.code) == (409, "busy")
        assert "another process is sealing" in busy.value.message
        assert plain(run.files)
    finally:
        lock.release()
    assert run.client.seal_now()["sealed_files"] == 2
    assert sealed(run.files)


def test_a_request_queued_when_the_sensor_stops_is_told_nothing_was_changed(running) -> None:
    run = running()
    ready(run)
    gate = threading.Event()
    run.sensor.stack.service.worker.submit(gate.wait)  # a pass that is still running
    replies: list[BaseException] = []

    def tray() -> None:
        try:
            run.client.seal_now()
        except LocalApiError as exc:
            replies.append(exc)
    asker = threading.Thread(target=tray)
    asker.start()
    wait_for(lambda: run.sensor._waiting)  # the request is queued behind the running pass
    stopper = threading.Thread(target=run.agent.host.stop)
    stopper.start()
    asker.join(20)
    gate.set()
    stopper.join(20)
    (reply,) = replies
    assert (reply.status, reply.code) == (503, "unavailable")
    assert "nothing was changed" in reply.message
    assert plain(run.files)
