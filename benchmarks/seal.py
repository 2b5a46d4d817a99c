"""Seal and unseal ~1 GB of realistic files; `cp -r` + `sync` of the same files is the floor.

Files: many small ones (4 KiB - 1 MiB, like documents and downloads) plus a few large ones
(video, disk images). Sealing runs through the real service: a simulated idle reading at the
threshold (the injected idle source) starts it on the worker thread, exactly as the sensor
does, and the figures are read from its events: how long from crossing the threshold until
sealing started and until the last pending file was sealed. Unsealing is triggered by a
simulated return. Every file is checked bit for bit afterwards (outside the timings).

    python -m benchmarks seal            # 1 GB in a temporary folder
    python -m benchmarks.seal --mb 200 --dir /some/disk
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from agent.seal.events import SealFinished, SealStarted, UnsealFinished
from agent.seal.folders import ProtectedFolder
from agent.seal.keys import load_device_key
from agent.seal.policy import SealPolicy
from agent.seal.setup import build
from benchmarks import report

THRESHOLD = 300.0
MIB = 1024 * 1024


def make_files(root: Path, total_mb: int, seed: int = 6) -> dict[Path, bytes]:
    """~total_mb MiB: 20% in small files (4 KiB-1 MiB), the rest in 4 large files."""
    rng = random.Random(seed)
    budget_small, large = total_mb * MIB // 5, 4
    digests, written, i = {}, 0, 0
    block = os.urandom(8 * MIB)
    while written < budget_small:
        size = min(int(rng.lognormvariate(11.5, 1.2)) + 4096, MIB)
        written += size
        digests[_write(root / f"docs/d{i // 100:02d}/file{i:05d}.bin", block, size)] = None
        i += 1
    for j in range(large):
        size = (total_mb * MIB - budget_small) // large
        digests[_write(root / f"media/large{j}.bin", block, size)] = None
    old = time.time() - 3600  # written an hour ago: settled
    for path in digests:
        os.utime(path, (old, old))
        digests[path] = _digest(path)
    return digests


def _write(path: Path, block: bytes, size: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:
        start = random.randrange(len(block) // 2)
        while size > 0:
            n = min(size, len(block) - start)
            handle.write(block[start:start + n])
            size -= n
            start = 0
        handle.write(os.urandom(16))  # no two files alike
    return path


def _digest(path: Path) -> bytes:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(MIB):
            digest.update(chunk)
    return digest.digest()


def copy_floor(src: Path, dst: Path) -> float:
    """Seconds for `cp -r` of the files and `sync` (the I/O floor)."""
    subprocess.run(["sync"], check=True)
    start = time.perf_counter()
    subprocess.run(["cp", "-r", str(src), str(dst)], check=True)
    subprocess.run(["sync"], check=True)
    return time.perf_counter() - start


def run_service(work: Path, state: Path, parallel: int) -> tuple[
        SealStarted, SealFinished, UnsealFinished, float, float]:
    """Seal on a simulated idle crossing, unseal on a simulated return, through the service."""
    stack = build(state, folders=[ProtectedFolder("~/Sensitive", work)],
                  policy=SealPolicy(idle_threshold_seconds=THRESHOLD, parallel_files=parallel),
                  device_key=load_device_key(state))
    service = stack.service
    try:
        service.start_up(watch=False)
        service.start()
        subprocess.run(["sync"], check=True)
        crossed = time.time()
        service.observe(idle_seconds=THRESHOLD, locked=False)  # the idle source crosses
        service.wait(3600)
        returned = time.time()
        service.observe(idle_seconds=0.5, locked=False)  # input: the employee is back
        service.wait(3600)
        events = service.drain_events()
    finally:
        stack.close()
    started = next(e for e in events if isinstance(e, SealStarted))
    finished = next(e for e in events if isinstance(e, SealFinished))
    unsealed = next(e for e in events if isinstance(e, UnsealFinished))
    return started, finished, unsealed, crossed, returned


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(prog="benchmarks.seal")
    parser.add_argument("--mb", type=int, default=1024, help="total size in MiB")
    parser.add_argument("--dir", default=None, help="where to put the files (a real disk)")
    parser.add_argument("--parallel", type=int, default=SealPolicy().parallel_files,
                        help="files sealed at once (the policy default)")
    args = parser.parse_args(argv)
    base = Path(tempfile.mkdtemp(prefix="heedful-seal-bench-", dir=args.dir))
    try:
        work, state = base / "Sensitive", base / "state"
        state.mkdir()
        digests = make_files(work, args.mb)
        total = sum(p.stat().st_size for p in digests)
        cp_seconds = copy_floor(work, base / "copy")
        shutil.rmtree(base / "copy")
        started, finished, unsealed, crossed, returned = run_service(work, state, args.parallel)
        bad = [p for p, d in digests.items() if not p.exists() or _digest(p) != d]
        assert finished.sealed_files == len(digests) and not bad, f"{len(bad)} files differ"
        mb, cp_rate = total / 1e6, total / 1e6 / cp_seconds
        report.header(f"seal on idle: {len(digests)} files, {mb:,.0f} MB, "
                      f"{args.parallel} at once")
        report.ratio("seal throughput", mb / finished.duration_seconds, cp_rate, "MB/s",
                     baseline_name="cp -r + sync", goal=">= 0.5 of cp")
        report.ratio("unseal throughput", mb / unsealed.duration_seconds, cp_rate, "MB/s",
                     baseline_name="cp -r + sync", goal=">= 0.5 of cp")
        report.figure("idle crossing -> sealing started", (started.at - crossed) * 1000, "ms",
                      goal="< 2000 ms")
        report.figure("idle crossing -> last file sealed", finished.at - crossed, "s")
        report.figure("return -> last file unsealed", unsealed.at - returned, "s")
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
