"""Parser for Linux wtmp/btmp: fixed-size `struct utmp` records (glibc, 64-bit Linux).

Layout (384 bytes, little-endian on x86_64 and aarch64), from glibc's bits/utmp.h:

    short ut_type; pid_t ut_pid; char ut_line[32]; char ut_id[4]; char ut_user[32];
    char ut_host[256]; struct { short e_termination, e_exit; } ut_exit; int32 ut_session;
    struct { int32 tv_sec, tv_usec; } ut_tv; int32 ut_addr_v6[4]; char __unused[20];

wtmp holds successful logins (USER_PROCESS) and logouts; btmp holds failed attempts (any
type). The parser takes bytes; `linux.py` reads the files.
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Iterator
from dataclasses import dataclass

from agent.platform.signins import LaptopSignin, from_epoch

UTMP = struct.Struct("<hxxi32s4s32s256shhiii4i20x")
RECORD_SIZE = UTMP.size  # 384
LOGIN_PROCESS, USER_PROCESS, DEAD_PROCESS = 6, 7, 8


@dataclass(frozen=True)
class UtmpRecord:
    """One decoded `struct utmp`."""

    type: int
    pid: int
    line: str
    id: str
    user: str
    host: str
    session: int
    seconds: int
    microseconds: int
    address: str | None


def _text(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("utf-8", "replace")


def _address(words: tuple[int, ...]) -> str | None:
    raw = struct.pack("<4i", *words)
    if not any(raw):
        return None
    if not any(raw[4:]):  # IPv4 is stored in the first word only
        return str(ipaddress.IPv4Address(raw[:4]))
    return str(ipaddress.IPv6Address(raw))


def parse_records(data: bytes) -> Iterator[UtmpRecord]:
    """Decode every whole record in `data`; a torn trailing record is ignored."""
    whole = len(data) - len(data) % RECORD_SIZE
    for offset in range(0, whole, RECORD_SIZE):
        (kind, pid, line, ident, user, host, _term, _exit, session, sec, usec,
         *addr) = UTMP.unpack_from(data, offset)
        yield UtmpRecord(kind, pid, _text(line), _text(ident), _text(user), _text(host),
                         session, sec, usec, _address(tuple(addr)))


def pack_record(record: UtmpRecord) -> bytes:
    """Encode a record exactly as glibc writes it (used to build real-format test files)."""
    words = (0, 0, 0, 0)
    if record.address:
        ip = ipaddress.ip_address(record.address)
        packed = ip.packed.ljust(16, b"\0")
        words = struct.unpack("<4i", packed)
    return UTMP.pack(record.type, record.pid, record.line.encode(), record.id.encode(),
                     record.user.encode(), record.host.encode(), 0, 0, record.session,
                     record.seconds, record.microseconds, *words)


def _remote(record: UtmpRecord) -> str | None:
    """The remote address of an SSH/telnet session; local displays (`:0`) are not remote."""
    if record.address:
        return record.address
    host = record.host
    if host and not host.startswith(":") and host not in ("localhost",):
        try:
            return str(ipaddress.ip_address(host))
        except ValueError:
            return None
    return None


def signins_from_wtmp(data: bytes) -> Iterator[LaptopSignin]:
    """Successful logins from wtmp (USER_PROCESS records with a user name)."""
    for rec in parse_records(data):
        if rec.type != USER_PROCESS or not rec.user:
            continue
        yield _signin(rec, "success", "wtmp")


def signins_from_btmp(data: bytes) -> Iterator[LaptopSignin]:
    """Failed login attempts from btmp (every record with a user name is a failure)."""
    for rec in parse_records(data):
        if rec.user:
            yield _signin(rec, "failure", "btmp")


def _signin(rec: UtmpRecord, outcome: str, origin: str) -> LaptopSignin:
    remote = _remote(rec)
    where = f"from {rec.host}" if rec.host else "at the laptop"
    verb = "signed in" if outcome == "success" else "failed to sign in"
    return LaptopSignin(
        identity=rec.user,
        time=from_epoch(rec.seconds + rec.microseconds / 1_000_000),
        outcome=outcome,
        kind="login",
        origin=origin,
        detail=f"{rec.user} {verb} on {rec.line or 'a terminal'} {where}",
        remote_address=remote,
        method="remote" if remote else "console",
    )
