"""Escrow and recovery end to end, every part a real process: `heedful-server` (recovery keygen,
run, devices assess/mark-lost, recovery export) and `heedful-agent` (enroll, run, seal-now,
recover), on SQLite and PostgreSQL. The chain: the agent seals real files; its key reaches the
server wrapped to the recovery key (configured only after enrolment, so it arrives by
check-in); the device is reported lost; the exported wrapped key and the offline recovery
private key give back the original bytes."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.e2e.agent.conftest import AGENT_BIN, EMAIL, AgentProcess, ServerProcess, wait_for

pytestmark = pytest.mark.slow
OLD = 1_600_000_000 * 10**9  # settled long ago: sealing does not wait for these files


@pytest.fixture
def parts(tmp_path: Path, database_url: str):
    (tmp_path / "server").mkdir()
    server = ServerProcess(tmp_path / "server", database_url)
    user_home = tmp_path / "home"  # the employee's home: protected folders live here
    (user_home / ".config").mkdir(parents=True)
    agent = AgentProcess(tmp_path / "agent", env={"HOME": str(user_home),
                                                  "XDG_CONFIG_HOME": str(user_home / ".config")})
    yield server, agent, user_home
    if agent.proc:
        agent.proc.kill()
        agent.proc.wait(10)
    server.close()


def make_files(home: Path) -> dict[Path, bytes]:
    files = {home / "Sensitive" / "plan.txt": b"the quarterly plan\n",
             home / "Downloads" / "report.pdf": os.urandom(200_000)}
    for path, data in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        os.utime(path, ns=(OLD, OLD))
    return files


def reported_seal(server: ServerProcess, device_id: str) -> dict:
    """The `state.seal` of the device's last check-in, as the server stored it."""
    from server.storage.devices import get_state

    with server.db().transaction() as session:
        row = get_state(session, device_id)
        return dict((row.state or {}).get("seal") or {}) if row else {}


def test_sealed_files_are_recovered_with_the_escrowed_key(parts, tmp_path: Path):
    server, agent, user_home = parts
    keys = tmp_path / "recovery"
    server.cli("recovery", "keygen", "--out", str(keys))
    server.cli("migrate")
    server.cli("employees", "add", EMAIL, "--home-country", "GB")
    server.start()  # no recovery key configured yet
    device = agent.enroll(server.url, server.token())
    offline = json.loads(agent.cli("status", "--json").stdout)
    assert offline["escrow"]["status"] == "not configured"

    agent.start()
    server.stop()  # the security team configures the recovery key later
    server.env["HEEDFUL_RECOVERY_PUBLIC_KEY_PATH"] = str(keys / "recovery-public.key")
    server.start()
    wait_for(lambda: agent.checkin()["outcome"] == "ok"
             and (agent.status().get("escrow") or {}).get("status") == "escrowed",
             60, "the agent to escrow its key once the server has a recovery key")

    files = make_files(user_home)
    sealed = agent.cli("seal-now")
    assert "sealed 2 files" in sealed.stdout, sealed.stdout + sealed.stderr
    assert not any(p.exists() for p in files)
    wait_for(lambda: agent.checkin()["outcome"] == "ok"
             and reported_seal(server, device).get("sealed_files") == 2, 60,
             "a check-in reporting the two sealed files")  # the sensor refreshes every 5 s
    verdict = json.loads(server.cli("devices", "assess", device, "--json"))
    assert verdict["verdict"] == "no_fresh_plaintext", verdict
    assert verdict["evidence"]["seal"]["sealed_files"] == 2
    assert verdict["evidence"]["agent_escrow_status"] == "escrowed"

    server.cli("devices", "mark-lost", device, "--note", "left on a train")
    assert agent.checkin()["outcome"] == "device_invalid"
    wrapped = tmp_path / "device.escrow"
    server.cli("recovery", "export", device, "--out", str(wrapped))

    out = tmp_path / "recovered"
    recovered = subprocess.run(
        [str(AGENT_BIN), "recover", "--wrapped", str(wrapped), "--recovery-key",
         str(keys / "recovery-private.pem"), "--output", str(out),
         *[f"{p}.heedful" for p in files]], capture_output=True, text=True, timeout=120)
    assert recovered.returncode == 0, recovered.stderr
    for path, data in files.items():
        assert (out / path.name).read_bytes() == data
        assert (out / path.name).stat().st_mtime_ns == OLD
    assert all(Path(f"{p}.heedful").exists() for p in files)  # the sealed files stay as they are
    agent.stop()
