"""What the agent refuses to seal inside a protected folder: its state and its installation."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import agent
from agent.seal.folders import ProtectedFolder, excluding
from agent.seal.policy import SealPolicy
from agent.seal.setup import build, never_sealed

OLD = (1, 1)


def test_the_state_folder_and_the_running_installation_are_excluded(tmp_path: Path) -> None:
    state = tmp_path / "state"
    code = Path(agent.__file__).resolve().parent
    found = never_sealed(state)
    assert found[0] == state and {Path(sys.prefix), code} <= set(found)
    everything = excluding([ProtectedFolder("/", Path("/"))], *found)[0]
    assert not everything.contains(state / "seal.db")
    assert not everything.contains(Path(sys.prefix) / "bin" / "python")  # e.g. the .venv
    assert not everything.contains(code / "cli.py")
    assert not everything.contains(code.parent / "rules" / "model.py")
    assert everything.contains(tmp_path / "Downloads" / "report.pdf")
    # Files next to the code (a source checkout's other folders) are still protected.
    assert everything.contains(code.parent / "Sensitive" / "report.pdf")


def test_a_protected_folder_reached_through_a_link_still_skips_the_state_folder(
        tmp_path: Path) -> None:
    real = tmp_path / "data" / "dl"
    state = real / ".heedful-agent"  # how resolve_home gives it: links resolved
    state.mkdir(parents=True)
    (real / "report.pdf").write_bytes(b"%PDF-1.7 quarterly")
    os.utime(real / "report.pdf", OLD)
    home = tmp_path / "home"
    home.mkdir()
    (home / "Downloads").symlink_to(real, target_is_directory=True)
    stack = build(state, folders=[ProtectedFolder("Downloads", home / "Downloads")],
                  policy=SealPolicy(), busy_probe=lambda p: None, settle_seconds=0)
    try:
        stack.service.start_up(watch=False)
        assert [p.path for p in stack.service.pending.all()] == [
            home / "Downloads" / "report.pdf"]  # not seal.db, the key or the marker
        assert stack.service.seal_now().sealed_files == 1
        assert (real / "report.pdf.heedful").exists()
        assert (state / "seal.db").exists() and (state / "seal-device.key").exists()
    finally:
        stack.close()
