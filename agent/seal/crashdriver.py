"""A real sealing process that can be killed at any step, for the crash-safety tests.

`python -m agent.seal.crashdriver run DIR DB KEYHEX` recovers, then seals every plaintext file
in DIR and unseals every sealed one, in groups of GROUP_FILES as a pass does (so a run also
spans the steps between groups and those a group shares: its journal commits and its folder
fsync between the renames and the removals). With HEEDFUL_SEAL_FAULT_STEP=N it SIGKILLs itself
at the N-th file-system step (a write is cut in half first, leaving a torn temporary file); it
prints the number of steps it took when it finishes.

`python -m agent.seal.crashdriver serve` does the same for many trials without paying Python's
start-up each time: it reads one JSON object per line on stdin
(`{"dir", "db", "key", "fault_step", "kill_after", "mode"}`), forks a child per trial (the
child is the sealing process that gets killed), and answers one JSON line per trial:
`{"signal": 9 or null, "exit": code, "steps": n, "seconds": t}` (`steps` and `seconds`, how
long the child worked, only when it finished).
`mode` is "cycle" (recover, then seal/unseal) or "recover" (recovery only).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import time
from pathlib import Path

from agent.seal import names
from agent.seal.db import SealDB
from agent.seal.engine import SealEngine
from agent.seal.fileops import FileOps
from agent.seal.journal import Journal
from agent.seal.policy import SealPolicy
from agent.seal.worker import groups

FAULT_ENV = "HEEDFUL_SEAL_FAULT_STEP"
GROUP_FILES = 4


class KillingOps(FileOps):
    """FileOps that counts every step and SIGKILLs the process at step `fault_step`."""

    def __init__(self, fault_step: int | None) -> None:
        self.fault_step, self.steps = fault_step, 0

    def _tick(self) -> bool:
        self.steps += 1
        return self.steps == self.fault_step

    @staticmethod
    def _die() -> None:
        os.kill(os.getpid(), signal.SIGKILL)

    def write(self, fd: int, data: memoryview) -> int:
        if self._tick():
            os.write(fd, data[: len(data) // 2])  # leave a torn file behind
            self._die()
        return super().write(fd, data)

    def fsync(self, fd: int) -> None:
        if self._tick():
            self._die()
        super().fsync(fd)

    def rename(self, src: Path, dst: Path) -> None:
        if self._tick():
            self._die()
        super().rename(src, dst)

    def unlink(self, path: Path) -> None:
        if self._tick():
            self._die()
        super().unlink(path)

    def fsync_dir(self, path: Path) -> None:
        if self._tick():
            self._die()
        super().fsync_dir(path)

    def barrier(self, label: str) -> None:
        if self._tick():
            self._die()


def run(folder: Path, db_path: Path, key: bytes, fault_step: int | None, mode: str) -> int:
    """Recover, then (mode "cycle") seal the plaintext files and unseal the sealed ones."""
    ops = KillingOps(fault_step)
    db = SealDB(db_path)
    engine = SealEngine(Journal(db), key, ops=ops, settle_seconds=0, busy_probe=lambda p: None)
    engine.recover()
    if mode == "cycle":
        paths = [p for p in sorted(folder.iterdir()) if not names.is_work_name(p.name)]
        plain = [p for p in paths if not names.is_sealed_name(p.name)]
        for group in _groups(plain):
            engine.seal_files([(path, 0.0) for path in group])
        for group in _groups([p for p in paths if names.is_sealed_name(p.name)]):
            engine.unseal_files([(path, None) for path in group])
    db.close()
    return ops.steps


def _groups(paths: list[Path]) -> list[list[Path]]:
    return list(groups(paths, folder=lambda p: p.parent, size=lambda p: p.stat().st_size,
                       max_files=GROUP_FILES, max_bytes=SealPolicy().group_bytes))


def _trial(request: dict) -> dict:
    pid = os.fork()
    if pid == 0:  # the child: the sealing process under test
        code, began = 0, time.perf_counter()
        try:
            steps = run(Path(request["dir"]), Path(request["db"]), bytes.fromhex(request["key"]),
                        request.get("fault_step"), request.get("mode", "cycle"))
            tmp = Path(request["db"] + ".steps.tmp")  # atomic: the parent may kill us here
            tmp.write_text(f"{steps} {time.perf_counter() - began}")
            os.replace(tmp, request["db"] + ".steps")
        except BaseException:  # noqa: BLE001 - report any crash as an exit code
            code = 3
        os._exit(code)
    kill_after = request.get("kill_after")
    if kill_after is not None:
        time.sleep(kill_after)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    steps_file = Path(request["db"] + ".steps")
    count, seconds = steps_file.read_text().split() if steps_file.exists() else ("", "")
    steps_file.unlink(missing_ok=True)
    Path(request["db"] + ".steps.tmp").unlink(missing_ok=True)
    return {"signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
            "exit": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
            "steps": int(count) if count else None,
            "seconds": float(seconds) if seconds else None}


def main(argv: list[str] | None = None) -> int:
    """Entry point: `run DIR DB KEYHEX` or `serve`."""
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["run"] and len(args) == 4:
        step = os.environ.get(FAULT_ENV)
        steps = run(Path(args[1]), Path(args[2]), bytes.fromhex(args[3]),
                    int(step) if step else None, "cycle")
        print(steps)
        return 0
    if args == ["serve"]:
        for line in sys.stdin:
            if line.strip():
                print(json.dumps(_trial(json.loads(line))), flush=True)
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
