"""The seal sensor inside the real sensor host, and the commands run as real processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

from agent.events import Signal
from agent.outbox import Outbox
from agent.seal import keys
from agent.sensors.host import SensorHost
from agent.sensors.seal import SealSensor
from agent.settings import Settings
from agent.store import Store
from rules import escrow
from rules.model import Bundle
from tests.waiting import wait_until

OLD = 1_600_000_000 * 10**9


def make_files(home: Path) -> dict[Path, bytes]:
    files = {home / "Sensitive" / "plan.txt": b"the plan",
             home / "Downloads" / "sub" / "report.pdf": os.urandom(90_000)}
    for path, data in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        os.utime(path, ns=(OLD, OLD))
    return files


class Platform:
    """The platform facade at its seam: only what the seal sensor asks for."""

    def __init__(self, home: Path) -> None:
        self.home = home

    def known_folders(self) -> dict[str, Path]:
        return {"Downloads": self.home / "Downloads", "Documents": self.home / "Documents"}


def test_sensor_seals_on_idle_and_unseals_on_return(tmp_path: Path) -> None:
    home, state = tmp_path / "home", tmp_path / "state"
    state.mkdir()
    files = make_files(home)
    store = Store(state)
    outbox = Outbox(store)
    sensor = SealSensor(home=state, user_home=home, busy_probe=lambda p: None)
    host = SensorHost([sensor], store=store, outbox=outbox, platform=Platform(home),
                      settings=Settings({}, env={}), backoff_start=0.01)
    host.start(Bundle(version=1))
    try:
        assert wait_until(lambda: (host.live.get("seal") or {}).get("pending_files") == 2)
        assert host.live["seal"]["key_store"] == "file (weaker: no OS key store)"
        host.publish(Signal("idle-crossed", {"idle_seconds": 301.0, "threshold": 300.0}))
        assert wait_until(lambda: all(Path(f"{p}.heedful").exists() for p in files))
        assert not any(p.exists() for p in files)
        host.publish(Signal("active", {"idle_seconds": 0.5}))
        assert wait_until(lambda: all(p.exists() and p.read_bytes() == d
                                      for p, d in files.items()))
        assert wait_until(lambda: "unseal_finished" in [e.type for e in outbox.peek(50)])
        events = {e.type: e for e in outbox.peek(50)}
        assert events["seal_finished"].data["sealed_files"] == 2
        assert events["seal_started"].data["session"] == events["unseal_finished"].data["session"]
        assert str(home) not in json.dumps([e.as_wire() for e in outbox.peek(50)])
        assert [s for s in host.status() if s["name"] == "seal"][0]["state"] == "running"
    finally:
        host.stop()
        store.close()


def agent_cli(*args: str, home: Path, state: Path) -> subprocess.CompletedProcess:
    # the employee's home and key store are the test's, never the developer's own
    env = {**os.environ, "HOME": str(home), "HEEDFUL_AGENT_HOME": str(state),
           "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
    for name in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME"):
        env.pop(name, None)
    return subprocess.run([sys.executable, "-c", "from agent.cli import main; main()", *args],
                          env=env, capture_output=True, text=True, timeout=120)


def test_commands_and_offline_recovery_end_to_end(tmp_path: Path) -> None:
    home, state, out = tmp_path / "home", tmp_path / "state", tmp_path / "recovered"
    files = make_files(home)
    sealed = agent_cli("seal-now", home=home, state=state)
    assert sealed.returncode == 0, sealed.stderr
    assert "sealed 2 files" in sealed.stdout
    status = agent_cli("seal-status", "--json", home=home, state=state)
    doc = json.loads(status.stdout)
    assert (doc["sealed_files"], doc["pending_files"], doc["state"]) == (2, 0,
                                                                        "agent not running")
    assert doc["key_store"] == "file (weaker: no OS key store)" and doc["key_store_weaker"]
    assert "busy/exposed" in agent_cli("seal-status", home=home, state=state).stdout

    pair = escrow.generate_recovery_keypair()
    wrapped = tmp_path / "device.escrow"
    wrapped.write_bytes(keys.escrow_device_key(keys.load_device_key(state, create=False),
                                               pair.public_text(), device_id="laptop-1"))
    private = tmp_path / "recovery.pem"
    private.write_bytes(pair.private_pem())
    sealed_paths = [f"{p}.heedful" for p in files]
    recovered = agent_cli("recover", "--wrapped", str(wrapped), "--recovery-key", str(private),
                          "--output", str(out), *sealed_paths, home=home, state=tmp_path / "x")
    assert recovered.returncode == 0, recovered.stderr
    for path, data in files.items():
        assert (out / path.name).read_bytes() == data
        assert (out / path.name).stat().st_mtime_ns == OLD
    other = tmp_path / "other.pem"
    other.write_bytes(escrow.generate_recovery_keypair().private_pem())
    refused = agent_cli("recover", "--wrapped", str(wrapped), "--recovery-key", str(other),
                        *sealed_paths, home=home, state=state)
    assert refused.returncode == 1 and "wrapped for recovery key" in refused.stderr

    unsealed = agent_cli("unseal-now", home=home, state=state)
    assert unsealed.returncode == 0 and "unsealed 2 files" in unsealed.stdout
    assert all(p.read_bytes() == d for p, d in files.items())


def test_bundle_without_a_seal_section_field_keeps_the_defaults() -> None:
    sensor = SealSensor()
    values = {o.name: o.value(SimpleNamespace(seal=SimpleNamespace(
        idle_threshold_seconds=120, protected_folders=("Documents",), seal_on_lock=False,
        seal_before_sleep=True))) for o in sensor.options}
    assert values["idle_threshold_seconds"] == 120.0
    assert values["protected_folders"] == ("Documents",) and values["seal_on_lock"] is False
    assert values["unseal_on_return"] is True and values["report_paths"] is False
