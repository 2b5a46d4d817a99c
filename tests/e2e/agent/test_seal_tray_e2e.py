"""The tray's seal route on the real `heedful-agent run` process, in a temporary home.

Also the harness's safety net: an agent started by the tests watches folders under the test's
temporary folder, never the developer's own `~/Downloads`.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from .conftest import AgentProcess, wait_for

pytestmark = pytest.mark.slow
OLD = 1_600_000_000 * 10**9  # settled long ago: sealing does not wait for these files


def test_tray_seals_and_unseals_through_a_real_agent_that_never_sees_the_real_home(
        tmp_path: Path) -> None:
    agent = AgentProcess(tmp_path / "agent")
    files = {agent.user_home / "Sensitive" / "plan.txt": b"the plan\n",
             agent.user_home / "Downloads" / "report.pdf": os.urandom(120_000)}
    for path, data in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        os.utime(path, ns=(OLD, OLD))
    agent.start()
    try:
        status = wait_for(lambda: (s := agent.client.seal_status())["pending_files"] == 2
                          and s, 60, "the seal sensor's start-up scan")
        watched = [Path(f["path"]) for f in status["folders"]]
        assert watched == [agent.user_home / "Sensitive", agent.user_home / "Downloads"]
        assert all(p.is_relative_to(tmp_path) for p in watched)
        assert status["key_store"] == "file (weaker: no OS key store)"  # not the real keyring

        done = agent.client.seal_now()
        assert (done["sealed_files"], done["remaining_files"]) == (2, 0)
        assert all(Path(f"{p}.heedful").exists() and not p.exists() for p in files)
        back = agent.client.unseal()
        assert back["unsealed_files"] == 2
        assert all(p.read_bytes() == data for p, data in files.items())
        assert agent.client.seal_status()["sealed_files"] == 0
    finally:
        agent.stop()


def test_the_harness_refuses_the_real_home() -> None:
    real_home = os.path.expanduser("~")
    with pytest.raises(AssertionError, match="refusing to run a test agent in the real home"):
        AgentProcess(Path("/nonexistent/agent"), env={"HOME": real_home})
