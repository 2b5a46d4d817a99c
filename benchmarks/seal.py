"""Seal and unseal ~1 GB of realistic files; `cp -r` + `sync` of the same files is the floor.

Files: many small ones (4 KiB - 1 MiB, like documents and downloads) plus a few large ones
(video, disk images). Sealing runs through the real service: a simulated idle reading at the
threshold (the injected idle source) starts it on the worker thread, exactly as the sensor
does, and the figures are read from its events: how long from crossing the threshold until
sealing started and until the last pending file was sealed. Unsealing is triggered by a
simulated return. Every file is checked bit for bit afterwards (outside the timings).

    python -m benchmarks seal            # 1 GB in a temporary folder, best of 3
    python -m benchmarks.seal --mb 200 --dir /some/disk --rounds 1
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
CPU_SECONDS: list[float] = []  # CPU time of this process (all threads) per seal pass
UNSEAL_CPU_SECONDS: list[float] = []  # the same per unseal pass


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


def cycle(service, work: Path) -> tuple[SealStarted, SealFinished, UnsealFinished,
                                         float, float]:
    """One simulated idle crossing (seal everything) and return (unseal it all)."""
    subprocess.run(["sync"], check=True)
    cpu = time.process_time()
    crossed = time.time()
    service.observe(idle_seconds=THRESHOLD, locked=False)  # the idle source crosses
    service.wait(3600)
    CPU_SECONDS.append(time.process_time() - cpu)
    returned, cpu = time.time(), time.process_time()
    service.observe(idle_seconds=0.5, locked=False)  # input: the employee is back
    service.wait(3600)
    UNSEAL_CPU_SECONDS.append(time.process_time() - cpu)
    events = service.drain_events()
    started = next(e for e in events if isinstance(e, SealStarted))
    finished = next(e for e in events if isinstance(e, SealFinished))
    unsealed = next(e for e in events if isinstance(e, UnsealFinished))
    return started, finished, unsealed, crossed, returned


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print the figures (best of `--rounds`, cp and seal interleaved)."""
    parser = argparse.ArgumentParser(prog="benchmarks.seal")
    parser.add_argument("--mb", type=int, default=1024, help="total size in MiB")
    parser.add_argument("--dir", default=None, help="where to put the files (a real disk)")
    parser.add_argument("--parallel", type=int, default=SealPolicy().parallel_files,
                        help="files sealed at once (the policy default)")
    parser.add_argument("--rounds", type=int, default=3, help="best of this many runs")
    args = parser.parse_args(argv)
    base = Path(tempfile.mkdtemp(prefix="heedful-seal-bench-", dir=args.dir))
    try:
        work, state = base / "Sensitive", base / "state"
        state.mkdir()
        digests = make_files(work, args.mb)
        total = sum(p.stat().st_size for p in digests)
        stack = build(state, folders=[ProtectedFolder("~/Sensitive", work)],
                      policy=SealPolicy(idle_threshold_seconds=THRESHOLD,
                                        parallel_files=args.parallel),
                      device_key=load_device_key(state))
        stack.service.start_up(watch=False)
        stack.service.start()
        cps, runs = [], []
        try:
            for _ in range(args.rounds):
                cps.append(copy_floor(work, base / "copy"))
                shutil.rmtree(base / "copy")
                runs.append(cycle(stack.service, work))
        finally:
            stack.close()
        bad = [p for p, d in digests.items() if not p.exists() or _digest(p) != d]
        assert all(r[1].sealed_files == len(digests) for r in runs) and not bad, \
            f"{len(bad)} files differ"
        report_figures(args, len(digests), total, min(cps), runs)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def report_figures(args: argparse.Namespace, files: int, total: int, cp_seconds: float,
                   runs: list) -> None:
    """Print the best round's figures next to the best cp."""
    mb, cp_rate = total / 1e6, total / 1e6 / cp_seconds
    seal = min(r[1].duration_seconds for r in runs)
    unseal = min(r[2].duration_seconds for r in runs)
    report.header(f"seal on idle: {files} files, {mb:,.0f} MB, {args.parallel} at once, "
                  f"best of {args.rounds}")
    report.ratio("seal throughput", mb / seal, cp_rate, "MB/s", baseline_name="cp -r + sync",
                 goal=">= 0.5 of cp")
    report.ratio("unseal throughput", mb / unseal, cp_rate, "MB/s",
                 baseline_name="cp -r + sync", goal=">= 0.5 of cp")
    report.figure("idle crossing -> sealing started",
                  min((r[0].at - r[3]) * 1000 for r in runs), "ms", goal="< 2000 ms")
    report.figure("idle crossing -> last file sealed", min(r[1].at - r[3] for r in runs), "s")
    report.figure("return -> last file unsealed", min(r[2].at - r[4] for r in runs), "s")
    report.figure("seal CPU time per GB (all threads)", min(CPU_SECONDS) / (total / 1e9), "s",
                  goal="")
    report.figure("unseal CPU time per GB (all threads)",
                  min(UNSEAL_CPU_SECONDS) / (total / 1e9), "s", goal="")


if __name__ == "__main__":
    main()
