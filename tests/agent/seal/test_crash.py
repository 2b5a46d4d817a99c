"""Kill a real sealing process (SIGKILL) at hundreds of points, then recover and check each file.

The driver (`python -m agent.seal.crashdriver serve`) forks one sealing process per trial; the
process recovers, seals the plaintext files and unseals the sealed ones in groups of four (as a
pass does: one commit per step and one folder fsync per group), and is killed either by itself
at file-system step N (a write is cut in half first; every step, the points after each group
commit included, is tried) or by its parent after a random delay. Then this test runs
start-up recovery and checks, file by file, that each original is present exactly once, as
plaintext or as a complete sealed file, and that unsealing gives back exactly the original
bytes, mtime and mode. Deterministic seed; well under a minute.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from agent.seal import engine as eng
from agent.seal import names
from agent.seal.db import SealDB
from agent.seal.engine import SealEngine
from agent.seal.format import open_stream
from agent.seal.journal import Journal

KEY = bytes(range(32))
# the last two span three blocks each (several writes per file): one starts sealed, one plain
SIZES = [0, 1, 100, 4096, 65535, 65536, 65537, 140_000, 3, 5000, 2_100_000, 2_000_001]
MTIME_NS = 1_555_555_555_123_456_789
pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="the driver forks (POSIX)")


def originals() -> dict[str, tuple[bytes, int]]:
    rng = random.Random(6)
    return {f"file{i:02d}.bin": (rng.randbytes(size), 0o600 if i % 2 else 0o644)
            for i, size in enumerate(SIZES)}


def engine(db_path: Path) -> tuple[SealDB, SealEngine]:
    db = SealDB(db_path)
    return db, SealEngine(Journal(db), KEY, settle_seconds=0, busy_probe=lambda p: None)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory):
    """A snapshot with half the files sealed, and the forking driver.

    On tmpfs when there is one: SIGKILL leaves the page cache intact, so what is tested (the
    order of steps and recovery) is the same, and fsync stops dominating the run time.
    """
    shm = Path("/dev/shm")
    root = Path(tempfile.mkdtemp(prefix="heedful-crash-", dir=shm)) if shm.is_dir() \
        else tmp_path_factory.mktemp("crash")
    work, db_path = root / "work", root / "seal.db"
    work.mkdir()
    for name, (data, mode) in originals().items():
        (work / name).write_bytes(data)
        os.chmod(work / name, mode)
        os.utime(work / name, ns=(MTIME_NS, MTIME_NS))
    db, seal_engine = engine(db_path)
    for name in list(originals())[::2]:
        assert seal_engine.seal_file(work / name).status == eng.SEALED
    db.close()
    shutil.copytree(work, root / "snapshot", symlinks=True)
    shutil.copy(db_path, root / "snapshot.db")
    driver = subprocess.Popen([sys.executable, "-m", "agent.seal.crashdriver", "serve"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                              cwd=Path(__file__).resolve().parents[3])
    yield root, driver
    driver.stdin.close()
    driver.wait(timeout=30)
    shutil.rmtree(root, ignore_errors=True)


def reset(root: Path) -> None:
    shutil.rmtree(root / "work")
    shutil.copytree(root / "snapshot", root / "work", symlinks=True)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{root / 'seal.db'}{suffix}").unlink(missing_ok=True)
    shutil.copy(root / "snapshot.db", root / "seal.db")


def trial(root: Path, driver: subprocess.Popen, **request) -> dict:
    request = {"dir": str(root / "work"), "db": str(root / "seal.db"), "key": KEY.hex(),
               **request}
    driver.stdin.write(json.dumps(request) + "\n")
    driver.stdin.flush()
    return json.loads(driver.stdout.readline())


def check_recovered(root: Path, label: str) -> None:
    """Recovery leaves every original exactly once, whole; unsealing returns exact bytes."""
    work, expected = root / "work", originals()
    db, seal_engine = engine(root / "seal.db")
    try:
        seal_engine.recover()
        assert seal_engine.journal.open_ops() == [], label
        present = sorted(os.listdir(work))
        assert not [n for n in present if names.is_work_name(n)], (label, present)
        plain = [n for n in present if not names.is_sealed_name(n)]
        sealed = [n for n in present if names.is_sealed_name(n)]
        assert sorted(plain + [n.removesuffix(".heedful") for n in sealed]) == sorted(expected), \
            (label, present)
        registered = sorted(f.path.name for f in seal_engine.journal.sealed_files())
        assert registered == sealed, (label, registered, sealed)
        for name in plain:
            assert (work / name).read_bytes() == expected[name][0], (label, name)
        for name in sealed:
            with open(work / name, "rb") as handle:
                open_stream(handle, KEY)  # complete and authentic, or this raises
            out = seal_engine.unseal_file(work / name)
            assert out.status == eng.UNSEALED, (label, name, out)
        for name, (data, mode) in expected.items():
            st = os.stat(work / name)
            assert (work / name).read_bytes() == data, (label, name)
            if name in [n.removesuffix(".heedful") for n in sealed]:
                assert (st.st_mtime_ns, st.st_mode & 0o777) == (MTIME_NS, mode), (label, name)
    finally:
        db.close()


def test_kill_at_every_step_and_at_random_times(world) -> None:
    root, driver = world
    reset(root)
    full = trial(root, driver)
    duration = full["seconds"]  # to spread the random kills over the whole run
    assert full["exit"] == 0 and full["steps"] > 100
    assert full["steps"] <= 220  # so the kills below land on every single step
    check_recovered(root, "no crash")
    rng = random.Random(20240601)
    step_points = sorted(rng.sample(range(1, full["steps"] + 1), min(full["steps"], 220)))
    for step in step_points:
        reset(root)
        result = trial(root, driver, fault_step=step)
        assert result["signal"] == signal.SIGKILL, (step, result)
        check_recovered(root, f"killed at step {step}")
    killed = 0
    for i in range(60):
        reset(root)
        result = trial(root, driver, kill_after=rng.uniform(0.0, duration))
        killed += result["signal"] == signal.SIGKILL
        check_recovered(root, f"killed after random delay #{i}")
    # The step-indexed kills above are the exhaustive part; the random ones add unplanned
    # instants, and how many land mid-work depends on machine load, so only require some.
    assert killed >= 1


def test_kill_during_recovery_then_recover_again(world) -> None:
    root, driver = world
    reset(root)
    steps = trial(root, driver)["steps"]
    rng = random.Random(7)
    for i in range(40):
        reset(root)
        first = trial(root, driver, fault_step=rng.randint(20, steps - 1))
        assert first["signal"] == signal.SIGKILL, first
        trial(root, driver, mode="recover", fault_step=rng.randint(1, 6))
        check_recovered(root, f"recovery killed #{i}")


def test_one_shot_driver_kills_itself_at_the_step_named_in_the_environment(world) -> None:
    root, _driver = world
    reset(root)
    command = [sys.executable, "-m", "agent.seal.crashdriver", "run", str(root / "work"),
               str(root / "seal.db"), KEY.hex()]
    env = {**os.environ, "HEEDFUL_SEAL_FAULT_STEP": "40"}
    done = subprocess.run(command, env=env, cwd=Path(__file__).resolve().parents[3],
                          capture_output=True, timeout=60)
    assert done.returncode == -signal.SIGKILL
    check_recovered(root, "one-shot driver killed at step 40")
