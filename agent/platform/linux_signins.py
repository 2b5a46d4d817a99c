"""Linux: the thin readers that find this laptop's sign-in logs and feed the parsers.

wtmp and btmp are read incrementally from a byte offset (restarting from the top, filtered by
time, when the file was rotated); the journal is read after a cursor. The checkpoint is a
plain dict the caller persists between reads.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

from agent.platform import journal, utmp
from agent.platform.base import Capability, Runner, first_line, run_command
from agent.platform.signins import LaptopSignin, SigninBatch

MAX_READ = 4 * 1024 * 1024  # about 10,000 records per read; the rest comes next time
JOURNAL_LINES = "5000"


class LinuxSigninReader:
    """Reads wtmp, btmp and the journal; paths and the subprocess runner are injectable."""

    def __init__(self, *, runner: Runner = run_command, wtmp: Path = Path("/var/log/wtmp"),
                 btmp: Path = Path("/var/log/btmp"), use_journal: bool = True) -> None:
        self.runner, self.wtmp, self.btmp, self.use_journal = runner, wtmp, btmp, use_journal

    def read(self, checkpoint: dict, *, now: float, backfill: float) -> SigninBatch:
        """Everything new since `checkpoint` (or the last `backfill` seconds on first read)."""
        since = float(checkpoint.get("since", now - backfill))
        state = dict(checkpoint)
        state["since"] = since
        records: list[LaptopSignin] = []
        sources: list[Capability] = []
        for name, path, parse in (("wtmp", self.wtmp, utmp.signins_from_wtmp),
                                  ("btmp", self.btmp, utmp.signins_from_btmp)):
            found, state[name], cap = read_utmp(path, dict(checkpoint.get(name) or {}),
                                                since, parse, name)
            records += found
            sources.append(cap)
        if self.use_journal:
            found, cursor, cap = self._journal(checkpoint.get("journal_cursor"), since)
            records += found
            state["journal_cursor"] = cursor
            sources.append(cap)
        return SigninBatch(sorted(records, key=lambda r: r.time), state, sources)

    def _journal(self, cursor: str | None, since: float):
        argv = ["journalctl", "-o", "json", "--no-pager", "-q", "-n", JOURNAL_LINES]
        argv += [f"--after-cursor={cursor}"] if cursor else [f"--since=@{int(since)}"]
        argv += [f"SYSLOG_IDENTIFIER={name}" for name in journal.IDENTIFIERS]
        try:
            result = self.runner(argv)
        except (FileNotFoundError, PermissionError) as exc:
            return [], cursor, Capability("signins_journal", False, "journalctl", False,
                                          f"journalctl is not available ({exc})")
        if result.returncode != 0:
            return [], cursor, Capability("signins_journal", False, "journalctl", False,
                                          first_line(result.stderr) or "journalctl failed")
        batch = journal.parse_lines(result.stdout.splitlines())
        hint = result.stderr.decode("utf-8", "replace")
        degraded = "not seeing messages from other users" in hint
        reason = ("this account cannot read the system journal (add it to the "
                  "systemd-journal group)" if degraded else "")
        cap = Capability("signins_journal", True, "journalctl", degraded, reason)
        return batch.signins, batch.cursor or cursor, cap


def read_utmp(path: Path, state: dict, since: float,
              parse: Callable[[bytes], Iterator[LaptopSignin]], name: str):
    """Read new whole records of one utmp-format file; returns (records, state, capability)."""
    try:
        info = path.stat()
        with path.open("rb") as handle:
            rotated = state.get("inode") != info.st_ino or info.st_size < state.get("offset", 0)
            offset = 0 if rotated else int(state.get("offset", 0))
            handle.seek(offset)
            data = handle.read(MAX_READ)
    except FileNotFoundError:
        return [], state, Capability(f"signins_{name}", False, str(path), False,
                                     f"{path} does not exist")
    except PermissionError:
        return [], state, Capability(f"signins_{name}", False, str(path), False,
                                     f"{path} is not readable by this account")
    whole = len(data) - len(data) % utmp.RECORD_SIZE
    found = list(parse(data[:whole]))
    if offset == 0:  # a first or post-rotation read: only what is recent enough
        found = [r for r in found if r.time.timestamp() >= since]
    new_state = {"inode": info.st_ino, "offset": offset + whole}
    return found, new_state, Capability(f"signins_{name}", True, str(path))
