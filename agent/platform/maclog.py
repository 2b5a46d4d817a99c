"""Parser for the macOS unified log as `log show --style ndjson` lines.

Each line is one JSON object with `timestamp` ("2024-01-15 10:23:45.123456+0100"),
`eventMessage`, `processImagePath`, `subsystem`, ... Recognised messages (their wording
changes between macOS releases; these are the ones seen on macOS 12-14):

- loginwindow `... com.apple.sessionagent.screenIsUnlocked` -> unlock, success
  (`screenIsLocked` -> lock, parsed but not sent).
- loginwindow, sshd, login `USER_PROCESS: 501 console` -> login, success.
- authd, loginwindow, opendirectoryd `Failed to authenticate user <alice> (error: 9).`
  -> failed_unlock when logged by loginwindow or the screen saver, else login; failure.
- sshd: OpenSSH `Accepted ...` / `Failed ...` -> login, success / failure.

Screen-lock notifications do not name the person; the reader passes the console user.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime

from agent.platform import journal
from agent.platform.signins import LaptopSignin

UNLOCKED = "com.apple.sessionagent.screenIsUnlocked"
LOCKED = "com.apple.sessionagent.screenIsLocked"
USER_PROCESS = re.compile(r"USER_PROCESS: \d+ (?P<line>\S+)")
AUTH_FAILED = re.compile(r"Failed to authenticate user <(?P<user>[^>]+)>")
LOCK_SCREEN_PROCESSES = {"loginwindow", "ScreenSaverEngine", "screensaverengine"}
PREDICATE = ('(process == "loginwindow" AND (eventMessage CONTAINS "screenIs" OR '
             'eventMessage CONTAINS "USER_PROCESS" OR eventMessage CONTAINS "authenticate"))'
             ' OR (process == "authd" AND eventMessage CONTAINS "Failed to authenticate")'
             ' OR (process == "sshd" AND (eventMessage BEGINSWITH "Accepted" OR '
             'eventMessage BEGINSWITH "Failed"))')


def parse_time(stamp: str) -> datetime:
    """`log show` timestamps: local time with a numeric offset."""
    return datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S.%f%z")


def classify(process: str, message: str, when: datetime,
             console_user: str) -> LaptopSignin | None:
    """One unified-log entry to a record, or None."""
    if process == "sshd":
        record = journal.classify("sshd", message, when.timestamp())
        return replace(record, origin="macos-log") if record else None
    if UNLOCKED in message or LOCKED in message:
        unlocked = UNLOCKED in message
        return LaptopSignin(console_user, when, "success", "unlock" if unlocked else "lock",
                            "macos-log", f"{console_user} "
                            f"{'unlocked' if unlocked else 'locked'} the screen",
                            method=process)
    failed = AUTH_FAILED.search(message)
    if failed:
        user = failed["user"]
        kind = "failed_unlock" if process in LOCK_SCREEN_PROCESSES else "login"
        return LaptopSignin(user, when, "failure", kind, "macos-log",
                            f"wrong password for {user} ({process})", method=process)
    opened = USER_PROCESS.search(message)
    if opened:
        return LaptopSignin(console_user, when, "success", "login", "macos-log",
                            f"{console_user} signed in on {opened['line']}", method=process)
    return None


def parse_lines(lines: Iterable[bytes | str], console_user: str) -> list[LaptopSignin]:
    """Parse ndjson lines; lines that are not log entries (the tool's banner) are skipped."""
    out = []
    for line in lines:
        try:
            entry = json.loads(line)
            when = parse_time(entry["timestamp"])
        except (ValueError, KeyError, TypeError):
            continue
        process = str(entry.get("processImagePath", "")).rsplit("/", 1)[-1]
        record = classify(process, str(entry.get("eventMessage", "")), when, console_user)
        if record is not None:
            out.append(record)
    return out
