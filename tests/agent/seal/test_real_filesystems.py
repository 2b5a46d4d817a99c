"""A real, small file system: disk full and read-only, as the kernel reports them.

Needs permission to mount tmpfs (root, or a user namespace); skipped cleanly otherwise.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from agent.seal import engine as eng
from agent.seal.db import SealDB
from agent.seal.engine import SealEngine
from agent.seal.journal import Journal

KEY = bytes(range(32))


@pytest.fixture
def small_fs(tmp_path: Path):
    """A 1 MiB tmpfs mounted at a temporary folder."""
    if not sys.platform.startswith("linux"):
        pytest.skip("tmpfs mounts are Linux-only")
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount tmpfs here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def engine_for(tmp_path: Path) -> SealEngine:
    return SealEngine(Journal(SealDB(tmp_path / "seal.db")), KEY, settle_seconds=0,
                      busy_probe=lambda p: None)


def test_disk_full_on_a_real_small_file_system(small_fs: Path, tmp_path: Path) -> None:
    engine = engine_for(tmp_path)
    data = os.urandom(700 * 1024)  # fits once, not twice
    (small_fs / "big.bin").write_bytes(data)
    out = engine.seal_file(small_fs / "big.bin")
    assert (out.status, out.error_kind) == (eng.FAILED, "disk_full")
    assert sorted(os.listdir(small_fs)) == ["big.bin"]
    assert (small_fs / "big.bin").read_bytes() == data
    assert engine.journal.open_ops() == []
    (small_fs / "small.txt").write_bytes(b"fits")
    assert engine.seal_file(small_fs / "small.txt").status == eng.SEALED


def test_read_only_file_system_is_a_permission_error(small_fs: Path, tmp_path: Path) -> None:
    engine = engine_for(tmp_path)
    (small_fs / "a.txt").write_bytes(b"cannot be sealed here")
    subprocess.run(["mount", "-o", "remount,ro", str(small_fs)], check=True)
    out = engine.seal_file(small_fs / "a.txt")
    assert (out.status, out.error_kind) == (eng.FAILED, "permission")
    assert (small_fs / "a.txt").read_bytes() == b"cannot be sealed here"
    assert engine.journal.open_ops() == []
