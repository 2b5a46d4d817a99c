"""`make demo` end to end: the real demo script, real server and agent processes, in a temp dir."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_demo_runs_the_whole_story_and_stops_cleanly(tmp_path: Path) -> None:
    env = {**os.environ, "HEEDFUL_DEMO_DIR": str(tmp_path / "demo"),
           "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
    done = subprocess.run([sys.executable, "-m", "tools.demo", "--seconds", "1", "--port", "0"],
                          cwd=REPO, env=env, text=True, capture_output=True, timeout=240)
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    assert "published rules version 1" in out
    assert "flagged 3" in out and "impossible_travel: Sign-in from Tokyo, Japan" in out
    assert "sealed 1 file" in out and "escrowed" in out
    assert "demo stopped" in out
    sealed = tmp_path / "demo" / "home" / "Sensitive" / "q3-board-report.txt.heedful"
    assert sealed.exists() and b"Quarterly figures" not in sealed.read_bytes()
