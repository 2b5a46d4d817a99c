"""Parsers of this laptop's sign-in logs, on data in the real formats."""

from __future__ import annotations

import json
import re
import shutil
from datetime import UTC, datetime
from pathlib import Path

from agent.platform import journal, maclog, utmp, winevents
from agent.platform.base import CommandResult
from agent.platform.linux_signins import LinuxSigninReader

T0 = 1_714_650_000


def rec(kind, user, line="pts/0", host="", seconds=T0, address=None, pid=100):
    return utmp.UtmpRecord(kind, pid, line, line[-4:], user, host, 0, seconds, 250_000,
                           address)


def test_utmp_records_round_trip_in_the_glibc_layout():
    records = [rec(utmp.USER_PROCESS, "alice", host="203.0.113.9", address="203.0.113.9"),
               rec(utmp.DEAD_PROCESS, "", seconds=T0 + 60),
               rec(utmp.USER_PROCESS, "bob", line="tty2", host="", address="2001:db8::7")]
    data = b"".join(utmp.pack_record(r) for r in records)
    assert len(data) == 3 * 384
    assert list(utmp.parse_records(data)) == records
    assert list(utmp.parse_records(data + data[:100])) == records  # torn tail ignored


def test_wtmp_gives_logins_and_btmp_gives_failures():
    wtmp = b"".join(utmp.pack_record(r) for r in [
        rec(utmp.USER_PROCESS, "alice", host="198.51.100.4", address="198.51.100.4"),
        rec(utmp.DEAD_PROCESS, ""), rec(2, "reboot", line="~")])  # BOOT_TIME is not a login
    (login,) = utmp.signins_from_wtmp(wtmp)
    assert (login.identity, login.kind, login.outcome) == ("alice", "login", "success")
    assert login.remote_address == "198.51.100.4"
    assert login.time == datetime.fromtimestamp(T0 + 0.25, UTC)
    btmp = utmp.pack_record(rec(utmp.LOGIN_PROCESS, "mallory", line="ssh:notty",
                                host="192.0.2.1"))
    (failure,) = utmp.signins_from_btmp(btmp)
    assert (failure.outcome, failure.remote_address, failure.origin) == ("failure",
                                                                         "192.0.2.1", "btmp")
    local = utmp.pack_record(rec(utmp.USER_PROCESS, "carol", line="tty7", host=":0"))
    assert next(utmp.signins_from_wtmp(local)).remote_address is None


def sample_as_journal(samples_dir: Path) -> list[str]:
    """The real sshd log sample, in the shape `journalctl -o json` prints."""
    out = []
    pattern = re.compile(r"^(\S+) (\S+) (sshd)\[(\d+)\]: (.*)$")
    for n, line in enumerate((samples_dir / "sshd-auth.log").read_text().splitlines()):
        match = pattern.match(line)
        if match:
            when = datetime.fromisoformat(match[1]).timestamp()
            out.append(json.dumps({"__CURSOR": f"s=1;i={n}", "__REALTIME_TIMESTAMP":
                                   str(int(when * 1e6)), "SYSLOG_IDENTIFIER": match[3],
                                   "_PID": match[4], "MESSAGE": match[5]}))
    return out


def test_journal_parser_on_the_real_sshd_sample(samples_dir: Path):
    lines = sample_as_journal(samples_dir)
    batch = journal.parse_lines(lines)
    outcomes = [(r.identity, r.outcome) for r in batch.signins]
    assert ("carol", "success") in outcomes and ("admin", "failure") in outcomes
    assert ("carol", "failure") in outcomes
    raw = (samples_dir / "sshd-auth.log").read_text()
    attempts = re.findall(r"\]: (?:Accepted|Failed) \S+ for ", raw)
    assert len(batch.signins) == len(attempts) == 4  # PAM noise and "Invalid user" skipped
    assert batch.cursor == json.loads(lines[-1])["__CURSOR"]
    assert all(r.method == "sshd" and r.remote_address for r in batch.signins)


def entry(ident, message, t=T0):
    return json.dumps({"__REALTIME_TIMESTAMP": str(t * 1_000_000), "SYSLOG_IDENTIFIER": ident,
                       "MESSAGE": message, "__CURSOR": f"c{t}"})


def test_journal_pam_and_unix_chkpwd_lines():
    lines = [
        entry("gdm-password]", "pam_unix(gdm-password:session): session opened for user "
                               "alice(uid=1000) by (uid=0)"),
        entry("gdm-password]", "pam_unix(gdm-password:auth): authentication failure; logname= "
                               "uid=0 euid=0 tty=/dev/tty1 ruser= rhost=  user=alice"),
        entry("xscreensaver", "pam_unix(xscreensaver:auth): authentication failure; logname= "
                              "uid=1000 euid=1000 tty=:0.0 ruser= rhost=  user=alice"),
        entry("unix_chkpwd", "password check failed for user (alice)"),
        entry("sudo", "pam_unix(sudo:session): session opened for user root(uid=0) by alice"),
        json.dumps({"__REALTIME_TIMESTAMP": str(T0 * 10**6), "SYSLOG_IDENTIFIER": "login",
                    "MESSAGE": list(b"pam_unix(login:auth): authentication failure; logname=x "
                                    b"uid=0 euid=0 tty=tty2 ruser= rhost= user=bob\xff")}),
        "not json at all",
    ]
    kinds = [(r.identity, r.kind, r.outcome, r.method) for r in journal.iter_signins(lines)]
    assert kinds == [("alice", "login", "success", "gdm-password"),
                     ("alice", "login", "failure", "gdm-password"),
                     ("alice", "failed_unlock", "failure", "unix_chkpwd"),
                     ("bob\ufffd", "login", "failure", "login")]


WINDOWS_XML = """<?xml version="1.0" encoding="UTF-8"?>
<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System>
<EventID>4624</EventID><TimeCreated SystemTime='2024-05-02T08:00:00.0000000Z'/>
<EventRecordID>10</EventRecordID></System><EventData>
<Data Name='TargetUserName'>alice</Data><Data Name='TargetDomainName'>CORP</Data>
<Data Name='LogonType'>10</Data><Data Name='IpAddress'>203.0.113.50</Data></EventData></Event>
<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System>
<EventID>4624</EventID><TimeCreated SystemTime='2024-05-02T08:00:01.0000000Z'/>
<EventRecordID>11</EventRecordID></System><EventData>
<Data Name='TargetUserName'>DWM-1</Data><Data Name='LogonType'>2</Data></EventData></Event>
<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System>
<EventID>4624</EventID><TimeCreated SystemTime='2024-05-02T08:00:02.0000000Z'/>
<EventRecordID>12</EventRecordID></System><EventData>
<Data Name='TargetUserName'>alice</Data><Data Name='LogonType'>3</Data></EventData></Event>
<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System>
<EventID>4800</EventID><TimeCreated SystemTime='2024-05-02T12:00:00.0000000Z'/>
<EventRecordID>13</EventRecordID></System><EventData>
<Data Name='TargetUserName'>alice</Data><Data Name='TargetDomainName'>CORP</Data></EventData>
</Event>
<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System>
<EventID>4624</EventID><TimeCreated SystemTime='2024-05-02T13:00:00.0000000Z'/>
<EventRecordID>14</EventRecordID></System><EventData>
<Data Name='TargetUserName'>alice</Data><Data Name='TargetDomainName'>CORP</Data>
<Data Name='LogonType'>7</Data></EventData></Event>
<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System>
<EventID>4801</EventID><TimeCreated SystemTime='2024-05-02T13:00:00.4000000Z'/>
<EventRecordID>15</EventRecordID></System><EventData>
<Data Name='TargetUserName'>alice</Data><Data Name='TargetDomainName'>CORP</Data></EventData>
</Event>"""


def test_windows_security_events():
    parsed = winevents.parse_xml(WINDOWS_XML)
    assert [rid for rid, _ in parsed] == [10, 11, 12, 13, 14, 15]
    records = [r for _, r in parsed if r is not None]
    assert [(r.kind, r.remote_address) for r in records] == [
        ("login", "203.0.113.50"), ("lock", None), ("unlock", None), ("unlock", None)]
    assert records[0].time == datetime(2024, 5, 2, 8, 0, tzinfo=UTC)
    collapsed = winevents.collapse_unlocks(records)
    assert [r.kind for r in collapsed] == ["login", "lock", "unlock"]


def test_macos_unified_log_lines():
    def line(process, message, stamp="2024-05-02 14:00:00.250000+0200"):
        return json.dumps({"timestamp": stamp, "eventMessage": message,
                           "processImagePath": f"/usr/sbin/{process}"})

    lines = [line("loginwindow", "-[SessionAgentNotificationCenter sendDistributedNotification:"
                                 "forUserID:] | sending distributed notification: "
                                 "com.apple.sessionagent.screenIsUnlocked"),
             line("authd", "Failed to authenticate user <bob> (error: 9)."),
             line("sshd", "Accepted publickey for alice from 192.0.2.8 port 50000 ssh2"),
             line("loginwindow", "USER_PROCESS: 501 console"), "Timestamp header"]
    records = maclog.parse_lines(lines, console_user="alice")
    assert [(r.identity, r.kind, r.outcome, r.origin) for r in records] == [
        ("alice", "unlock", "success", "macos-log"), ("bob", "login", "failure", "macos-log"),
        ("alice", "login", "success", "macos-log"), ("alice", "login", "success", "macos-log")]
    assert records[0].time == datetime(2024, 5, 2, 12, 0, 0, 250000, tzinfo=UTC)


def test_idempotency_key_is_stable_and_distinguishes_records():
    a = next(utmp.signins_from_wtmp(utmp.pack_record(rec(utmp.USER_PROCESS, "alice"))))
    b = next(utmp.signins_from_wtmp(utmp.pack_record(rec(utmp.USER_PROCESS, "alice"))))
    c = next(utmp.signins_from_wtmp(utmp.pack_record(rec(utmp.USER_PROCESS, "alice",
                                                         seconds=T0 + 1))))
    assert a.idempotency_key() == b.idempotency_key() != c.idempotency_key()
    data = a.event_data()
    assert data["source"] == "this laptop" and data["time"].endswith("Z")


def test_linux_reader_reads_real_files_incrementally_and_survives_rotation(tmp_path: Path):
    wtmp, btmp = tmp_path / "wtmp", tmp_path / "btmp"
    old = rec(utmp.USER_PROCESS, "old", seconds=T0 - 10 * 86400)
    wtmp.write_bytes(utmp.pack_record(old) + utmp.pack_record(rec(utmp.USER_PROCESS, "alice")))
    reader = LinuxSigninReader(wtmp=wtmp, btmp=btmp, use_journal=False)
    first = reader.read({}, now=T0 + 60, backfill=86400)
    assert [r.identity for r in first.records] == ["alice"]  # older than the backfill: skipped
    assert [c.available for c in first.sources] == [True, False]
    assert "does not exist" in first.sources[1].reason
    with wtmp.open("ab") as handle:
        handle.write(utmp.pack_record(rec(utmp.USER_PROCESS, "bob", seconds=T0 + 100)))
        handle.write(utmp.pack_record(rec(utmp.USER_PROCESS, "half"))[:200])  # being written
    second = reader.read(first.checkpoint, now=T0 + 200, backfill=86400)
    assert [r.identity for r in second.records] == ["bob"]
    assert second.checkpoint["wtmp"]["offset"] == 3 * 384
    wtmp.unlink()  # logrotate: a new, smaller file with a new inode
    wtmp.write_bytes(utmp.pack_record(rec(utmp.USER_PROCESS, "carol", seconds=T0 + 300)))
    third = reader.read(second.checkpoint, now=T0 + 400, backfill=86400)
    assert [r.identity for r in third.records] == ["carol"]


def test_linux_reader_uses_the_journal_cursor(tmp_path: Path):
    calls = []

    def runner(argv):
        calls.append(argv)
        return CommandResult(0, (entry("sshd", "Failed password for root from 192.0.2.1 port "
                                               "22 ssh2") + "\n").encode())

    reader = LinuxSigninReader(runner=runner, wtmp=tmp_path / "w", btmp=tmp_path / "b")
    batch = reader.read({}, now=T0 + 10, backfill=3600)
    assert f"--since=@{T0 + 10 - 3600}" in calls[0]
    assert batch.checkpoint["journal_cursor"] == f"c{T0}"
    reader.read(batch.checkpoint, now=T0 + 20, backfill=3600)
    assert f"--after-cursor=c{T0}" in calls[1]


def test_real_journalctl_is_read_or_explained(tmp_path: Path):
    reader = LinuxSigninReader(wtmp=tmp_path / "w", btmp=tmp_path / "b")
    batch = reader.read({}, now=datetime.now(UTC).timestamp(), backfill=3600)
    journal_cap = batch.sources[-1]
    if shutil.which("journalctl") is None:
        assert not journal_cap.available and "not available" in journal_cap.reason
    else:
        assert journal_cap.name == "signins_journal" and journal_cap.source == "journalctl"
