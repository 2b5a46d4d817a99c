"""OpenSSH sshd authentication results from syslog files and `journalctl -o json`.

Each line is recognised on its own, so one file may mix shapes:
- RFC 3339 syslog (rsyslog's Debian 12 default):
  `2026-11-25T20:20:49.626165+00:00 host sshd[17050]: ...`
- classic RFC 3164 syslog: `Nov 25 20:07:15 host sshd[123]: ...`. The line has no year and no
  zone: the year is `year` if given, otherwise the one that does not put the line in the future
  relative to `now`; the time is read as UTC.
- journald JSON (`journalctl -o json`): MESSAGE, __REALTIME_TIMESTAMP (microseconds since the
  epoch), SYSLOG_IDENTIFIER, _HOSTNAME, __CURSOR.
The program may be `sshd`, or `sshd-session` (OpenSSH >= 9.8) / `sshd-auth`. Lines that are not
authentication results (PAM, disconnects, other programs) are skipped; lines that are not
syslog or JSON at all are rejected.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from server.ingest import fastjson
from server.ingest.reading import Input, iter_lines
from server.ingest.record import Rejection, SignIn

SOURCE = "ssh"
_PROGRAM = r"(?P<program>[\w./-]+?)(?:\[(?P<pid>\d+)\])?:"
_RFC3339 = re.compile(r"^(?P<ts>\d{4}-\d\d-\d\dT\S+)\s+(?P<host>\S+)\s+"
                      + _PROGRAM + r"\s?(?P<msg>.*)$")
_RFC3164 = re.compile(r"^(?P<ts>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d)\s+(?P<host>\S+)\s+"
                      + _PROGRAM + r"\s?(?P<msg>.*)$")
_SSHD_PROGRAMS = {"sshd", "sshd-session", "sshd-auth"}
_ACCEPTED = re.compile(r"^Accepted (?P<method>\S+) for (?P<user>.*?) from (?P<ip>\S+) port \d+"
                       r"(?: \S+)?(?:: (?P<key>.*))?$")
_FAILED = re.compile(r"^Failed (?P<method>\S+) for (?P<invalid>invalid user )?(?P<user>.*?) "
                     r"from (?P<ip>\S+) port \d+")
_INVALID = re.compile(r"^Invalid user (?P<user>.*?) from (?P<ip>\S+)(?: port \d+)?$")
_REPEATED = re.compile(r"^message repeated (?P<n>\d+) times: \[ ?(?P<msg>.*?)\]$")
_FAILURE_WORDS = {
    "password": "wrong password",
    "publickey": "public key not accepted",
    "keyboard-interactive/pam": "keyboard-interactive authentication failed",
    "keyboard-interactive": "keyboard-interactive authentication failed",
    "none": "no authentication offered",
}


def parse(data: Input, *, year: int | None = None, now: datetime | None = None
          ) -> Iterator[SignIn | Rejection]:
    """Parse sshd log lines (any mix of the shapes above) into sign-ins and rejections."""
    now = now or datetime.now(UTC)
    seen: dict[str, int] = {}  # raw line -> how many identical ones so far
    for number, line in iter_lines(data):
        if not line or line.isspace():
            continue
        try:
            entry = _entry(line, year, now)
        except ValueError as exc:
            yield Rejection(number, str(exc))
            continue
        if entry is None:
            continue
        occurred_at, host, message, event_key = entry
        occurrence = seen[event_key] = seen.get(event_key, 0) + 1
        yield from _signins(message, occurred_at, host, event_key, occurrence)


def _entry(line: str, year: int | None, now: datetime
           ) -> tuple[datetime, str | None, str, str] | None:
    """(time, host, sshd message, raw key) or None for other programs; ValueError if unreadable."""
    match = _RFC3339.match(line)
    if match:
        occurred_at = datetime.fromisoformat(match[1])
        if occurred_at.tzinfo is not UTC:
            occurred_at = occurred_at.astimezone(UTC)
    elif line.lstrip().startswith("{"):
        return _journal_entry(line)
    else:
        match = _RFC3164.match(line)
        if not match:
            raise ValueError("not a syslog line (expected an RFC 3339 or RFC 3164 timestamp)")
        occurred_at = _classic_time(match[1], year, now)
    if match[3] not in _SSHD_PROGRAMS:
        return None
    return occurred_at, match[2], match[5], line


def _classic_time(stamp: str, year: int | None, now: datetime) -> datetime:
    """A year-less RFC 3164 stamp in `year`, or in the latest year not in the future."""
    text = " ".join(stamp.split())
    if year is not None:
        return datetime.strptime(f"{year} {text}", "%Y %b %d %H:%M:%S").replace(tzinfo=UTC)
    for candidate in (now.year, now.year - 1, now.year - 2, now.year - 3, now.year - 4):
        try:
            parsed = datetime.strptime(f"{candidate} {text}", "%Y %b %d %H:%M:%S")
        except ValueError:
            continue  # 29 February in a non-leap year: try an earlier year
        parsed = parsed.replace(tzinfo=UTC)
        # A day of slack: the host's clock/zone may run ahead of ours.
        if parsed <= now + timedelta(days=1):
            return parsed
    raise ValueError(f"no plausible year for syslog time {stamp!r}")


def _journal_entry(line: str) -> tuple[datetime, str | None, str, str] | None:
    try:
        record = fastjson.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"invalid journal JSON: {exc.msg} at column {exc.colno}") from None
    if not isinstance(record, dict):
        raise ValueError("journal line is not a JSON object")
    if record.get("SYSLOG_IDENTIFIER") not in _SSHD_PROGRAMS:
        return None
    message = record.get("MESSAGE")
    if isinstance(message, list):  # journald exports non-UTF-8 messages as byte arrays
        message = bytes(message).decode("utf-8", errors="replace")
    try:
        micros = int(record["__REALTIME_TIMESTAMP"])
    except (KeyError, TypeError, ValueError):
        raise ValueError("journal entry without a usable __REALTIME_TIMESTAMP") from None
    occurred_at = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=micros)
    key = record.get("__CURSOR") or line
    return occurred_at, record.get("_HOSTNAME"), str(message or ""), key


def _signins(message: str, occurred_at: datetime, host: str | None, event_key: str,
             occurrence: int) -> list[SignIn]:
    """The sign-ins in one message; rsyslog's "message repeated N times" gives N of them.

    `occurrence` counts identical raw lines so far, so two identical lines (same second, same
    pid) stay two events while a re-ingest of the same file yields the same ids.
    """
    repeat = 1
    if message.startswith("message repeated "):
        repeated = _REPEATED.match(message)
        if repeated:
            repeat, message = int(repeated["n"]), repeated["msg"]
    fields = _classify(message)
    if fields is None:
        return []
    identity, ip, outcome, reason, client = fields
    application = f"ssh to {host}" if host else "ssh"
    key = f"{SOURCE}\x1f{event_key}\x1f{occurrence}\x1f"
    return [SignIn(identity, occurred_at, ip, SOURCE, application, client, outcome, reason,
                   _event_id(key, copy)) for copy in range(repeat)]


def _event_id(key: str, copy: int) -> str:
    """stable_id(SOURCE, event_key, occurrence, copy), hashed in one call (hot path)."""
    return hashlib.sha256(f"{key}{copy}".encode("utf-8", "surrogateescape")).hexdigest()[:32]


def _classify(message: str) -> tuple[str, str, str, str | None, str | None] | None:
    """(identity, ip, outcome, failure reason, client) of an auth-result message; None when it
    is not one."""
    if message.startswith("Accepted "):
        if m := _ACCEPTED.match(message):
            client = f"{m['method']} {m['key']}" if m["key"] else m["method"]
            return m["user"], m["ip"], "success", None, client
    elif message.startswith("Failed "):
        if m := _FAILED.match(message):
            if m["invalid"]:
                reason = f"unknown user ({m['method']} attempt)"
            else:
                reason = _FAILURE_WORDS.get(m["method"], f"{m['method']} authentication failed")
            return m["user"], m["ip"], "failure", reason, m["method"]
    elif m := _INVALID.match(message):
        return m["user"], m["ip"], "failure", "unknown user", None
    return None
